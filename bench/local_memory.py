"""Where the local stack's memory goes (issue 10: `reawake local` <= 2 GB with a real customer list).

The stack runs in this process (``LocalStack``, as `reawake local` builds it); the data goes in as a
person puts it there, through the CLI in another process: `reawake leads import`, `reawake activities
import`, then `reawake segments run`. After each phase (the stream poller caught up, a full garbage
collection) it prints:

- the process's RSS, and the RSS per stored DynamoDB item above the same run's idle empty stack
  (the baseline, measured first);
- a census by owner: the bytes of the Python objects reachable from each part (every object
  counted once, in this order): the tables' items, the stream records moto keeps, the shard
  iterators, moto's registry of every model instance, then each moto backend holding over 1 MB (Step
  Functions executions, SES messages...), then
  everything else the garbage collector tracks. With ``--trace`` also tracemalloc's top allocation
  sites (slower: every allocation is traced from the start);
- the saved state: the bytes written by a forked saver as at stop, the pages it copied from the
  stack (copy-on-write), and a save in this process (its peak traced memory with ``--trace``).

Then, with ``--days N``, N days played on the stack clock (each jump fires the daily segment run and
the step mail due), the same rows after the last one.

    python -m bench.local_memory [LEADS ACTIVITIES] [--days N] [--trace] [--no-segments]   (default 2000 20000)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import report
from bench.local_stack import NOW, cli, sample, write_data

LEADS, ACTIVITIES = 2_000, 20_000
SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, types.FrameType)


def deep_size(roots: Iterable[Any], seen: set[int]) -> tuple[int, int]:
    """(bytes, objects) reachable from ``roots`` and not in ``seen`` (which this fills): classes,
    modules, functions and frames are not followed (they are the program, not its data)."""
    total = count = 0
    pending = list(roots)
    seen.add(id(pending))  # the walk's own list is not the stack's
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        count += 1
        pending.extend(gc.get_referents(obj))
    return total, count


def moto_tables() -> list[Any]:
    from moto.dynamodb.models import dynamodb_backends

    return [table for regions in list(dynamodb_backends.values()) for backend in list(regions.values())
            for table in list(backend.tables.values())]


def item_count() -> int:
    return sum(sum(len(p) if t.range_key_attr else 1 for p in list(t.items.values())) for t in moto_tables())


def stream_record_count() -> int:
    return sum(len(t.stream_shard.items) for t in moto_tables() if t.stream_shard is not None)


def census() -> list[tuple[str, int, int]]:
    """(part, bytes, objects), each object counted in the first part that reaches it."""
    from moto.core.base_backend import BackendDict
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    gc.collect()
    seen: set[int] = set()
    seen.add(id(seen))  # the census's own bookkeeping is not the stack's
    tables = moto_tables()
    parts = [("table items", deep_size([t.items for t in tables], seen)),
             ("stream records", deep_size([t.stream_shard.items for t in tables if t.stream_shard], seen)),
             ("shard iterators", deep_size([b.shard_iterators for regions in dynamodbstreams_backends.values()
                                            for b in regions.values()], seen))]
    from moto.core.model_instances import model_data

    registry = [cls.instances_tracked for models in model_data.values() for cls in models.values()]  # type: ignore[attr-defined]
    parts.append(("moto's registry of model instances", deep_size(registry, seen)))
    backends = [o for o in gc.get_objects() if isinstance(o, BackendDict)]
    for backends_of in sorted(backends, key=lambda b: str(b.service_name)):
        found = deep_size([dict(backends_of)], seen)
        if found[0] > 1e6:  # the parts that hold data, not the empty services
            parts.append((f"moto {backends_of.service_name}", found))
    everything = gc.get_objects()
    seen.update((id(everything), id(parts), id(backends)))
    parts.append(("everything else", deep_size(everything, seen)))
    return [(name, size, count) for name, (size, count) in parts if size]


def registry_counts(top: int = 5) -> str:
    """The classes with the most instances in moto's registry (``BaseModel`` keeps every instance)."""
    from moto.core.model_instances import model_data

    counts = sorted(((len(cls.instances_tracked), name) for models in model_data.values()  # type: ignore[attr-defined]
                     for name, cls in models.items()), reverse=True)[:top]
    return ", ".join(f"{name} {count:,}" for count, name in counts if count)


