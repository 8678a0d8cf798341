"""Segment runs on the local stack: on demand from the CLI, on the schedule of template.yaml (fired by
the stack clock), and Step Functions waits following that clock.

These tests move the shared stack's clock forward (never back): by up to a day and a few hours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reawake.segments.store import SegmentStore
from reawake_tools.local.clock import advance_running, now_of
from reawake_tools.local.connect import STACK_FILE_ENV
from reawake_tools.local.stepfunctions import wait_for
from tests.stack.harness import ROOT, RunningStack, reawake_command, settle_stepmail

pytestmark = pytest.mark.stack

TOKYO = ZoneInfo("Asia/Tokyo")
DEFINITIONS = ["dormant-no-visit", "dormant-no-webinar", "dormant-no-followup", "dormant-no-purchase", "dormant-no-use"]


def current(stack: RunningStack) -> dict[str, Any]:
    """stack.json as it is now (rewritten when the clock jumps or a schedule fires)."""
    info: dict[str, Any] = json.loads(stack.stack_file.read_text(encoding="utf-8"))
    return info


def reawake(stack: RunningStack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, STACK_FILE_ENV: str(stack.stack_file)}
    return subprocess.run([*reawake_command(), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout, check=False)


def table_state(stack: RunningStack) -> tuple[int, dict[str, int]]:
    """(items in the table, lead id -> version), once step mail started by a run is waiting."""
    settle_stepmail(stack)
    client = stack.client("dynamodb")
    count = sum(page["Count"] for page in client.get_paginator("scan").paginate(
        TableName=stack.info["table_name"], Select="COUNT"))
    versions = {lead.lead_id: lead.version for lead in stack.store().scan_leads()}
    return count, versions


def members(stack: RunningStack) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for lead in stack.store().scan_leads():
        for segment_id in lead.segments:
            found.setdefault(segment_id, []).append(lead)
    return found


def test_segments_run_on_demand_and_again_at_the_same_moment_changes_nothing(local_stack: RunningStack) -> None:
    now = now_of(current(local_stack)).astimezone(TOKYO).replace(microsecond=0).isoformat()

    began = time.monotonic()
    first = reawake(local_stack, "segments", "run", "--now", now)
    took = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    assert "セグメント実行" in first.stdout and "entered / 新規 +" in first.stdout
    found = members(local_stack)
    assert sorted(found) == sorted(DEFINITIONS), "the sample leads populate all five definitions"
    print(f"\nreawake segments run on the sample data: {took:.2f} s (command included)")

    before = table_state(local_stack)
    second = reawake(local_stack, "segments", "run", "--now", now)
    assert second.returncode == 0, second.stderr
    for definition in DEFINITIONS:
        assert f"members / メンバー {len(found[definition])}   entered / 新規 +0   left / 離脱 -0" in second.stdout
    assert "開始したアプローチ: none" in second.stdout
    assert table_state(local_stack) == before, "the second run wrote nothing (the summary is the same item)"


def test_preview_and_explain_read_the_stack_without_writing(local_stack: RunningStack) -> None:
    found = members(local_stack)
    if "dormant-no-followup" not in found:
        reawake(local_stack, "segments", "run")
        found = members(local_stack)
    lead = found["dormant-no-followup"][0]
    before = table_state(local_stack)

    preview = reawake(local_stack, "segments", "preview", "dormant-no-followup", "--sample", "20")
    explained = reawake(local_stack, "segments", "explain", "dormant-no-followup", "--lead", lead.email)

    assert preview.returncode == 0, preview.stderr
    assert "該当" in preview.stdout and str(lead.name) in preview.stdout
    assert "s3://" in preview.stdout  # the definitions the functions use: uploaded at start
    assert explained.returncode == 0, explained.stderr
    assert "IN / 該当" in explained.stdout and "member since" in explained.stdout
    assert "✓ sales_conversation ever" in explained.stdout
    assert lead.email not in preview.stdout + explained.stdout
    assert table_state(local_stack) == before


def test_the_daily_schedule_fires_on_the_stack_clock(local_stack: RunningStack) -> None:
    info = current(local_stack)
    (schedule,) = [s for s in info["schedules"] if s["name"] == "SegmentStateMachine.Daily"]
    assert schedule["expression"] == "cron(0 6 * * ? *)" and schedule["timezone"] == "Asia/Tokyo"
    fire = datetime.fromisoformat(schedule["next"])
    assert fire.astimezone(TOKYO).hour == 6

    advance_running(info, (fire - now_of(info)).total_seconds() - 1.0)  # a second before the fire time
    run_id = fire.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M:%S%z")
    segments = SegmentStore(local_stack.store())
    deadline = time.monotonic() + 30
    while (summary := segments.get_run(run_id)) is None:
        assert time.monotonic() < deadline, f"no run summary {run_id}:\n{local_stack.log()[-3000:]}"
        time.sleep(0.2)

    assert summary["scanned"] == len(list(local_stack.store().scan_leads()))
    assert set(summary["members"]) == set(DEFINITIONS)
    after = current(local_stack)["schedules"][0]
    assert after["last"] == schedule["next"] and after["fired"] >= 1
    assert datetime.fromisoformat(after["next"]) > fire
    assert "[schedule] SegmentStateMachine.Daily fired for" in local_stack.log()


WAITING = {
    "StartAt": "ThreeHours",
    "States": {
        "ThreeHours": {"Type": "Wait", "Seconds": 10800, "Next": "Until"},
        "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Done"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def test_step_functions_waits_follow_the_stack_clock(local_stack: RunningStack) -> None:
    sfn = local_stack.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/reawake-local"
    arn = sfn.create_state_machine(name=f"waits-{os.getpid()}", definition=json.dumps(WAITING),
                                   roleArn=role)["stateMachineArn"]
    info = current(local_stack)
    until = datetime.fromtimestamp(now_of(info).timestamp() + 4 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution = sfn.start_execution(stateMachineArn=arn, name="waits",
                                    input=json.dumps({"until": until}))["executionArn"]
    # Each check waits on the execution's own history (a state entered), never on a fixed sleep.
    assert waiting_in(sfn, execution, "ThreeHours")
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    advance_running(info, 3 * 3600)  # the three hours pass at once...
    assert waiting_in(sfn, execution, "Until")
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"  # ...the timestamp is later
    advance_running(info, 3600)
    # Three wall-clock hours of waits end within the guard: they followed the stack clock.
    assert wait_for(sfn, execution, timeout=60)["status"] == "SUCCEEDED"


def waiting_in(sfn: Any, execution: str, state: str, timeout: float = 60) -> bool:
    """True once the execution has entered the Wait state ``state`` (its history says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        if any(e["type"] == "WaitStateEntered" and e.get("stateEnteredEventDetails", {}).get("name") == state
               for e in events):
            return True
        time.sleep(0.05)
    return False


def test_a_bad_segment_config_stops_the_start_with_its_problems(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config" / "scoring.yaml", tmp_path / "scoring.yaml")
    (tmp_path / "segments.yaml").write_text(
        "segments:\n  - id: dormant-typo\n    name: 誤り\n    approach: {type: watch}\n"
        "    rule: {event: page_view, within: 30x}\n", encoding="utf-8")
    env = {**os.environ, STACK_FILE_ENV: str(tmp_path / "stack.json")}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [*reawake_command(), "local", "--port", "0", "--site-port", "0", "--no-samples", "--config", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 1
    assert f"{tmp_path / 'segments.yaml'}:5:" in result.stderr
    assert "rule.within: '30x' is not a duration" in result.stderr and "cannot start" in result.stderr
    assert not (tmp_path / "stack.json").exists()
