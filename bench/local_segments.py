"""A first segment run over N seeded leads on `reawake local` (issue 10: 100,000 leads in minutes).

The leads are made in this process by the real code (``Lead`` items as the store writes them) into
an in-process emulator's table and handed to `reawake local` as its saved state (what a restart
restores), as ``bench.local_threads --seeded`` does: importing 100,000 leads through the CLI would
take longer than the run measured. Every lead enters definitions of the shipped
``config/segments.yaml``: ① (watch) and ② (the webinar-invite sequence) all of them; a third ④
(repurchase, 10 % held out), a fifth ③ (dm-then-call), a seventh ⑤ (win-back).

Then `reawake segments run` (the CLI, the segment state machine on the stack) and, printed:
- wall time, and CPU-ms per lead (the CLI's and the stack's CPU: on a shared machine wall time
  follows everyone's load, CPU per lead does not);
- emulator calls per entering lead (DynamoDB, and all services), counted inside the stack process
  by a botocore hook this module installs when it starts the stack (``child``);
- writes to the busiest report-counter item per 1,000 entering leads (one hot item on AWS).

Baseline in the same run: the same leads with every approach switched to ``watch`` (no step mail:
the membership transaction alone), seeded afresh.

    python -m bench.local_segments [N ...]          (default 10000)
    python -m bench.local_segments --no-baseline N
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import report
from bench.local_stack import ROOT, TOKYO, Cpu, cli, sample, watch_only_config

SIZES = [10_000]
NOW = datetime(2026, 11, 24, 5, 0, tzinfo=TOKYO)  # a Tuesday, one hour before the daily run
DAY_MS = 86_400_000
CALLS_ENV = "REAWAKE_BENCH_CALLS"


# --- inside the stack process ------------------------------------------------------------------------


def child(calls_file: str, argv: list[str]) -> int:
    """`reawake local` with every AWS call its process makes counted (by service and operation),
    and every report-counter update by item, written to ``calls_file`` twice a second."""
    import botocore.handlers

    calls: Counter[str] = Counter()
    counter_items: Counter[str] = Counter()
    lock = threading.Lock()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        with lock:
            calls[f"{model.service_model.service_name}.{model.name}"] += 1
            if model.name == "UpdateItem":
                key = params.get("Key") or {}
                pk = str((key.get("pk") or {}).get("S", ""))
                if pk.startswith("STATS#"):
                    counter_items[f"{pk} {(key.get('sk') or {}).get('S', '')}"] += 1

    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", count))

    def dump() -> None:
        while True:
            time.sleep(0.5)
            with lock:
                data = {"calls": dict(calls), "counter_items": dict(counter_items)}
            tmp = calls_file + ".tmp"
            Path(tmp).write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, calls_file)

    threading.Thread(target=dump, daemon=True, name="bench-calls").start()
    from reawake_tools.cli import main

    return main(argv)


def read_calls(path: Path) -> tuple[Counter[str], Counter[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Counter(), Counter()
    return Counter(data["calls"]), Counter(data["counter_items"])


def settled_calls(path: Path) -> tuple[Counter[str], Counter[str]]:
    """The counts once they stop moving (the dump runs twice a second)."""
    last = read_calls(path)
    while True:
        time.sleep(1.2)
        now = read_calls(path)
        if now == last:
            return now
        last = now


def start(folder: Path, calls_file: Path, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`reawake local` through ``child`` (as ``reawake_tools.local.process.start`` starts it)."""
    stack_file = folder / "stack.json"
    env = {**os.environ, "REAWAKE_STACK_FILE": str(stack_file), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "bench.local_segments", "child", str(calls_file),
               "local", "--port", "0", "--site-port", "0", *args]
    with (folder / "local.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    began = time.monotonic()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"reawake local exited with {process.returncode} (log: {folder / 'local.log'})")
        try:
            info: dict[str, Any] = json.loads(stack_file.read_text(encoding="utf-8"))
            if info.get("pid") == process.pid:
                return process, info
        except (OSError, ValueError):
            pass
        if time.monotonic() - began > 1800:
            process.kill()
            raise RuntimeError("reawake local did not start")
        time.sleep(0.1)


# --- seeding -----------------------------------------------------------------------------------------


def seeded_lead(number: int, now_ms: int) -> Any:
    from reawake.core.leads import Lead, new_lead_id

    last: dict[str, int] = {}
    if number % 3 == 0:
        last["purchase"] = now_ms - 120 * DAY_MS  # ④ repurchase
    if number % 5 == 0:
        last["sales_conversation"] = now_ms - 200 * DAY_MS  # ③ dm-then-call
    if number % 7 == 0:
        last["product_use"] = now_ms - 400 * DAY_MS  # ⑤ win-back
    email = f"lead{number:06d}@co{number % 997:03d}.example.jp"
    return Lead(lead_id=new_lead_id(), email=email, name="佐藤 太郎", company=f"株式会社サンプル{number % 997:03d}",
                owner=f"owner{number % 7}@example.co.jp", registered_at=now_ms - 400 * DAY_MS, last=last,
                version=1)


def seed_state(folder: Path, size: int) -> float:
    """``size`` leads (profile and email items) as the saved state `reawake local` restores; seconds."""
    from bench.common import emulated_stack
    from reawake.core.dynamo import serialize
    from reawake.core.settings import get_settings
    from reawake.core.store import EMAIL_SK, email_pk, lead_to_item
    from reawake_tools.local import state

    began = time.perf_counter()
    now_ms = int(NOW.timestamp() * 1000)
    with emulated_stack():
        table = state.moto_table(get_settings().table_name)
        for number in range(size):
            lead = seeded_lead(number, now_ms)
            table.put_item(serialize(lead_to_item(lead)))
            table.put_item(serialize({"pk": email_pk(lead.email), "sk": EMAIL_SK, "lead_id": lead.lead_id}))
        saved = state.Saved(NOW.timestamp(), {"Table": table.items}, {}, time.time())
        state._write(folder / "state" / "stack.pickle", saved)
    return time.perf_counter() - began


def expected_entries(size: int) -> Counter[str]:
    entries: Counter[str] = Counter({"dormant-no-visit": size, "dormant-no-webinar": size})
    entries["dormant-no-purchase"] = len(range(0, size, 3))
    entries["dormant-no-followup"] = len(range(0, size, 5))
    entries["dormant-no-use"] = len(range(0, size, 7))
    return entries


# --- one run -------------------------------------------------------------------------------------------


def one(size: int, watch: bool) -> tuple[str, dict[str, float]]:
    from reawake_tools.local.process import stop

    with tempfile.TemporaryDirectory(prefix="reawake-segments-") as tmp:
        folder = Path(tmp)
        seeded = seed_state(folder, size)
        config = ("--config", str(watch_only_config(folder))) if watch else ()
        calls_file = folder / "calls.json"
        process, _ = start(folder, calls_file, "--no-samples", "--now", NOW.isoformat(), *config)
        env = {**os.environ, "REAWAKE_STACK_FILE": str(folder / "stack.json")}
        env.pop("AWS_ENDPOINT_URL", None)
        try:
            calls_before, items_before = settled_calls(calls_file)
            used = Cpu(process.pid)
            began = time.perf_counter()
            _, out = cli(env, "segments", "run", "--timeout", "14400", timeout=15000)
            wall = time.perf_counter() - began
            cli_cpu, stack_cpu = used.used()
            calls_after, items_after = settled_calls(calls_file)
            threads, rss = sample(process.pid)
        finally:
            stop(process, 300)
    calls = calls_after - calls_before
    items = items_after - items_before
    entering = size  # every seeded lead enters ② (and ①): checked against the run's output below
    missing = [d for d in expected_entries(size) if d not in out]
    if missing:
        raise RuntimeError(f"the run's summary does not name {missing}:\n{out[-3000:]}")
    dynamo = sum(n for name, n in calls.items() if name.startswith("dynamodb."))
    busiest, busiest_n = items.most_common(1)[0] if items else ("none", 0)
    cpu_ms = 1000 * (cli_cpu + stack_cpu) / size
    top = ", ".join(f"{name.split('.', 1)[1]} {n / entering:.2f}" for name, n in calls.most_common(8))
    figures = {"wall_s": wall, "cpu_ms": cpu_ms, "dynamo_per_lead": dynamo / entering,
               "calls_per_lead": sum(calls.values()) / entering, "busiest_per_1000": 1000 * busiest_n / entering}
    text = (f"{wall:.0f} s wall ({size / wall:,.0f} leads/s); CPU {cli_cpu:.0f} s CLI + {stack_cpu:.0f} s stack = "
            f"{cpu_ms:.1f} ms a lead; {figures['dynamo_per_lead']:.2f} DynamoDB calls per entering lead "
            f"({figures['calls_per_lead']:.2f} all services; by operation: {top}); busiest counter item "
            f"({busiest}) {figures['busiest_per_1000']:.1f} writes per 1,000 entering leads; "
            f"{threads} threads, {rss:,.0f} MB RSS after; seeded in {seeded:.0f} s; load {os.getloadavg()[0]:.1f}")
    return text, figures


def run(sizes: list[int] | None = None, baseline: bool = True) -> None:
    rows: list[tuple[str, str]] = []
    for size in sizes or SIZES:
        figures: dict[str, dict[str, float]] = {}
        for label, watch in (("approaches as configured", False), ("baseline: every approach watch", True)):
            if watch and not baseline:
                continue
            text, figures[label] = one(size, watch)
            rows.append((f"{size:,} leads, {label}", text))
            print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
        if baseline:
            mine, base = figures["approaches as configured"], figures["baseline: every approach watch"]
            rows.append((f"{size:,} leads, ratio to the baseline",
                         f"CPU per lead {mine['cpu_ms'] / base['cpu_ms']:.2f}x, DynamoDB calls per entering lead "
                         f"{mine['dynamo_per_lead'] / base['dynamo_per_lead']:.2f}x, wall "
                         f"{mine['wall_s'] / base['wall_s']:.2f}x"))
            print(f"  {rows[-1][0]}: {rows[-1][1]}", flush=True)
    report(f"reawake segments run on reawake local, seeded leads ({datetime.now(TOKYO):%Y-%m-%d %H:%M} JST, "
           f"{os.cpu_count()} cores)", rows)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        sys.exit(child(sys.argv[2], sys.argv[3:]))
    parser = argparse.ArgumentParser(prog="python -m bench.local_segments")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("sizes", nargs="*", type=int)
    args = parser.parse_args()
    run(args.sizes or None, args.baseline)


if __name__ == "__main__":
    main()
