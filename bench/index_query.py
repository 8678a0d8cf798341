"""CPU per index query on the emulator: the local stack's (``reawake_tools.local.index_query``) vs
moto's own Query (``moto_patches.stock()``), same run, same table.

The table holds ``SIZE`` items, 4 % of them active step-mail enrollments in the ``due`` and
``sequence_due`` indexes (as the 20,000-lead / 300,000-activity stack: 28,824 of 745,847) and the
rest events, in no index. Printed per size: CPU-ms of one ``due`` query of a shard (``Limit 1``,
the due probe's), of a shard's whole collect (pages of 1,000, as a send slot reads it), of
``StepmailStore.earliest_due`` (16 shard queries: the scheduler's probe before each slot), and the
ratio stock / ours.

    python -m bench.index_query [SIZE ...]      (default 10000 200000)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import emulated_stack

ENROLLED = 0.04
DUE_MS = 1_795_914_000_000  # 2026-11-24 10:00 JST


def load(size: int) -> None:
    """``size`` items straight into moto's table (through ``Table.put_item``: the write path the
    index keeps itself on; the API would cost minutes and measure nothing here)."""
    from reawake.core.settings import get_settings
    from reawake.stepmail.store import due_shard
    from reawake_tools.local import state

    table = state.moto_table(get_settings().table_name)
    enrolled = int(size * ENROLLED)
    for i in range(size):
        lead = f"lead{i % max(enrolled, 1):06d}"
        if i < enrolled:
            shard = due_shard(lead)
            table.put_item({"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": "ENROLL#webinar"}, "due_shard": {"S": shard},
                            "sequence_shard": {"S": f"webinar#{shard}"}, "due_at": {"N": str(DUE_MS + i % 600_000)},
                            "next_step": {"N": "0"}, "enrolled_at": {"N": "1"}})
        else:
            table.put_item({"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": f"EV#{i:09d}"}, "kind": {"S": "page_view"},
                            "url": {"S": "https://www.example.co.jp/pricing"}})


def cpu_ms(work: Callable[[], Any], repeat: int) -> float:
    work()  # the first query of an index builds its sets (once per process); not the steady cost
    began = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - began) * 1000 / repeat


def measure(size: int) -> None:
    from reawake.core.store import Store
    from reawake.stepmail.store import StepmailStore
    from reawake_tools.local import moto_patches

    with emulated_stack():
        began = time.perf_counter()
        load(size)
        print(f"{size:,} items ({int(size * ENROLLED):,} enrollments) loaded in {time.perf_counter() - began:.1f} s",
              flush=True)
        from reawake.core.settings import get_settings

        stepmail = StepmailStore(Store(get_settings().table_name))
        until = DUE_MS + 3_600_000
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("due query of a shard, Limit 1", lambda: list(stepmail.due("00", until, 1))),
            ("a shard's whole collect", lambda: list(stepmail.due("00", until, page=1000))),
            ("earliest_due (16 queries)", lambda: stepmail.earliest_due(until)),
        ]
        for name, work in cases:
            ours = cpu_ms(work, 20)
            with moto_patches.stock():
                stock = cpu_ms(work, 1 if size > 50_000 else 3)
            print(f"  {name:34s} ours {ours:9.2f} CPU-ms   moto {stock:9.1f} CPU-ms   ratio {stock / ours:7.1f}×",
                  flush=True)


def run(sizes: list[int] | None = None) -> None:
    for size in sizes or [10_000, 200_000]:
        measure(size)


if __name__ == "__main__":
    run([int(a) for a in sys.argv[1:]] or None)
