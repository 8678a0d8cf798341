"""What the CLI tells a newcomer: commands they can type as printed, and when mail will next go out."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from reawake_tools.commands import local as local_command
from reawake_tools.commands import outbox
from reawake_tools.local.connect import STACK_FILE_ENV, write_stack_file

INFO: dict[str, Any] = {
    "api_url": "http://127.0.0.1:8787", "site_url": "http://127.0.0.1:8788", "endpoint_url": "http://127.0.0.1:5000",
    "table_name": "reawake-Table", "samples": {"leads": 40, "example_email": "t.yamada@sakura-seiki.example.jp"},
    "clock": {"now": "2026-11-24T00:30:00+00:00", "speed": 1, "url": "http://127.0.0.1:8789"},
    "schedules": [
        {"name": "SegmentStateMachine.Daily", "expression": "cron(0 6 * * ? *)", "timezone": "Asia/Tokyo",
         "next": "2026-11-24T21:00:00+00:00"},
        {"name": "CallListFunction.Daily", "expression": "cron(30 8 ? * MON-FRI *)", "timezone": "Asia/Tokyo",
         "next": "2026-11-24T23:30:00+00:00"},
    ],
}


def test_the_banner_prints_commands_that_run_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the virtualenv is not activated, as with `make local`
    text = local_command.banner({**INFO, "state": {"file": ".local/state/stack.pickle"}})
    shown = local_command.cli_command()
    assert shown != "reawake" and Path(shown).name == "reawake" and Path(shown).exists()
    assert f"    {shown} leads timeline t.yamada@sakura-seiki.example.jp" in text
    assert f"{shown} segments run" in text and f"{shown} outbox" in text
    assert "/activate` first" in text
    assert not [line for line in text.splitlines() if line.strip().startswith("reawake ")]
    assert f"`{shown} local --reset` starts clean" in text and f"（初期化: {shown} local --reset）" in text
    assert not re.search(r"(?<![/\w])reawake (local|leads|segments|outbox|demo|calllists)", text), text


def test_with_the_virtualenv_on_path_the_banner_says_reawake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    assert local_command.cli_command() == "reawake"
    assert "    reawake leads timeline t.yamada@sakura-seiki.example.jp" in local_command.banner(INFO)


def running(now_utc: str, **info: Any) -> dict[str, Any]:
    """A running stack's stack.json whose clock reads ``now_utc`` (and runs at wall speed from here)."""
    import time
    from datetime import datetime

    stack_now = datetime.fromisoformat(now_utc).timestamp()
    clock = {"speed": 1.0, "anchor_wall": time.time(), "anchor_stack": stack_now, "now": now_utc,
             "url": "http://127.0.0.1:8789"}
    slot = {"name": "SendSlotStateMachine.Slot", "expression": "cron(0/5 * * * ? *)", "timezone": "Asia/Tokyo",
            "next": "2026-11-20T10:00:00+09:00"}  # published at start, long past: never shown as "next"
    return {**INFO, "clock": clock, "schedules": [*INFO["schedules"], slot], **info}


def test_an_empty_outbox_says_when_the_next_send_slot_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(STACK_FILE_ENV, str(tmp_path / "stack.json"))
    args = argparse.Namespace(dir=tmp_path / "outbox", show=None, html=False, open=False)
    assert outbox.run(args) == 0
    assert "No local stack is running" in capsys.readouterr().out

    # Tuesday 2026-11-24 09:30 JST on the stack clock (this process: alive): the slots run every
    # 5 minutes, the send window opens at 10:00.
    write_stack_file(running("2026-11-24T00:30:00+00:00", outbox=str(tmp_path / "outbox")), tmp_path / "stack.json")
    assert outbox.run(args) == 0
    out = capsys.readouterr().out
    assert "no mail yet" in out and "Next scheduled runs" in out
    assert "SegmentStateMachine.Daily cron(0 6 * * ? *): next / 次回 2026-11-25 06:00:00 JST" in out
    assert "CallListFunction.Daily" in out and "2026-11-25 08:30:00 JST" in out
    assert "時計" in out and "2026-11-24 09:30:0" in out
    assert "SendSlotStateMachine.Slot cron(0/5 * * * ? *): next / 次回 2026-11-24 09:35:00 JST" in out
    assert "Next send slot / 次の送信枠  2026-11-24 10:00 JST" in out, out
    assert "2026-11-20" not in out, "a fire time published at start and passed since is not shown"

    # Saturday night before 勤労感謝の日 (Monday 2026-11-23): the next slot that sends is Tuesday 10:00.
    write_stack_file(running("2026-11-21T11:00:00+00:00", outbox=str(tmp_path / "outbox")), tmp_path / "stack.json")
    assert outbox.run(args) == 0
    out = capsys.readouterr().out
    assert "SendSlotStateMachine.Slot cron(0/5 * * * ? *): next / 次回 2026-11-21 20:05:00 JST" in out
    assert "Next send slot / 次の送信枠  2026-11-24 10:00 JST" in out, out
