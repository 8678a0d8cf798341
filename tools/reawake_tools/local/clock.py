"""The local stack's clock: wall time that can run faster and jump ahead, so a 90-day scenario
plays in seconds.

    now = the stack time at start + (wall seconds since start) x speed + every advance so far

Everything in the stack that waits for a moment of domain time follows it: the scheduler (when a
``ScheduleV2`` event fires) and Step Functions ``Wait`` states (moto's wait, patched in
``moto_patches``). The functions do not read it: a scheduled run gets its moment in its input
(``{"now": ...}``), as the domain code takes ``now`` explicitly.

Other processes (the CLI, tests) read the clock from ``stack.json`` (``describe()``: an anchor and
the speed, rewritten after every jump) and move it through the stack's control endpoint, a tiny
HTTP server on loopback:

    GET  {clock.url}/          -> {"now": "2026-11-24T06:00:00+09:00", "speed": 1.0, ...}
    POST {clock.url}/advance   body {"seconds": 86400} -> the same, after the jump

``advance_running(info, seconds)`` and ``now_of(info)`` do this for Python callers.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_SLICE_S = 1.0  # a waiter re-reads the clock at least this often (cheap insurance against missed notifies)


class Clock:
    """Stack time in epoch seconds. Thread-safe; ``changed`` wakes waiters after an advance."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, not {speed!r}")
        self.speed = float(speed)
        self._wall = wall
        self._anchor_wall = wall()
        self._anchor_stack = start.timestamp() if start is not None else self._anchor_wall
        self.changed = threading.Condition()
        self._listeners: list[Callable[[], None]] = []

    # --- reading -------------------------------------------------------------------------------

    def time(self) -> float:
        """Stack time, epoch seconds."""
        return self._anchor_stack + (self._wall() - self._anchor_wall) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def now_ms(self) -> int:
        return int(self.time() * 1000)

    def real_seconds(self, stack_seconds: float) -> float:
        """How long stack_seconds take on the wall clock."""
        return stack_seconds / self.speed

    # --- moving ----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> datetime:
        """Jump ahead (never back: schedules and waits only move forward). Returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.changed:
            self._anchor_stack += seconds
            self.changed.notify_all()
        for listener in list(self._listeners):
            listener()
        return self.now()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call listener (from the advancing thread) after every jump."""
        self._listeners.append(listener)

    def sleep_until(self, target: float, keep_waiting: Callable[[], bool] = lambda: True) -> bool:
        """Block until stack time reaches target (epoch s); wakes early on a jump.
        False when keep_waiting() turned false first."""
        while keep_waiting():
            remaining = target - self.time()
            if remaining <= 0:
                return True
            with self.changed:
                self.changed.wait(min(self.real_seconds(remaining), MAX_SLICE_S))
        return False

    # --- other processes ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Enough for another process to compute now (``now_of``), plus the current reading."""
        return {
            "speed": self.speed,
            "anchor_wall": self._anchor_wall,
            "anchor_stack": self._anchor_stack,
            "now": self.now().isoformat(timespec="milliseconds"),
        }


def time_of(description: dict[str, Any], wall: Callable[[], float] = time.time) -> float:
    """Stack time (epoch s) from a ``Clock.describe()`` read from stack.json."""
    return float(description["anchor_stack"]) + (wall() - float(description["anchor_wall"])) * float(
        description["speed"]
    )


def now_of(info: dict[str, Any]) -> datetime:
    """The running stack's now, from its stack.json (``info``); wall time when it has no clock."""
    clock = info.get("clock")
    return datetime.fromtimestamp(time_of(clock) if clock else time.time(), UTC)


def advance_running(info: dict[str, Any], seconds: float, timeout: float = 10) -> datetime:
    """Move the running stack's clock ahead through its control endpoint; its new now."""
    body = json.dumps({"seconds": seconds}).encode()
    request = urllib.request.Request(f"{info['clock']['url']}/advance", data=body, method="POST",  # noqa: S310
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return datetime.fromisoformat(json.loads(response.read())["now"])


# --- the control endpoint ---------------------------------------------------------------------------


class ClockServer(ThreadingHTTPServer):
    """``GET /`` reads the clock, ``POST /advance {"seconds": N}`` moves it. Loopback only."""

    daemon_threads = True

    def __init__(self, host: str, port: int, clock: Clock) -> None:
        super().__init__((host, port), _ClockHandler)
        self.clock = clock

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _ClockHandler(BaseHTTPRequestHandler):
    server: ClockServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("", "/"):
            return self._answer(404, {"error": "not found"})
        self._answer(200, self.server.clock.describe())

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/advance":
            return self._answer(404, {"error": "not found"})
        try:
            length = int(self.headers.get("content-length") or 0)
            seconds = json.loads(self.rfile.read(length) or b"{}").get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("seconds: a number >= 0")
        except (ValueError, AttributeError) as exc:
            return self._answer(400, {"error": f"expected {{\"seconds\": N}} with N >= 0 ({exc})"})
        self.server.clock.advance(float(seconds))
        self._answer(200, self.server.clock.describe())


# --- the clock moto's Wait states follow -------------------------------------------------------------

_current: Clock | None = None


def install(clock: Clock | None) -> None:
    """Make clock the one Step Functions waits follow (None: the wall clock again)."""
    global _current
    _current = clock


def current() -> Clock | None:
    return _current
