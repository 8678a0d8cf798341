"""5,000 enrolled leads on a local stack of their own: while their first mails go out, the stack's
thread count stays under a fixed bound (no thread, execution or timer per lead: the enrollments
are items with a due time, and one send-slot execution works them in batches).

The leads and their enrollments are written the way the segment run and `enroll` write them
(the same item builders), in batches, so that loading stays quick; the test then jumps the stack
clock to Monday 10:00, the first send slot in the window, and samples the process's threads until
the first few hundred mails are in the outbox (all 5,000 would take minutes on the emulator).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from reawake.core.dynamo import serialize
from reawake.core.leads import Lead, new_lead_id
from reawake.core.store import lead_to_item
from reawake.stepmail.enrollment import Enrollment
from reawake.stepmail.store import enrollment_item
from reawake_tools.local.clock import advance_running, now_of
from tests.stack.harness import RunningStack, start, stop

pytestmark = pytest.mark.stack

LEADS = 5000
THREAD_BOUND = 64  # the goal for `reawake local` whatever the number of enrollments
MAILS_TO_WATCH = 50
MONDAY_9 = "2026-11-30T09:00:00+09:00"
MONDAY_10_MS = 1_796_000_400_000  # 2026-11-30 10:00 JST: the first send slot in the window


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def load(stack: RunningStack, now_ms: int) -> None:
    """The leads, and their enrollments with the first mail due at the 10:00 slot."""
    client, table = stack.client("dynamodb"), stack.info["table_name"]
    items: list[dict[str, Any]] = []
    for number in range(LEADS):
        email = f"scale{number}@example.co.jp"
        lead = Lead(lead_id=new_lead_id(), email=email, name="山田 太郎", registered_at=now_ms - 400 * 86_400_000,
                    version=1)
        enrollment = Enrollment(lead.lead_id, "webinar-invite", now_ms, None, due_at=MONDAY_10_MS)
        items += [lead_to_item(lead), enrollment_item(enrollment)]
    for start_at in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": serialize(i)}} for i in items[start_at:start_at + 25]]
        client.batch_write_item(RequestItems={table: requests})


def test_threads_stay_bounded_while_5000_enrolled_leads_get_their_first_mails(tmp_path: Path) -> None:
    stack = start(tmp_path, "--no-samples", "--now", MONDAY_9)
    try:
        pid = stack.process.pid
        now_ms = int(now_of(stack.info).timestamp() * 1000)
        began = time.monotonic()
        load(stack, now_ms)
        outbox = Path(stack.info["outbox"])
        idle = threads(pid)
        loaded = time.monotonic()
        advance_running(stack.info, MONDAY_10_MS / 1000 + 1 - now_of(stack.info).timestamp())
        peak, sent = idle, 0
        deadline = time.monotonic() + 240
        while sent < MAILS_TO_WATCH and time.monotonic() < deadline:
            peak = max(peak, threads(pid))
            sent = len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0
            time.sleep(0.2)
    finally:
        stop(stack)
    print(f"\n{LEADS} enrolled: {idle} threads idle, peak {peak} while {sent} first mails went out "
          f"(loading {loaded - began:.0f} s, sending {time.monotonic() - loaded:.0f} s)")
    assert sent >= MAILS_TO_WATCH, f"only {sent} mails went out"
    assert idle > 1 and peak < THREAD_BOUND
