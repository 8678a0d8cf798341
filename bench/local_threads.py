"""Threads and memory of `reawake local` after enrolling 1,000 / 10,000 / 50,000 leads (issue 10),
while their first mails go out.

Two ways to get the leads enrolled, printed beside each figure:
- ``import`` (what a person does): `reawake leads import` of that many leads with no history
  (every one matches definition ② and is enrolled in `webinar-invite` by the segment run), then
  `reawake segments run`. At this machine's import rate (~15 leads/s) that is over an hour for
  10,000, so it is the default for 1,000 only;
- ``seeded`` (10,000 and up by default): the leads and their enrollments are made in this process
  by the real code (``Lead`` items as the store writes them, ``reawake.stepmail.enrollment.enroll``
  deciding each first due time) into an in-process emulator, and handed to `reawake local` as its
  saved state (``.local/state/stack.pickle``, what a restart restores). It leaves out the threads
  of an import and a segment run, and measures the stack holding that many leads and
  enrollments and sending to them.

Then the stack clock moves to the next weekday 10:00 send slot and the first mails go out: the
stack's threads and RSS are sampled every half second from its start until every execution has
ended or ``WINDOW_S`` seconds of sending have passed (50,000 first mails take longer than that
here; the row says how many went out in the window and at what rate). The peak is reported
against the goal (<= 64 threads, <= 2 GB RSS) and against the same stack idle and empty (the
baseline, measured first in the same run).

A guard stops a stack whose threads pass GUARD_THREADS (one thread per enrolled lead would take
the machine down with it); the size is then reported as "over the guard".

    python -m bench.local_threads [--seeded | --import] [--window SECONDS] [SIZE ...]
        (default 1000 10000 50000; import for 1,000, seeded above)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import report
from bench.local_stack import GUARD_THREADS, NOW, TOKYO, Peak, cli, sample, write_data

SIZES = [1_000, 10_000, 50_000]
SEED_ABOVE = 1_000  # sizes above this are seeded unless --import
GOAL_THREADS, GOAL_RSS_MB = 64, 2048
WINDOW_S = 900.0
SEEDED_NOW = datetime(2026, 11, 24, 6, 1, tzinfo=TOKYO)  # a Tuesday, just after the daily segment run
SEND_SLOT = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)  # the first send slot of that day


class BackendEnrollments:
    """What ``enroll`` writes, put straight into the emulator's table (no API round trip): the
    enrollment item exactly as ``StepmailStore`` builds it."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def create_enrollment(self, enrollment: Any) -> bool:
        from reawake.core.dynamo import serialize
        from reawake.stepmail.store import enrollment_item

        self.table.put_item(serialize(enrollment_item(enrollment)))
        return True

    def get_enrollment(self, lead_id: str, sequence: str) -> Any:
        return None

    def mark_deferred(self, *args: Any) -> bool:
        return False


def seed_state(stack_file: Path, size: int, now: datetime) -> float:
    """``size`` leads enrolled in webinar-invite at ``now``, written as the saved state that
    `reawake local` restores at start (beside ``stack_file``); seconds taken."""
    from bench.stepmail import running_engine
    from reawake.core.dynamo import serialize
    from reawake.core.leads import Lead, new_lead_id
    from reawake.core.settings import get_settings
    from reawake.core.store import EMAIL_SK, email_pk, lead_to_item
    from reawake.stepmail.enrollment import ENROLLED, enroll
    from reawake.stepmail.entry import scoring, sequence_config
    from reawake_tools.local import state

    began = time.perf_counter()
    with running_engine() as engine:
        now_ms = int(now.timestamp() * 1000)
        engine["now"]["ms"] = now_ms
        table = state.moto_table(get_settings().table_name)
        config = sequence_config()
        sequences, settings = config.sequences(), config.settings()
        enrollments = BackendEnrollments(table)
        for number in range(size):
            email = f"lead{number:06d}@co{number % 997:03d}.example.jp"
            lead = Lead(lead_id=new_lead_id(), email=email, name="佐藤 太郎",
                        company=f"株式会社サンプル{number % 997:03d}", owner=f"owner{number % 7}@example.co.jp",
                        registered_at=now_ms - 400 * 86_400_000, version=1)
            table.put_item(serialize(lead_to_item(lead)))
            table.put_item(serialize({"pk": email_pk(email), "sk": EMAIL_SK, "lead_id": lead.lead_id}))
            outcome = enroll(enrollments, sequences, lead, "webinar-invite", None, now_ms, now_ms,
                             settings, scoring())
            if outcome.status != ENROLLED:
                raise RuntimeError(f"lead {number} not enrolled: {outcome}")
        saved = state.Saved(now.timestamp(), {"Table": table.items}, {}, time.time())
        state._write(stack_file.parent / "state" / "stack.pickle", saved)
    return time.perf_counter() - began


