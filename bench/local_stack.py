"""A real customer list on the local stack (issue 10): `reawake local` as a person runs it.

Phases, each timed on the wall clock, with the stack's threads and RSS after each:
1. `reawake leads import` of LEADS generated leads (CSV, Japanese headers);
2. `reawake activities import` of ACTIVITIES activities over the last year (page views, webinars,
   purchases, sales conversations, product use): rows/s for both imports;
3. `reawake segments run` (the shipped config/segments.yaml);
4. 14 days played on the stack clock, one day at a time: each jump fires the daily segment run
   (06:00 JST) and whatever step mail is due; a day is done when no execution is running;
5. SIGTERM: seconds until the process has exited, until its state is written, and the restart that
   restores it (leads still there).

    python -m bench.local_stack [LEADS ACTIVITIES [watch]] [--days=N]   (default 20000 300000, 14 days; an hour+)

``watch``: every definition's approach switched to ``watch`` (no enrollment, no step mail): the
segment run alone, as a comparison.

CPU seconds are printed beside wall time (the CLI's and the stack's): on a machine shared with
other work, wall time follows the load; CPU per row does not.

Baseline printed beside the figures: the same machine's bare `reawake local --no-samples` start
and its threads/RSS when idle, measured in the same run.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import report

ROOT = Path(__file__).resolve().parents[1]
TOKYO = ZoneInfo("Asia/Tokyo")
LEADS = 20_000
ACTIVITIES = 300_000
DAYS = 14
NOW = datetime(2026, 11, 24, 5, 0, tzinfo=TOKYO)  # a Tuesday, one hour before the daily run
KINDS = [("page_view", 60), ("webinar_view", 6), ("webinar_application", 4), ("purchase", 6),
         ("sales_conversation", 4), ("sales_followup", 3), ("product_use", 14), ("download", 3)]
PAGES = ["/", "/product/", "/product/feature/", "/price/", "/case/", "/seminar/", "/seminar/2026/", "/blog/"]
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "健", "美穂", "亮", "直子", "翔", "彩", "誠", "由美"]


GUARD_THREADS = 400  # a stack past this many threads is stopped (one execution per enrolled lead)


class Peak:
    """Samples a process's threads and RSS from a thread of this process until stopped."""

    def __init__(self, pid: int, on_guard: threading.Event) -> None:
        self.pid = pid
        self.threads, self.rss = 0, 0.0
        self.guarded = on_guard
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                threads, rss = sample(self.pid)
            except OSError:
                return
            self.threads, self.rss = max(self.threads, threads), max(self.rss, rss)
            if threads > GUARD_THREADS:
                self.guarded.set()
                os.kill(self.pid, signal.SIGKILL)  # our own child stack, by pid
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def write_data(folder: Path, leads: int, activities: int, seed: int = 10) -> tuple[Path, Path]:
    rng = random.Random(seed)
    leads_csv, activities_csv = folder / "leads.csv", folder / "activities.csv"
    emails = [f"lead{i:06d}@co{i % 997:03d}.example.jp" for i in range(leads)]
    with leads_csv.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["メールアドレス", "氏名", "会社名", "担当営業", "登録日", "業種"])
        for i, email in enumerate(emails):
            registered = NOW - timedelta(days=rng.randint(30, 900))
            name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
            out.writerow([email, name, f"株式会社サンプル{i % 997:03d}", f"owner{i % 7}@example.co.jp",
                          f"{registered:%Y/%m/%d}", rng.choice(["製造業", "IT", "小売"])])
    kinds, weights = zip(*KINDS, strict=True)
    with activities_csv.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["メールアドレス", "種別", "日時", "URL"])
        for _ in range(activities):
            kind = rng.choices(kinds, weights)[0]
            when = NOW - timedelta(minutes=rng.randint(60, 365 * 24 * 60))
            url = f"https://www.example.co.jp{rng.choice(PAGES)}" if kind in ("page_view", "download") else ""
            out.writerow([rng.choice(emails), kind, f"{when:%Y/%m/%d %H:%M}", url])
    return leads_csv, activities_csv


def watch_only_config(folder: Path) -> Path:
    """config/ with every segment definition's approach switched to ``watch``."""
    import shutil

    import yaml

    target = folder / "config"
    shutil.copytree(ROOT / "config", target)
    segments = yaml.safe_load((target / "segments.yaml").read_text(encoding="utf-8"))
    for definition in segments["segments"]:
        definition["approach"] = {"type": "watch"}
    (target / "segments.yaml").write_text(yaml.safe_dump(segments, allow_unicode=True), encoding="utf-8")
    return target


def sample(pid: int) -> tuple[int, float]:
    """(threads, RSS MB) of the stack process."""
    threads = len(os.listdir(f"/proc/{pid}/task"))
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return threads, int(line.split()[1]) / 1024
    return threads, 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (what a loaded machine cannot inflate)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


