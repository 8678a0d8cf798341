"""`reawake segments preview|explain|run` against the emulator in-process (moto), with the sample data.

The commands normally find the local stack through stack.json; here `connect` is replaced so they use
the `aws` fixture's environment. `run` executes the real state machine: moto's Step Functions engine
with the segment function's handler as its Lambda task, as on the local stack.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.durations import parse_time
from reawake.core.store import Store
from reawake.segments.rules.compile import TOKYO, Context
from reawake.segments.rules.explain import explain
from reawake_tools.cli import main
from reawake_tools.local.stack import SAMPLES_DIR, load_sample_data
from reawake_tools.segment_preview import load_local

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00+09:00"
NOW_MS = parse_time(NOW, TOKYO) or 0


def item_count() -> int:
    client = boto3.client("dynamodb")
    total, args = 0, {"TableName": os.environ["TABLE_NAME"], "Select": "COUNT"}
    while True:
        page = client.scan(**args)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def upload(config_dir: Path) -> None:
    from reawake.segments.definitions import upload_config

    upload_config(boto3.client("s3"), os.environ["CONFIG_BUCKET"], config_dir)


@pytest.fixture
def commands(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The commands pointed at the emulator (the stack description they get is this dict)."""
    from reawake.segments import entry as segment_entry
    from reawake_tools.commands import segments

    info: dict[str, Any] = {}
    monkeypatch.setattr(segments, "connect", lambda stack_name: info)
    monkeypatch.chdir(ROOT)  # the local config/ fallback is relative, as for a user in the repository
    segment_entry.reset()
    yield info
    segment_entry.reset()


@pytest.fixture
def stack(commands: dict[str, Any]) -> dict[str, Any]:
    """The sample leads and activities (config/sample) in the emulator."""
    load_sample_data(Store(os.environ["TABLE_NAME"]), SAMPLES_DIR, NOW_MS)
    return commands


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- preview -------------------------------------------------------------------------------------------


def test_preview_counts_and_samples_the_leads_without_writing(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    upload(ROOT / "config")
    before = item_count()

    code, out, err = cli(capsys, "segments", "preview", "dormant-no-followup", "--now", NOW, "--sample", "3")

    assert code == 0, err
    assert item_count() == before, "preview must not write"
    loaded = load_local(ROOT / "config")
    rule = next(d for d in loaded.definitions if d.id == "dormant-no-followup").rule
    leads = list(Store(os.environ["TABLE_NAME"]).scan_leads())
    ctx = Context(NOW_MS, TOKYO, loaded.scoring)
    expected = [lead for lead in leads if explain(rule, lead, ctx).held]  # the explainer, an independent evaluator
    assert 0 < len(expected) < len(leads)
    assert f"該当  {len(expected)} of {len(leads)} leads" in out
    assert f"+{len(expected)} would enter" in out  # nobody is a member before the first run
    assert "IS対話歴あり" in out and "s3://" in out and "2026-11-23 12:00:00.000 JST" in out
    sample = sorted(expected, key=lambda lead: lead.lead_id)[:3]
    for lead in sample:
        assert lead.name and lead.name in out and str(lead.company) in out and str(lead.owner) in out
    for lead in leads:
        assert lead.email not in out, "a lead's email address is never printed"


def test_preview_falls_back_to_the_local_config_with_a_note_until_the_bucket_has_one(
    stack: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW, "--sample", "0")
    assert code == 0, err
    assert "does not exist: using the local files in config/" in err
    assert "definition from config/segments.yaml" in out

    shutil.copy(ROOT / "config" / "scoring.yaml", tmp_path / "scoring.yaml")
    text = (ROOT / "config" / "segments.yaml").read_text(encoding="utf-8")
    (tmp_path / "segments.yaml").write_text(text.replace("登録90日以上・直近30日サイト訪問なし", "アップロード版"),
                                            encoding="utf-8")
    upload(tmp_path)
    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW)
    assert code == 0 and "config/segments.yaml (or scoring.yaml) differs from the uploaded config" in err
    assert "アップロード版" in out and "s3://" in out