def wait_for_streams(stack: Any, timeout: float = 600) -> None:
    """Until the stream poller has read everything written (its iterator is at the shard's end)."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    consumer = next(s for s in stack.services if getattr(s, "name", "") == "streams")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        behind = 0
        for mapping in consumer.mappings:
            for regions in dynamodbstreams_backends.values():
                for backend in regions.values():
                    iterator = backend.shard_iterators.get(mapping.iterator)
                    if iterator is not None:
                        shard = iterator.stream_shard
                        behind += shard.starting_sequence_number + len(shard.items) - int(iterator.sequence_number)
        if behind <= 0:
            return
        time.sleep(0.2)


def _rows(label: str, pid: int, baseline_mb: float, trace: bool) -> list[tuple[str, str]]:
    gc.collect()
    _, rss = sample(pid)
    items, records = item_count(), stream_record_count()
    per_item = (rss - baseline_mb) * 1024 * 1024 / max(items, 1)
    rows = [(label, f"{rss:,.0f} MB RSS ({rss - baseline_mb:+,.0f} MB on the baseline); {items:,} items, "
                    f"{records:,} stream records kept; {per_item / 1024:.1f} KB RSS per item")]
    from reawake_tools.local import heap

    if heap.give_back():  # what the stack's HeapTrimmer does every 30 s: the allocator's free pages back
        _, trimmed = sample(pid)
        rows.append(("  after malloc_trim", f"{trimmed:,.0f} MB RSS ({trimmed - rss:+,.0f} MB): the rest is in use"))
    total = 0
    for name, size, count in census():
        total += size
        rows.append((f"  {name}", f"{size / 1e6:,.1f} MB in {count:,} objects"
                                  + (f" ({size / max(items, 1):,.0f} B per item)" if items and size > 1e6 else "")))
    rows.append(("  moto's registry, by class", registry_counts()))
    rows.append(("  census total", f"{total / 1e6:,.1f} MB of Python objects (the rest of RSS: the allocator's "
                                   "free space, code, libraries)"))
    if trace:
        import tracemalloc

        snapshot = tracemalloc.take_snapshot()
        for stat in snapshot.statistics("lineno")[:12]:
            frame = stat.traceback[0]
            where = f"{frame.filename.split('site-packages/')[-1].split('/work/')[-1]}:{frame.lineno}"
            rows.append((f"  traced {where}", f"{stat.size / 1e6:,.1f} MB in {stat.count:,} blocks"))
    return rows


def run(leads: int = LEADS, activities: int = ACTIVITIES, trace: bool = False, segments: bool = True,
        days: int = 0) -> None:
    if trace:
        import tracemalloc

        tracemalloc.start(1)
    from reawake_tools.local import state
    from reawake_tools.local.stack import LocalStack

    pid = os.getpid()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="reawake-memory-") as tmp:
        folder = Path(tmp)
        leads_csv, activities_csv = write_data(folder, leads, activities)
        stack_file = folder / "stack.json"
        os.environ["REAWAKE_STACK_FILE"] = str(stack_file)
        env = {**os.environ}
        env.pop("AWS_ENDPOINT_URL", None)
        stack = LocalStack(load_samples=False, clock_start=NOW, outbox_dir=folder / "outbox",
                           parameters={"LogLevel": "WARNING"}, report=lambda _: None)
        with stack:
            stack_file.write_text(json.dumps({**stack.describe(), "pid": pid}), encoding="utf-8")
            gc.collect()
            _, baseline = sample(pid)
            rows.append(("baseline: idle empty stack", f"{baseline:,.0f} MB RSS"))
            for label, kind, path in (("leads import", "leads", leads_csv),
                                      ("activities import", "activities", activities_csv)):
                seconds, _ = cli(env, kind, "import", str(path))
                wait_for_streams(stack)
                rows += _rows(f"after the {label} ({seconds:.0f} s)", pid, baseline, trace)
            if segments:
                seconds, _ = cli(env, "segments", "run", "--timeout", "3600")
                wait_for_streams(stack)
                rows += _rows(f"after the segment run ({seconds:.0f} s)", pid, baseline, trace)
            if days:
                rows += _play(stack, days, pid, baseline, trace)
            rows += _save_rows(state, stack, folder / "state" / "stack.pickle", trace)
    report(f"Local stack memory: {leads:,} leads, {activities:,} activities ({datetime.now():%Y-%m-%d})", rows)


def _play(stack: Any, days: int, pid: int, baseline: float, trace: bool) -> list[tuple[str, str]]:
    from bench.local_stack import day_played
    from reawake_tools.local.clock import advance_running

    info = stack.describe()
    stack_file = Path(os.environ["REAWAKE_STACK_FILE"])
    began = time.perf_counter()
    with _stack_file_kept(stack, stack_file):
        for _ in range(days):
            day_played(stack_file, advance_running(info, 86400))
    wait_for_streams(stack)
    mails = len(list(Path(info["outbox"]).glob("*.eml")))
    return _rows(f"after {days} days played ({time.perf_counter() - began:.0f} s, {mails:,} mails)", pid, baseline,
                 trace)


@contextlib.contextmanager
def _stack_file_kept(stack: Any, stack_file: Path) -> Iterator[None]:
    """stack.json rewritten every second, as `reawake local` keeps it (``day_played`` reads when the
    schedules last fired from it)."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(1):
            stack_file.write_text(json.dumps({**stack.describe(), "pid": os.getpid()}), encoding="utf-8")

    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _save_rows(state: Any, stack: Any, path: Path, trace: bool) -> list[tuple[str, str]]:
    """The state saved as `reawake local` saves it at stop (a forked child writes it), and again in
    this process (timed; with --trace, the memory that save allocates). For the forked child: the
    pages it copied from this process (``Private_Dirty``: what pickling touches, copy-on-write),
    sampled until it exits."""
    names = stack._table_names
    began = time.perf_counter()
    _, child = state.save_in_background(path, stack.clock.time(), names, {})
    copied = 0
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        copied = max(copied, _private_dirty_kb(child))
        time.sleep(0.05)
    forked = time.perf_counter() - began
    rows = [("state saved by a forked child", f"{path.stat().st_size / 1e6:,.1f} MB in {forked:.1f} s; the child "
                                              f"copied at most {copied / 1024:,.0f} MB of this process's pages")]
    if trace:
        import tracemalloc

        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    state.save(path, stack.clock.time(), names, {})
    extra = ""
    if trace:
        extra = f"; peak {(tracemalloc.get_traced_memory()[1] - before) / 1e6:,.0f} MB traced above the heap"
    rows.append(("state saved in this process", f"{time.perf_counter() - began:.1f} s{extra}"))
    return rows


def _private_dirty_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Private_Dirty:"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counts", nargs="*", type=int)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--no-segments", action="store_true")
    parser.add_argument("--days", type=int, default=0)
    args = parser.parse_args()
    counts = args.counts or [LEADS, ACTIVITIES]
    run(counts[0], counts[1], args.trace, not args.no_segments, args.days)