class Cpu:
    """CPU seconds of the CLI commands this process ran and of the stack, over one phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cli, self.stack = children_cpu(), cpu_seconds(pid)

    def used(self) -> tuple[float, float]:
        return children_cpu() - self.cli, cpu_seconds(self.pid) - self.stack

    def text(self, rows: int, unit: str = "row") -> str:
        cli, stack = self.used()
        return f"CPU {cli:.0f} s CLI + {stack:.0f} s stack = {1000 * (cli + stack) / max(rows, 1):.1f} ms/{unit}"


def cli(env: dict[str, str], *args: str, timeout: float = 7200) -> tuple[float, str]:
    from reawake_tools.local.process import reawake_command

    began = time.perf_counter()
    done = subprocess.run([*reawake_command(), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reawake {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - began, done.stdout + done.stderr


def day_played(stack_file: Path, until: datetime, timeout: float = 7200) -> None:
    """Wait until the stack has played a jump to ``until``: the daily segment run has fired for the
    last 06:00 before it (a positive signal: a fixed sleep let the bench jump on before a busy stack
    had fired anything), no execution is running, and no step mail is due by ``until`` (what the
    send slots still have to play)."""
    from reawake.core.store import Store
    from reawake.stepmail.store import StepmailStore
    from reawake_tools.local.connect import NotRunning, read_stack_file, use_local

    deadline = time.monotonic() + timeout
    daily = until.astimezone(TOKYO).replace(hour=6, minute=0, second=0, microsecond=0)
    if daily > until:
        daily -= timedelta(days=1)
    while True:
        try:
            info = read_stack_file(stack_file)
        except NotRunning:  # read while being rewritten: read again (a dead stack ends at the deadline)
            info = {"schedules": [{"name": "SegmentStateMachine.Daily", "last": None}]}
        (schedule,) = [s for s in info["schedules"] if s["name"] == "SegmentStateMachine.Daily"]
        if schedule["last"] and datetime.fromisoformat(schedule["last"]) >= daily:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the daily segment run did not fire for {daily}")
        time.sleep(1)
    use_local()
    stepmail = StepmailStore(Store(os.environ["TABLE_NAME"]))
    while True:
        idle(info, max(1.0, deadline - time.monotonic()))
        if stepmail.earliest_due(int(until.timestamp() * 1000)) is None:
            idle(info, max(1.0, deadline - time.monotonic()))  # the slot that took the last due work
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"step mail still due by {until}")
        time.sleep(2)


def idle(info: dict[str, Any], timeout: float = 3600) -> None:
    """Wait until no execution of the stack's state machines is running."""
    import boto3

    sfn = boto3.client("stepfunctions", endpoint_url=info["endpoint_url"], region_name=info["region"],
                       aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - the emulator
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = 0
        for arn in (info.get("state_machines") or {}).values():
            running += len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING").get("executions", []))
        if running == 0:
            return
        time.sleep(1)
    raise TimeoutError("executions still running")


def outbox_count(folder: Path) -> int:
    return sum(1 for _ in (folder / "outbox").glob("*.eml"))


def sent_twice(outbox: Path) -> tuple[int, int]:
    """(mails in the outbox, mails whose step — X-Reawake-Message: sequence, step, lead, enrollment —
    was already sent): exactly once means 0. Mails without the header (call lists, alerts) are not steps."""
    from email.parser import BytesHeaderParser

    seen: set[str] = set()
    mails = twice = 0
    for path in outbox.glob("*.eml"):
        mails += 1
        with path.open("rb") as mail:
            step = BytesHeaderParser().parse(mail).get("X-Reawake-Message")
        if step is not None:
            twice += step in seen
            seen.add(str(step))
    return mails, twice


class Rows(list[tuple[str, str]]):
    """The report's rows, each also printed as soon as it is known (a long run shows progress)."""

    def append(self, row: tuple[str, str]) -> None:
        print(f"  {row[0]}: {row[1]}", flush=True)
        super().append(row)


def run(leads: int = LEADS, activities: int = ACTIVITIES, watch: bool = False, days: int = DAYS) -> dict[str, float]:
    from reawake_tools.local.clock import advance_running
    from reawake_tools.local.process import start, stop

    rows = Rows()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="reawake-bench-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        leads_csv, activities_csv = write_data(folder, leads, activities)
        rows.append(("data", f"{leads:,} leads, {activities:,} activities over a year "
                             f"(written in {time.perf_counter() - t:.0f} s)"))
        stack_file = folder / "stack.json"
        env = {**os.environ, "REAWAKE_STACK_FILE": str(stack_file)}
        env.pop("AWS_ENDPOINT_URL", None)
        os.environ["REAWAKE_STACK_FILE"] = str(stack_file)

        config = ("--config", str(watch_only_config(folder))) if watch else ()
        if watch:
            rows.append(("approaches", "all switched to watch (no step mail: see the module's docstring)"))
        t = time.perf_counter()
        process, info = start(stack_file, folder / "local.log", "--no-samples", "--now", NOW.isoformat(), *config)
        started = time.perf_counter() - t
        threads, rss = sample(process.pid)
        rows.append(("baseline: start, empty", f"{started:.1f} s; {threads} threads, {rss:.0f} MB RSS"))
        guarded = threading.Event()
        peak = Peak(process.pid, guarded)
        try:
            for label, path, count in (("leads import", leads_csv, leads),
                                       ("activities import", activities_csv, activities)):
                kind = "leads" if "leads" in label else "activities"
                used = Cpu(process.pid)
                seconds, _ = cli(env, kind, "import", str(path))
                threads, rss = sample(process.pid)
                figures[f"{kind}_rows_per_s"] = count / seconds
                rows.append((label, f"{seconds:.0f} s, {count / seconds:,.0f} rows/s; {used.text(count)}; "
                                    f"{threads} threads, {rss:.0f} MB RSS; load {os.getloadavg()[0]:.0f}"))
            used = Cpu(process.pid)
            seconds, out = cli(env, "segments", "run", "--timeout", "7200")
            threads, rss = sample(process.pid)
            figures["segments_s"] = seconds
            entered = out.count("entered")
            rows.append(("segments run", f"{seconds:.0f} s ({leads / seconds:,.1f} leads/s); "
                                          f"{used.text(leads, 'lead')}; {threads} threads, {rss:.0f} MB RSS; "
                                          f"load {os.getloadavg()[0]:.0f} ({entered} definitions reported)"))
            idle(info)
            most_threads, most_rss = threads, rss
            used = Cpu(process.pid)
            t = time.perf_counter()
            for day in range(days):
                played_until = advance_running(info, 86400)
                day_played(stack_file, played_until)
                threads, rss = sample(process.pid)
                most_threads, most_rss = max(most_threads, threads), max(most_rss, rss)
                print(f"    day {day + 1}: {time.perf_counter() - t:.0f} s, {outbox_count(folder):,} mails so far, "
                      f"{threads} threads, {rss:.0f} MB RSS, load {os.getloadavg()[0]:.0f}", flush=True)
            played = time.perf_counter() - t
            figures["play_s"] = played
            mails, twice = sent_twice(folder / "outbox")
            figures["mails_sent_twice"] = twice
            rows.append((f"play {days} days", f"{played:.0f} s ({played / days:.0f} s a day: daily segment run + "
                                              f"step mail); {mails:,} mails, {twice} of them a step sent twice; "
                                              f"{used.text(days, 'day')}; at most "
                                              f"{most_threads} threads, {most_rss:.0f} MB RSS"))
            figures["threads_max"], figures["rss_max_mb"] = most_threads, most_rss
        except (RuntimeError, subprocess.SubprocessError, TimeoutError, OSError):
            if not guarded.is_set():
                raise
            rows.append(("stopped", f"over the guard: > {GUARD_THREADS} threads (one execution per enrolled lead)"))
        finally:
            peak.stop()
            rows.append(("peak during the phases", f"{peak.threads} threads, {peak.rss:,.0f} MB RSS"))
            t = time.perf_counter()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            stopped = time.perf_counter() - t
        log = (folder / "local.log").read_text(encoding="utf-8", errors="replace")
        lines = log.splitlines()
        at = next((i for i, line in enumerate(lines) if line.startswith("Stopped")), None)
        saved = "no shutdown line" if at is None else lines[at]
        if at and lines[at - 1].lstrip().startswith("("):  # the slowest parts of the stop
            saved += " " + lines[at - 1].strip()
        figures["stop_s"] = stopped
        rows.append(("SIGTERM -> exited", f"{stopped:.1f} s (exit {process.returncode}): {saved}"))
        from reawake_tools.local import state

        state.wait_for_saver(folder / "state" / "stack.pickle", say=lambda _: None)
        rows.append(("state written (in the background)", f"{time.perf_counter() - t:.1f} s after the signal, "
                                                          f"{(folder / 'state' / 'stack.pickle').stat().st_size:,} "
                                                          "bytes"))
        t = time.perf_counter()
        process, info = start(stack_file, folder / "local2.log", *config, timeout=600)
        restarted = time.perf_counter() - t
        try:
            kept = json.loads(stack_file.read_text(encoding="utf-8")).get("state", {}).get("restored_items", 0)
        finally:
            stop(process, 120, signal.SIGTERM)
        rows.append(("restart with the state", f"{restarted:.1f} s, {kept:,} items restored"))
    report(f"Local stack: {leads:,} leads, {activities:,} activities, segments, {days} days "
           f"({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores)", rows)
    return figures


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    counts = [int(a) for a in numbers[:2]] or [LEADS, ACTIVITIES]
    days = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--days=")), DAYS)
    run(counts[0], counts[1], watch="watch" in sys.argv[1:], days=days)
