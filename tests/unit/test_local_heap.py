"""The local stack hands the allocator's free pages back (reawake_tools.local.heap): memory freed
between objects that stay leaves the process's RSS, where glibc would keep it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reawake_tools.local import heap


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc")


def test_freed_memory_between_kept_objects_leaves_rss() -> None:
    if not heap.give_back():
        pytest.skip("not glibc")
    before = rss_mb()
    chunks = [bytes(1000) + bytes([n % 256]) for n in range(200_000)]  # ~200 MB in malloc's chunks
    kept = chunks[::50]  # one in 50 stays: no page is free at the heap's end to shrink it by
    del chunks
    held = rss_mb()
    assert held - before > 120, "positive control: glibc keeps the freed chunks' pages"
    assert heap.give_back()
    assert held - rss_mb() > 100, "the free pages between the kept chunks are given back"
    assert all(len(chunk) == 1001 for chunk in kept), "what stays is untouched"


def test_the_stack_service_gives_back_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = threading.Semaphore(0)

    def counted() -> bool:
        calls.release()
        return True

    monkeypatch.setattr(heap, "give_back", counted)
    trimmer = heap.HeapTrimmer(seconds=0.001)
    trimmer.start()
    assert all(calls.acquire(timeout=10) for _ in range(3)), "asked again and again"
    trimmer.stop()
    assert trimmer._thread is not None and not trimmer._thread.is_alive()
