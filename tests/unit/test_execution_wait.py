"""`reawake segments run` waiting: a busy emulator's slow answer is not a failed run, a run still
going when the wait ends is reported as running (with how to follow it), progress is shown."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ReadTimeoutError

from reawake_tools.commands.waiting import Outcome, wait

ARN = "arn:aws:states:ap-northeast-1:123456789012:execution:reawake-SegmentStateMachine:cli-1"


class FakeSfn:
    """describe_execution answers from a script: a status, or an exception to raise."""

    def __init__(self, script: list[Any], history: list[dict[str, Any]] | None = None) -> None:
        self.script = script
        self.history = history or []
        self.calls = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return {"executionArn": executionArn, "status": step, "output": "{}"}

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        return {"events": self.history}


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(sfn: FakeSfn, timeout: float = 600) -> tuple[Outcome, list[str]]:
    said: list[str] = []
    ticks = Ticks()
    return wait(sfn, ARN, timeout, said.append, ticks.clock, ticks.sleep), said


def test_a_read_timeout_while_polling_keeps_waiting_until_the_run_ends() -> None:
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    outcome, said = run(FakeSfn(["RUNNING", timeout, timeout, "RUNNING", "SUCCEEDED"]))

    assert outcome.described is not None and outcome.described["status"] == "SUCCEEDED"
    assert any("busy" in line for line in said)


def test_a_failed_run_is_reported_as_ended_not_running() -> None:
    outcome, _ = run(FakeSfn(["RUNNING", "FAILED"]))

    assert not outcome.still_running
    assert outcome.described is not None and outcome.described["status"] == "FAILED"


def test_a_run_still_going_at_the_timeout_is_still_running_with_progress() -> None:
    history = [{"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": 8}},
               *[{"type": "MapIterationSucceeded"}] * 3]
    outcome, said = run(FakeSfn(["RUNNING"], history), timeout=30)

    assert outcome.still_running and not outcome.interrupted
    assert outcome.waited_s >= 30
    assert any("3/8 shards done" in line for line in said)
