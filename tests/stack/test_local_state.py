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


def test_sigterm_while_starting_stops_there_and_keeps_the_saved_state(tmp_path: Path) -> None:
    """A signal during the start (here: while it waits for an earlier stop's saver, held by a process
    that stands for it) ends the start there: exit 0, the saved state untouched (not written over by
    a partly restored stack), and the next start restores it."""
    import os
    import subprocess

    from reawake_tools.local import state
    from reawake_tools.local.connect import STACK_FILE_ENV
    from tests.stack.harness import ROOT, reawake_command

    first = start(tmp_path, "--no-samples")
    email = f"keep.{new_id()[:8]}@example.co.jp"
    try:
        assert identify(first, new_id(), email=email, name="保存 次郎")[0] == 200
    finally:
        assert stop(first, signal.SIGTERM, EXIT_TIMEOUT_S) == 0
    kept = tmp_path / "state" / "stack.pickle"
    state.wait_for_saver(kept, say=lambda line: None)
    before = kept.read_bytes()

    saver = subprocess.Popen(["sleep", "600"])
    (tmp_path / "state" / "stack.pickle.saving").write_text(str(saver.pid), encoding="ascii")
    log_path = tmp_path / "starting.log"
    env = {**os.environ, STACK_FILE_ENV: str(tmp_path / "stack.json"), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen([*reawake_command(), "local", "--port", "0", "--site-port", "0"],
                                       stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while "waiting for the previous stop" not in log_path.read_text(encoding="utf-8"):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text(encoding="utf-8")
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        code = process.wait(EXIT_TIMEOUT_S)
    finally:
        saver.kill()
        saver.wait()
    output = log_path.read_text(encoding="utf-8")
    assert code == 0, output
    assert "Stopped while starting" in output and "saved to" not in output
    assert kept.read_bytes() == before, "the saved state is kept as it was"
    assert not (tmp_path / "stack.json").exists()

    again = start(tmp_path, "--no-samples")  # positive control: the kept state restores
    try:
        lead = again.store().lead_by_email(email)
        assert lead is not None and lead.name == "保存 次郎"
    finally:
        stop(again, signal.SIGTERM, EXIT_TIMEOUT_S)
