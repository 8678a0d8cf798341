"""The daily ReportFunction and the counts other features make: call tasks done once, the report
written to the config bucket, and read back through a presigned URL."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import boto3

from reawake.core import clock
from reawake.core.counters import CounterStore
from reawake.stepmail.store import StepmailStore
from reawake_tools.timeline import build_timeline, render
from tests.component.test_call_lists import (  # noqa: F401 - fixtures
    SATO,
    call_task_lead,
    env,
    lists_env,
    morning_run,
    ms,
    record,
)
from tests.component.test_stepmail import TOKYO, Now, store
from tests.conftest import LambdaContext, load_function


def test_a_call_task_done_is_counted_once_for_its_owner(lists_env: Now) -> None:  # noqa: F811 - the fixture
    called = call_task_lead(lists_env, "山田 太郎", SATO)
    morning_run("2026-12-04T08:30")
    record(called.lead_id, "sales_followup", ms("2026-12-04T11:00"))
    assert morning_run("2026-12-07T08:30")["closed"] == 1
    morning_run("2026-12-07T08:30")  # the scheduler's retry: the task is closed already
    calls = CounterStore(store().client, store().table_name).days("CALLS", "20261201", "20261231")
    assert calls == {"20261207": {f"done|{SATO}": 1}}

    timeline = build_timeline(store(), called.email)  # what Reawake did, among what the lead did
    assert timeline is not None
    kinds = [e.event.kind for e in timeline.entries]
    assert kinds.index("mail_sent") < kinds.index("call_task") < kinds.index("sales_followup") < kinds.index(
        "call_task_done")
    text = render(timeline, TOKYO)
    assert "ステップメール送信" in text and "電話タスク完了" in text and "sequence=dm-then-call" in text


def test_a_call_task_left_unanswered_expires_once(lists_env: Now) -> None:  # noqa: F811 - the fixture
    waiting = call_task_lead(lists_env, "佐々木 花子", SATO)  # due Thursday 2026-12-03
    morning_run("2026-12-17T08:30")  # its last list (14 days of carrying over)
    assert StepmailStore(store()).tasks(waiting.lead_id)[0]["status"] == "open"
    morning_run("2026-12-18T08:30")
    morning_run("2026-12-18T08:30")
    (task,) = StepmailStore(store()).tasks(waiting.lead_id)
    assert task["status"] == "expired" and "task_day" not in task
    calls = CounterStore(store().client, store().table_name).days("CALLS", "20261201", "20261231")
    assert calls == {"20261218": {f"expired|{SATO}": 1}}


def test_the_report_function_writes_the_daily_report_to_the_config_bucket(lists_env: Now, aws: Any) -> None:  # noqa: F811
    call_task_lead(lists_env, "山田 太郎", SATO)  # a sent DM: the funnel has something to show
    clock.set_source(lambda: ms("2026-12-02T07:00"))
    try:
        result = load_function("report").handler({}, LambdaContext())
    finally:
        clock.set_source(None)
    assert (result["first"], result["last"]) == ("2026-11-02", "2026-12-01")
    s3 = boto3.client("s3")
    bucket = os.environ["CONFIG_BUCKET"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/")["Contents"]}
    assert {"reports/2026-12-01/index.html", "reports/latest/index.html", "reports/latest/funnel.csv"} <= keys
    page = s3.get_object(Bucket=bucket, Key="reports/latest/index.html")
    assert page["ContentType"].startswith("text/html")
    text = page["Body"].read().decode("utf-8")
    assert "DM" in text and "<svg" in text
    funnel = s3.get_object(Bucket=bucket, Key="reports/latest/funnel.csv")["Body"].read().decode("utf-8-sig")
    rows = {(r[0], r[1]): r for r in csv.reader(io.StringIO(funnel))}
    assert rows[("dm-then-call", "1")][3:5] == ["1", "1"]  # enrolled, sent: the DM of the lead above
