"""The imports' write loop. Two processes share the work of an import (this one plans rows and
serializes requests, the emulator or DynamoDB applies them), so the next chunk is read and
planned while the last one is written, and a chunk's transactions go out a few at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from reawake.core.store import Store

Chunk = TypeVar("Chunk")
Planned = TypeVar("Planned")
Result = TypeVar("Result")
IN_FLIGHT = 2  # transactions of one chunk sent at once


def pipelined(chunks: Iterable[Chunk], plan: Callable[[Chunk], Planned], write: Callable[[Planned], Result],
              finish: Callable[[Result], None]) -> None:
    """plan(chunk) here, write(planned) on a thread of its own, finish(result) here in chunk order;
    at most one chunk is being written while the next is planned."""
    with ThreadPoolExecutor(1) as writer:
        pending: Future[Result] | None = None
        for chunk in chunks:
            planned = plan(chunk)
            if pending is not None:
                finish(pending.result())
            pending = writer.submit(write, planned)
        if pending is not None:
            finish(pending.result())


def transact(store: Store, groups: Sequence[list[dict[str, Any]]], pool: Executor) -> set[int]:
    """``Store.transact_groups`` over IN_FLIGHT slices of ``groups`` at once; the refused indexes."""
    size = -(-len(groups) // IN_FLIGHT) or 1
    starts = range(0, len(groups), size)
    parts = pool.map(lambda start: (start, store.transact_groups(groups[start : start + size])), starts)
    return {start + i for start, refused in parts for i in refused}