def test_local_edits_are_previewed_with_local_and_in_use_after_segments_upload(
    stack: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "segments", "upload")[0] == 0
    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW, "--sample", "0")
    assert (code, err) == (0, ""), err  # the positive control: what is uploaded is what is here
    edited = tmp_path / "config" / "segments.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("登録90日以上・直近30日サイト訪問なし", "編集後"),
                      encoding="utf-8")

    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW, "--sample", "0")
    assert "編集後" not in out and "differs from the uploaded config" in err and "segments upload" in err
    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW, "--sample", "0", "--local")
    assert code == 0 and "編集後" in out and "definition from config/segments.yaml" in out

    code, out, _ = cli(capsys, "segments", "upload")
    assert code == 0 and "s3://" in out and "config/segments.yaml" in out
    code, out, err = cli(capsys, "segments", "preview", "dormant-no-visit", "--now", NOW, "--sample", "0")
    assert (code, err) == (0, "") and "編集後" in out  # in use at once, no restart


def test_segments_upload_refuses_a_definition_whose_sequence_does_not_exist(
    stack: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    edited = tmp_path / "config" / "segments.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("sequence: repurchase", "sequence: re-purchase"),
                      encoding="utf-8")
    code, _, err = cli(capsys, "segments", "upload")
    assert code == 1 and "no sequence 're-purchase'" in err and "nothing uploaded" in err
    assert not boto3.client("s3").list_objects_v2(Bucket=os.environ["CONFIG_BUCKET"]).get("Contents")


