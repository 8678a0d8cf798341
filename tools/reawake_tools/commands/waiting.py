"""Waiting for a Step Functions execution the way a person wants to: with progress, through a busy
emulator's slow answers, and telling "still running" apart from "failed".

A run over a real customer list takes minutes; the emulator (or AWS throttling) may take longer
than botocore's read timeout to answer one poll. A poll that times out is not the run failing:
it is retried, and the wait ends only when the execution ends, the user's --timeout passes, or
the user presses Ctrl-C (the run goes on in every case but the first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reawake_tools.local.stepfunctions import TERMINAL

POLL_S = 1.0
PROGRESS_EVERY_S = 10.0


@dataclass
class Outcome:
    """``described`` (describe_execution) once the execution ended; else why the wait stopped."""

    described: dict[str, Any] | None
    waited_s: float
    interrupted: bool = False  # Ctrl-C

    @property
    def still_running(self) -> bool:
        return self.described is None


def _progress(sfn: Any, arn: str) -> str:
    """``3/8 shards done`` from the execution's Map events (best effort: "" when unknown)."""
    total = done = 0
    token: str | None = None
    for _ in range(20):  # at most 20,000 events
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        for event in page.get("events", []):
            if event.get("type") == "MapStateStarted":
                total = int((event.get("mapStateStartedEventDetails") or {}).get("length") or 0)
            elif event.get("type") == "MapIterationSucceeded":
                done += 1
        token = page.get("nextToken")
        if not token:
            break
    return f"{done}/{total} shards done" if total else ""


def wait(sfn: Any, arn: str, timeout: float, say: Callable[[str], None],
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Poll until the execution ends or ``timeout`` seconds pass; a line through ``say`` every
    ``PROGRESS_EVERY_S`` while it runs, and one when the emulator is slow to answer."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    began = clock()
    next_note = began + PROGRESS_EVERY_S
    slow_noted = False
    try:
        while True:
            try:
                described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
                if described["status"] in TERMINAL:
                    return Outcome(described, clock() - began)
                if clock() >= next_note:
                    try:
                        progress = _progress(sfn, arn)
                    except (ReadTimeoutError, ConnectionClosedError):
                        progress = ""
                    detail = f", {progress}" if progress else ""
                    say(f"  still running / 実行中… {clock() - began:.0f} s{detail}")
                    next_note = clock() + PROGRESS_EVERY_S
            except (ReadTimeoutError, ConnectionClosedError, EndpointConnectionError) as exc:
                if isinstance(exc, EndpointConnectionError) and clock() - began > 60:
                    raise  # the stack is gone, not busy
                if not slow_noted:
                    say("  the emulator is busy and slow to answer; still waiting / エミュレータが混み合っています。"
                        "待機を続けます")
                    slow_noted = True
            if clock() - began >= timeout:
                return Outcome(None, clock() - began)
            sleep(POLL_S)
    except KeyboardInterrupt:
        return Outcome(None, clock() - began, interrupted=True)
