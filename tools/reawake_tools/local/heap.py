"""The local stack gives the C allocator's free memory back to the system (issue 10: RSS).

The emulator's requests are parsed from JSON bodies of up to a few MB (an import's transactions, a
segment run's pages) in many threads: glibc's malloc serves them from per-thread arenas and keeps
the freed pages, between the items that stay, as part of the process's RSS until it is asked to
return them. ``malloc_trim(0)`` returns every whole free page of every arena (``MADV_DONTNEED``):
nothing stored moves, and the next allocation takes the pages again. ``HeapTrimmer`` (a stack
service) asks every ``TRIM_SECONDS`` of wall time, from one thread; elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

TRIM_SECONDS = 30.0
_libc: Any = None


def give_back() -> bool:
    """Return the allocator's free pages to the system; whether this C library can."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True


class HeapTrimmer:
    """A stack service: ``give_back()`` every ``seconds`` until stopped."""

    name = "heap"

    def __init__(self, seconds: float = TRIM_SECONDS) -> None:
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reawake-heap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds) and give_back():
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