def test_preview_of_an_unknown_segment_names_the_defined_ones(
    commands: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    upload(ROOT / "config")
    code, _, err = cli(capsys, "segments", "preview", "dormant-nope", "--now", NOW)
    assert code == 2
    assert "no segment 'dormant-nope'" in err and "dormant-no-visit" in err and "dormant-no-use" in err


# --- explain -------------------------------------------------------------------------------------------


def test_explain_shows_each_condition_with_its_values(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    upload(ROOT / "config")
    leads = list(Store(os.environ["TABLE_NAME"]).scan_leads())
    talked = next(lead for lead in leads if "sales_conversation" in lead.last)
    silent = next(lead for lead in leads if "sales_conversation" not in lead.last)
    before = item_count()

    code, out, err = cli(capsys, "segments", "explain", "dormant-no-followup", "--lead", talked.email, "--now", NOW)
    assert code == 0, err
    assert str(talked.name) in out and talked.email not in out
    assert "sales_conversation ever  — latest 20" in out
    assert "sales_followup within 3mo" in out and "since 2026-08-23 12:00:00.000 JST" in out

    code, out, _ = cli(capsys, "segments", "explain", "dormant-no-followup", "--lead", silent.email.upper(),
                       "--now", NOW)
    assert code == 0
    assert "OUT / 非該当" in out and "✗ sales_conversation ever  — never happened" in out
    assert item_count() == before


def test_explain_refuses_an_unknown_lead_or_a_bad_address(commands: Any, capsys: pytest.CaptureFixture[str]) -> None:
    upload(ROOT / "config")
    code, _, err = cli(capsys, "segments", "explain", "dormant-no-visit", "--lead", "nobody@example.jp")
    assert code == 2 and "no lead with the address nobody@example.jp" in err
    code, _, err = cli(capsys, "segments", "explain", "dormant-no-visit", "--lead", "not-an-address")
    assert code == 2 and "--lead: 'not-an-address' is not an email address" in err


# --- run -----------------------------------------------------------------------------------------------


def test_run_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from reawake_tools.commands.segments import execution_input

    with pytest.raises(SystemExit) as exit_:
        main(["segments", "run", "--shards", "0"])
    assert exit_.value.code == 2 and "--shards: a whole number from 1 to 256" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["segments", "run", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--now" in out and "--shards" in out and "--stack" in out

    assert execution_input(NOW_MS, 3, TOKYO) == {"now": "2026-11-23T12:00:00.000+09:00", "shards": 3}
    assert execution_input(None, None, TOKYO) == {}  # a deployed run without --now: the function's clock


def test_run_refuses_a_bad_now(commands: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "segments", "run", "--now", "yesterday")
    assert code == 2 and "--now: 'yesterday' is not a time" in err


@pytest.fixture
def state_machine(commands: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The template's functions and state machines in moto's executing Step Functions."""
    from moto.core.config import default_user_config

    from reawake_tools.local import moto_patches
    from reawake_tools.local.lambdas import Functions
    from reawake_tools.local.stepfunctions import create_state_machines, register_functions
    from reawake_tools.local.template import Created, load_template

    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})  # type: ignore[misc]
    template = load_template()
    functions = Functions(template)
    moto_patches.route_lambda(functions.invoke_result)
    try:
        created = Created()
        register_functions(boto3.client, functions, template, created)
        commands["state_machines"] = create_state_machines(boto3.client, template, created)
        upload(ROOT / "config")
        yield commands
    finally:
        moto_patches.route_lambda(None)


def test_run_executes_the_state_machine_and_the_same_moment_again_changes_nothing(
    stack: Any, state_machine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "segments", "run", "--now", NOW)
    assert code == 0, err
    assert "segment run / セグメント実行 2026-11-23T12:00:00+0900  (40 leads scanned" in out
    members = {}
    for lead in Store(os.environ["TABLE_NAME"]).scan_leads():
        for segment_id in lead.segments:
            members[segment_id] = members.get(segment_id, 0) + 1
    assert len(members) == 5, "the sample leads populate all five definitions"
    for segment_id, count in members.items():
        assert f"members / メンバー {count}   entered / 新規 +{count}" in out, segment_id
    assert "sequence webinar-invite ×" in out and "owner_task dm-then-call ×" in out
    before = item_count()

    code, out, err = cli(capsys, "segments", "run", "--now", NOW, "--shards", "3")
    assert code == 0, err
    assert "3 shards" in out and "+0" in out and "+1" not in out.replace("+0", "")
    assert "approaches started / 開始したアプローチ: none" in out
    assert item_count() == before, "a second run at the same moment writes nothing new"


def test_a_failed_run_exits_1_with_the_error(state_machine: Any, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from reawake_tools.commands import waiting

    failed = {"status": "FAILED", "error": "States.TaskFailed", "cause": json.dumps({"errorMessage": "boom"})}
    monkeypatch.setattr(waiting, "wait", lambda *args, **kwargs: waiting.Outcome(failed, 1.0))
    code, _, err = cli(capsys, "segments", "run", "--now", NOW)
    assert code == 1
    assert "segment run FAILED" in err and "States.TaskFailed" in err and "boom" in err


def test_follow_waits_for_a_run_already_started(stack: Any, state_machine: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "segments", "run", "--now", NOW)
    assert code == 0, err
    arn = next(line.split(": ", 1)[1] for line in out.splitlines() if "execution / 実行: " in line)

    code, followed, err = cli(capsys, "segments", "run", "--follow", arn.rsplit(":", 1)[1])
    assert code == 0, err
    assert f"following / 追跡中: {arn}" in followed
    assert "(40 leads scanned" in followed


def test_a_run_still_going_when_the_wait_ends_exits_3_and_says_how_to_follow_it(
    state_machine: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reawake_tools.commands import waiting

    monkeypatch.setattr(waiting, "wait", lambda *args, **kwargs: waiting.Outcome(None, 3600.0))
    code, _, err = cli(capsys, "segments", "run", "--now", NOW)
    assert code == 3
    assert "still running after 3600 s" in err and "reawake segments run --follow arn:aws:states:" in err
    assert "Read timeout" not in err and "FAILED" not in err


def test_validate_still_checks_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "segments", "validate", str(ROOT / "config" / "segments.yaml"),
                       "--scoring", str(ROOT / "config" / "scoring.yaml"))
    assert code == 0 and "5 segments OK" in out
