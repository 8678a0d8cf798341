"""`reawake local` keeps its state across a restart (`--reset` starts clean) and stops promptly on
SIGTERM even in the middle of a segment run, saving what it holds."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from reawake_tools.local.clock import advance_running
from tests.stack.harness import start, stop
from tests.stack.test_local_stack import identify, new_id, page_view, post_events

pytestmark = pytest.mark.stack
EXIT_TIMEOUT_S = 60  # generous: the process must exit by itself (stop() kills it after this, exit -9)


def test_the_state_survives_a_restart_and_reset_starts_clean(tmp_path: Path) -> None:
    stack = start(tmp_path, "--no-samples")
    visitor, email = new_id(), f"keep.{new_id()[:8]}@example.co.jp"
    try:
        assert post_events(stack, [page_view(stack, visitor, "/product/")])[0] == 202
        assert identify(stack, visitor, email=email, name="保存 太郎")[0] == 200
        key, before = stack.signing_key(), stack.now_s()
        advance_running(stack.info, 86400)
    finally:
        assert stop(stack, signal.SIGTERM, EXIT_TIMEOUT_S) == 0
    assert "saved to" in stack.log()

    again = start(tmp_path, "--no-samples")
    try:
        lead = again.store().lead_by_email(email)
        assert lead is not None and lead.name == "保存 太郎"
        assert again.store().get_visitor_lead(visitor) == lead.lead_id
        assert [e.path for e in again.store().visitor_events(visitor)] == ["/product/"]
        assert again.signing_key() == key, "links in mail already sent keep working"
        assert again.now_s() >= before + 86400, "the stack clock resumes where it stopped"
        assert "State / 状態" in again.log() and "items (saved " in again.log()
    finally:
        assert stop(again, signal.SIGTERM, EXIT_TIMEOUT_S) == 0

    clean = start(tmp_path, "--no-samples", "--reset")
    try:
        assert clean.store().lead_by_email(email) is None
        assert "Saved state removed" in clean.log() and "items (saved " not in clean.log()
    finally:
        stop(clean, signal.SIGTERM, EXIT_TIMEOUT_S)


def test_sigterm_in_the_middle_of_a_segment_run_stops_the_stack_and_keeps_its_leads(tmp_path: Path) -> None:
    stack = start(tmp_path)  # the 40 sample leads
    try:
        sfn = stack.client("stepfunctions")
        execution = sfn.start_execution(stateMachineArn=stack.info["state_machines"]["SegmentStateMachine"],
                                        input=json.dumps({"shards": 1}))["executionArn"]
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while time.monotonic() < deadline:  # until the shard's Lambda task has started
            events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
            if sum(e["type"] == "TaskScheduled" for e in events) >= 2:
                break
            time.sleep(0.05)
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING", "busy when signalled"
    finally:
        code = stop(stack, signal.SIGTERM, EXIT_TIMEOUT_S)
    assert code == 0, "it exited by itself, before the timeout"
    log = stack.log()
    assert "Stopped in" in log and "saved to" in log

    again = start(tmp_path)
    try:
        assert len(list(again.store().scan_leads())) == 40, "the leads are restored, not reloaded or lost"
    finally:
        stop(again, signal.SIGTERM, EXIT_TIMEOUT_S)
