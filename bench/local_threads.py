"""Threads and memory of `reawake local` after enrolling 1,000 / 10,000 / 50,000 leads (issue 10).

For each size, on a stack of its own: import that many leads with no history (every one matches
definition ② and is enrolled in `webinar-invite` by the segment run), run the segments, then move
the stack clock to the next weekday 10:00 send slot and wait until no execution runs (the first
mails go out). The stack's threads and RSS are sampled every half second throughout; the peak is
reported against the goal (<= 64 threads, <= 2 GB RSS) and against the same stack idle and empty
(the baseline, measured first in the same run).

A guard stops a stack whose threads pass GUARD_THREADS: with one Step Functions execution (one
thread) per enrolled lead, the machine would otherwise go down with it; the size is then reported
as "over the guard".

    python -m bench.local_threads [SIZE ...]      (default 1000 10000 50000)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import report
from bench.local_stack import GUARD_THREADS, NOW, Peak, cli, idle, sample, write_data

SIZES = [1_000, 10_000, 50_000]
GOAL_THREADS, GOAL_RSS_MB = 64, 2048


def one(size: int, folder: Path) -> str:
    from reawake_tools.local.clock import advance_running
    from reawake_tools.local.process import start, stop

    leads_csv, _ = write_data(folder, size, 0)
    stack_file = folder / "stack.json"
    env = {**os.environ, "REAWAKE_STACK_FILE": str(stack_file)}
    env.pop("AWS_ENDPOINT_URL", None)
    process, info = start(stack_file, folder / "local.log", "--no-samples", "--now", NOW.isoformat())
    guarded = threading.Event()
    peak = Peak(process.pid, guarded)
    try:
        began = time.perf_counter()
        cli(env, "leads", "import", str(leads_csv))
        cli(env, "segments", "run", "--timeout", "7200")
        advance_running(info, 5 * 3600)  # 05:00 -> 10:00 JST: the send slot of a weekday
        time.sleep(1)
        idle(info)
        seconds = time.perf_counter() - began
        mails = len(list((folder / "outbox").glob("*.eml")))
    except (RuntimeError, subprocess.SubprocessError, TimeoutError, OSError) as exc:
        if not guarded.is_set():
            raise
        seconds, mails = time.perf_counter() - began, 0
        del exc
    finally:
        peak.stop()
        if process.poll() is None:
            stop(process, 120, signal.SIGTERM)
    if guarded.is_set():
        return f"over the guard: > {GUARD_THREADS} threads (stopped after {seconds:.0f} s)"
    verdict = "met" if peak.threads <= GOAL_THREADS and peak.rss <= GOAL_RSS_MB else "missed"
    return (f"peak {peak.threads} threads, {peak.rss:,.0f} MB RSS ({verdict}); {mails:,} first mails; "
            f"{seconds:.0f} s import + run + slot")


def run(sizes: list[int] | None = None) -> None:
    from reawake_tools.local.process import start, stop

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
        process, _ = start(Path(tmp) / "stack.json", Path(tmp) / "local.log", "--no-samples")
        time.sleep(2)
        threads, rss = sample(process.pid)
        stop(process, 60, signal.SIGTERM)
        rows.append(("baseline: idle, empty", f"{threads} threads, {rss:,.0f} MB RSS"))
    for size in sizes or SIZES:
        with tempfile.TemporaryDirectory(prefix="reawake-threads-") as tmp:
            rows.append((f"{size:,} leads enrolled", one(size, Path(tmp))))
            print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
    report(f"reawake local: threads and RSS by enrolled leads (goal <= {GOAL_THREADS} threads, "
           f"<= {GOAL_RSS_MB // 1024} GB)", rows)


if __name__ == "__main__":
    run([int(a) for a in sys.argv[1:]] or None)
