"""Threads and memory of `reawake local` after enrolling 1,000 / 10,000 / 50,000 leads (issue 10),
while their first mails go out.

Two ways to get the leads enrolled, printed beside each figure:
- ``import`` (what a person does, the default): the stack starts at 06:01 JST on a Tuesday (just
  after the daily segment run), then `reawake leads import` of that many leads (CSV, Japanese
  headers), `reawake activities import` of ACTIVITIES_PER_LEAD activities a lead over the last year
  (``bench.local_stack``'s data), then `reawake segments run` (the shipped config/segments.yaml:
  definition ② enrolls most leads in webinar-invite). Each phase prints its wall time, the CPU of
  the CLI and of the stack, rows/s, and the stack's threads and RSS (at the end and at most);
- ``seeded`` (``--seeded``): the leads and their enrollments are made in this process by the real
  code (``Lead`` items as the store writes them, ``reawake.stepmail.enrollment.enroll`` deciding
  each first due time) into an in-process emulator, and handed to `reawake local` as its saved
  state (``.local/state/stack.pickle``, what a restart restores). It leaves out the import and
  the segment run, and measures the stack holding that many leads and enrollments and sending.

Then the stack clock moves to the Tuesday's 10:00 JST send slot and the first mails go out. The
bench waits for the first mail (at most FIRST_MAIL_S), then watches sending until nothing is due by
that slot any more (every first mail sent or deferred: one person gets one mail a day) or
``--window`` seconds have passed since the first mail. It prints the seconds from the jump to the
first mail and the mails per second from the first mail on (the full rate). The stack's threads and
RSS are sampled every half second from its start; the peak is reported against the goal (<= 64
threads, <= 2 GB RSS) and against the same stack idle and empty (the baseline, measured first in
the same run).

A guard stops a stack whose threads pass GUARD_THREADS (one thread per enrolled lead would take
the machine down with it); the size is then reported as "over the guard".

    python -m bench.local_threads [--seeded | --import] [--window SECONDS] [SIZE ...]
        (default: --import 1000 10000 50000; 50,000 imported is about an hour on this machine)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import report
from bench.local_stack import GUARD_THREADS, TOKYO, Cpu, cli, idle, sample, write_data

SIZES = [1_000, 10_000, 50_000]
ACTIVITIES_PER_LEAD = 10  # a year of history (bench.local_stack's 20,000 / 300,000 is 15)
GOAL_THREADS, GOAL_RSS_MB = 64, 2048
WINDOW_S = 600.0  # sending watched at most this long after the first mail
FIRST_MAIL_S = 1800.0  # the first mail waited for at most this long after the jump
START = datetime(2026, 11, 24, 6, 1, tzinfo=TOKYO)  # a Tuesday, just after the daily segment run
SEND_SLOT = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)  # the first send slot of that day


class Sampler:
    """The stack's threads and RSS every half second from a thread of this process: the peak of
    the current phase (``phase()`` reads and restarts it) and of the whole run. Stops the stack
    past GUARD_THREADS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.guarded = threading.Event()
        self.threads, self.rss = sample(pid)
        self.phase_threads, self.phase_rss = self.threads, self.rss
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                threads, rss = sample(self.pid)
            except OSError:
                return
            with self._lock:
                self.threads, self.rss = max(self.threads, threads), max(self.rss, rss)
                self.phase_threads, self.phase_rss = max(self.phase_threads, threads), max(self.phase_rss, rss)
            if threads > GUARD_THREADS:
                self.guarded.set()
                os.kill(self.pid, signal.SIGKILL)  # our own child stack, by pid
                return

    def phase(self) -> str:
        """The stack now and at most since the last call."""
        threads, rss = sample(self.pid)
        with self._lock:
            most = (max(self.phase_threads, threads), max(self.phase_rss, rss))
            self.phase_threads, self.phase_rss = threads, rss
        return f"{threads} threads, {rss:,.0f} MB RSS (at most {most[0]}, {most[1]:,.0f} MB)"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


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


def due_by(until_ms: int) -> int:
    """Active enrollments due at or before ``until_ms`` (read from the stack's due index)."""
    from reawake.core.store import Store
    from reawake.stepmail.store import DUE_SHARDS, PAGE, StepmailStore
    from reawake_tools.local.connect import use_local

    use_local()
    stepmail = StepmailStore(Store(os.environ["TABLE_NAME"]))
    return sum(1 for number in range(DUE_SHARDS) for _ in stepmail.due(f"{number:02d}", until_ms, page=PAGE))


def nothing_due_by(until_ms: int) -> bool:
    from reawake.core.store import Store
    from reawake.stepmail.store import StepmailStore

    return StepmailStore(Store(os.environ["TABLE_NAME"])).earliest_due(until_ms) is None


def imported(size: int, folder: Path, env: dict[str, str], pid: int, sampler: Sampler) -> list[tuple[str, str]]:
    """The leads and their activities imported through the CLI, then the segment run: a row each."""
    rows: list[tuple[str, str]] = []
    t = time.perf_counter()
    activities = size * ACTIVITIES_PER_LEAD
    leads_csv, activities_csv = write_data(folder, size, activities)
    rows.append(("data", f"{size:,} leads, {activities:,} activities over a year (written in "
                         f"{time.perf_counter() - t:.0f} s)"))
    sampler.phase()
    for kind, path, count in (("leads", leads_csv, size), ("activities", activities_csv, activities)):
        used = Cpu(pid)
        seconds, _ = cli(env, kind, "import", str(path))
        rows.append((f"{kind} import", f"{seconds:.0f} s, {count / seconds:,.0f} rows/s; {used.text(count)}; "
                                       f"{sampler.phase()}; load {os.getloadavg()[0]:.1f}"))
    used = Cpu(pid)
    seconds, _ = cli(env, "segments", "run", "--timeout", "7200")
    rows.append(("segments run", f"{seconds:.0f} s, {size / seconds:,.1f} leads/s; {used.text(size, 'lead')}; "
                                 f"{sampler.phase()}; load {os.getloadavg()[0]:.1f}"))
    return rows


