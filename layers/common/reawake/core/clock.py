"""``now`` for every handler and CLI command: the wall clock on AWS; on the local stack, the stack
clock (which can run faster and jump ahead).

The local stack runs the handlers in its own process and installs its clock with
``set_source(clock.now_ms)``; a CLI command pointed at the local stack installs one computed from
stack.json (``reawake_tools.local.connect.use_local``). Domain code never reads this module: it takes
``now_ms`` as an argument.

``skew_ms()`` is stack now − wall now (0 on AWS). Browsers stamp events with their wall clock
(t.js sends ``Date.now()``); the track function adds the skew so that, on a fast-forwarded local
stack, browser events, revisit flags and segment and sequence times all agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_source: Callable[[], int] | None = None


def wall_ms() -> int:
    return int(time.time() * 1000)


def set_source(source: Callable[[], int] | None) -> None:
    """Read now (epoch ms) from ``source`` from now on; None: the wall clock again."""
    global _source
    _source = source


def now_ms() -> int:
    return _source() if _source is not None else wall_ms()


def skew_ms() -> int:
    """How far the clock in use is ahead of the wall clock (0 without a stack clock)."""
    return 0 if _source is None else now_ms() - wall_ms()