def mails_in(folder: Path) -> int:
    """Mails the stack's outbox holds (one .eml per mail SES accepted)."""
    try:
        return sum(1 for entry in os.scandir(folder / "outbox") if entry.name.endswith(".eml"))
    except FileNotFoundError:
        return 0


def one(size: int, folder: Path, seeded: bool, window: float) -> str:
    from reawake_tools.local.clock import advance_running
    from reawake_tools.local.process import start, stop

    stack_file = folder / "stack.json"
    env = {**os.environ, "REAWAKE_STACK_FILE": str(stack_file)}
    env.pop("AWS_ENDPOINT_URL", None)
    if seeded:
        prepared = f"seeded in {seed_state(stack_file, size, SEEDED_NOW):.0f} s"
        now = SEEDED_NOW
    else:
        leads_csv, _ = write_data(folder, size, 0)
        now = NOW
    began = time.perf_counter()
    process, info = start(stack_file, folder / "local.log", "--no-samples", "--now", now.isoformat(), timeout=1800)
    guarded = threading.Event()
    peak = Peak(process.pid, guarded)
    sent, sending = 0, 0.0
    try:
        if not seeded:
            cli(env, "leads", "import", str(leads_csv))
            cli(env, "segments", "run", "--timeout", "7200")
            prepared = f"imported + segment run in {time.perf_counter() - began:.0f} s"
        advance_running(info, (SEND_SLOT - now).total_seconds() if seeded else 5 * 3600)  # to 10:00 JST
        sending_began = time.perf_counter()
        while (sent := mails_in(folder)) < size and time.perf_counter() - sending_began < window:
            if guarded.is_set():
                raise RuntimeError("over the guard")
            time.sleep(2)
        sending = time.perf_counter() - sending_began
        finished = sent >= size
    except (RuntimeError, subprocess.SubprocessError, TimeoutError, OSError):
        if not guarded.is_set():
            raise
        finished = False
    finally:
        peak.stop()
        if process.poll() is None:
            stop(process, 300, signal.SIGTERM)
    if guarded.is_set():
        return f"over the guard: > {GUARD_THREADS} threads"
    verdict = "met" if peak.threads <= GOAL_THREADS and peak.rss <= GOAL_RSS_MB else "missed"
    progress = "all first mails sent" if finished else f"window of {window:.0f} s ended"
    return (f"peak {peak.threads} threads, {peak.rss:,.0f} MB RSS ({verdict}); {sent:,} first mails in "
            f"{sending:.0f} s of sending ({sent / max(sending, 1e-9):.1f}/s, {progress}); {prepared}")


def run(sizes: list[int] | None = None, seeded: bool | None = None, window: float = WINDOW_S) -> None:
    from reawake_tools.local.process import start, stop

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
        process, _ = start(Path(tmp) / "stack.json", Path(tmp) / "local.log", "--no-samples")
        time.sleep(2)
        threads, rss = sample(process.pid)
        stop(process, 60, signal.SIGTERM)
        rows.append(("baseline: idle, empty", f"{threads} threads, {rss:,.0f} MB RSS"))
        print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
    for size in sizes or SIZES:
        how = seeded if seeded is not None else size > SEED_ABOVE
        with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
            rows.append((f"{size:,} leads enrolled ({'seeded' if how else 'import'})",
                         one(size, Path(tmp), how, window)))
            print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
    report(f"reawake local: threads and RSS by enrolled leads (goal <= {GOAL_THREADS} threads, "
           f"<= {GOAL_RSS_MB // 1024} GB)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.local_threads")
    way = parser.add_mutually_exclusive_group()
    way.add_argument("--seeded", dest="seeded", action="store_true", default=None)
    way.add_argument("--import", dest="seeded", action="store_false")
    parser.add_argument("--window", type=float, default=WINDOW_S, help="seconds of sending measured at most")
    parser.add_argument("sizes", nargs="*", type=int)
    args = parser.parse_args()
    run(args.sizes or None, args.seeded, args.window)


if __name__ == "__main__":
    main()
