"""The real step-mail state machine (moto's executing Step Functions, the step-mail function as its
Lambda task) on a clock that jumps to each wait's end: a 3-step sequence plays to the end, within
4 state transitions per sent mail, and a second start of the same enrollment is a no-op."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bench.stepmail import GOAL, execute, running_engine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with running_engine() as found:
        yield found


def test_a_three_step_sequence_sends_three_mails_within_four_transitions_each(engine: Any) -> None:
    result = execute(engine, 3, "sm.three@example.co.jp")

    assert result["status"] == "SUCCEEDED" and result["output"]["action"] == "done"
    assert result["sent"] == 3
    assert result["transitions"] / result["sent"] <= GOAL
    assert result["states"][:4] == ["Plan", "Route", "WaitForSlot", "SendAndPlan"]


def test_starting_the_same_enrollment_again_starts_no_second_execution(engine: Any) -> None:
    from reawake.enrollment import execution_name
    from reawake.stepmail_store import ExecutionStarter

    starter = ExecutionStarter(engine["state_machine"], boto3.client("stepfunctions"))
    name = execution_name("bench-3-steps", "a" * 20, 1)
    payload = {"lead_id": "a" * 20, "sequence": "bench-3-steps", "enrolled_at": 1}
    starter.start(name, payload)
    starter.start(name, payload)  # a retried dispatch: ExecutionAlreadyExists (or the same one) is fine
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=engine["state_machine"])["executions"]
    assert [e["name"] for e in executions].count(name) == 1