def one(size: int, folder: Path, seeded: bool, window: float) -> list[tuple[str, str]]:
    """The rows of one size: how the leads got there, then the first send slot."""
    from reawake_tools.local.clock import advance_running, now_of
    from reawake_tools.local.process import start, stop

    stack_file = folder / "stack.json"
    os.environ["REAWAKE_STACK_FILE"] = str(stack_file)
    env = {**os.environ}
    env.pop("AWS_ENDPOINT_URL", None)
    rows: list[tuple[str, str]] = []
    if seeded:
        rows.append(("seeded", f"{size:,} leads enrolled in {seed_state(stack_file, size, START):.0f} s"))
    t = time.perf_counter()
    process, info = start(stack_file, folder / "local.log", "--no-samples", "--now", START.isoformat(), timeout=1800)
    rows.append(("stack started", f"{time.perf_counter() - t:.1f} s"))
    sampler = Sampler(process.pid)
    try:
        if not seeded:
            rows += imported(size, folder, env, process.pid, sampler)
        idle(info)
        slot_ms = int(SEND_SLOT.timestamp() * 1000)
        due = due_by(slot_ms)
        rows.append(("due by the 10:00 slot", f"{due:,} enrollments"))
        used = Cpu(process.pid)
        jumped = time.perf_counter()
        advance_running(info, max(0.0, (SEND_SLOT - now_of(info)).total_seconds()))
        first, sent, last_growth = None, 0, jumped
        while True:
            if sampler.guarded.is_set():
                raise RuntimeError("over the guard")
            time.sleep(2)
            now = time.perf_counter()
            count = mails_in(folder)
            if count and first is None:
                first = (now, count)
            if count > sent:
                sent, last_growth = count, now
            if first is None and now - jumped > FIRST_MAIL_S:
                break
            if first is not None and (now - first[0] > window or (now - last_growth > 10 and nothing_due_by(slot_ms))):
                break
        if first is None:
            rows.append(("sending", f"no mail {FIRST_MAIL_S:.0f} s after the jump to 10:00; {sampler.phase()}"))
        else:
            span = last_growth - first[0]
            done = "nothing due by 10:00 left" if nothing_due_by(slot_ms) else f"window of {window:.0f} s ended"
            rows.append(("sending", f"first mail {first[0] - jumped:.0f} s after the jump to 10:00; {sent:,} mails, "
                                    f"{(sent - first[1]) / max(span, 1e-9):.1f} mails/s from the first to the last "
                                    f"({span:.0f} s; {done}); {used.text(sent, 'mail')}; {sampler.phase()}; "
                                    f"load {os.getloadavg()[0]:.1f}"))
    except (RuntimeError, subprocess.SubprocessError, TimeoutError, OSError):
        if not sampler.guarded.is_set():
            raise
    finally:
        sampler.stop()
        if process.poll() is None:
            stop(process, 300, signal.SIGTERM)
    if sampler.guarded.is_set():
        rows.append(("stopped", f"over the guard: > {GUARD_THREADS} threads"))
        return rows
    verdict = "met" if sampler.threads <= GOAL_THREADS and sampler.rss <= GOAL_RSS_MB else "missed"
    rows.append(("peak", f"{sampler.threads} threads, {sampler.rss:,.0f} MB RSS: goal {verdict}"))
    return rows


def run(sizes: list[int] | None = None, seeded: bool = False, window: float = WINDOW_S) -> None:
    from reawake_tools.local.process import start, stop

    rows: list[tuple[str, str]] = []

    def add(row: tuple[str, str]) -> None:
        rows.append(row)
        print(f"  {row[0]}: {row[1]}", flush=True)

    with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
        process, _ = start(Path(tmp) / "stack.json", Path(tmp) / "local.log", "--no-samples")
        time.sleep(2)
        threads, rss = sample(process.pid)
        stop(process, 60, signal.SIGTERM)
        add(("baseline: idle, empty", f"{threads} threads, {rss:,.0f} MB RSS"))
    for size in sizes or SIZES:
        with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
            for name, text in one(size, Path(tmp), seeded, window):
                add((f"{size:,} {'seeded' if seeded else 'imported'}: {name}", text))
    report(f"reawake local: threads and RSS by enrolled leads (goal <= {GOAL_THREADS} threads, "
           f"<= {GOAL_RSS_MB // 1024} GB; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.local_threads")
    way = parser.add_mutually_exclusive_group()
    way.add_argument("--seeded", dest="seeded", action="store_true", default=False)
    way.add_argument("--import", dest="seeded", action="store_false")
    parser.add_argument("--window", type=float, default=WINDOW_S,
                        help="seconds of sending watched at most after the first mail")
    parser.add_argument("sizes", nargs="*", type=int)
    args = parser.parse_args()
    run(args.sizes or None, args.seeded, args.window)


if __name__ == "__main__":
    main()
