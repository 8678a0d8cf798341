"""`reawake local` as a person runs it, and the commands that find it through .local/stack.json."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from reawake_tools.cli import main
from tests.stack.harness import ROOT, RunningStack, reawake_command, start, stop

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_reawake_local_prints_its_urls_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    stack = start(tmp_path, "--no-samples")
    info = stack.info

    assert stop(stack, sig) == 0
    out = stack.log()
    for url in (info["api_url"], info["site_url"], info["endpoint_url"]):
        assert url in out
    assert "reawake leads timeline" in out and "Ctrl-C" in out
    assert "--reset" in out and "restored at start" in out
    assert not stack.stack_file.exists(), "stack.json must be removed at stop"
    print(f"\nreawake local --no-samples: ready in {stack.startup_seconds:.1f} s")  # a figure, not a limit


def test_reawake_local_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["local", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--site-port" in out and "--no-samples" in out


def run_cli(*args: str, stack_file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REAWAKE_STACK_FILE": str(stack_file)}
    env.pop("AWS_ENDPOINT_URL", None)  # the command must find the stack by itself
    return subprocess.run(
        [*reawake_command(), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False
    )


def test_a_lead_timeline_is_read_from_the_running_stack(local_stack: RunningStack) -> None:
    from tests.stack.test_local_stack import identify, new_id, page_view, post_events

    visitor, email = new_id(), f"jiro.{new_id()[:8]}@example.co.jp"
    assert post_events(local_stack, [page_view(local_stack, visitor, "/product/")])[0] == 202
    assert identify(local_stack, visitor, email=email, name="高橋 次郎")[0] == 200

    result = run_cli("leads", "timeline", email, stack_file=local_stack.stack_file)
    assert result.returncode == 0, result.stderr
    assert "高橋 次郎" in result.stdout
    assert "/product/" in result.stdout


def test_commands_say_how_to_start_the_stack_when_it_is_not_running(tmp_path: Path) -> None:
    result = run_cli("leads", "timeline", "nobody@example.co.jp", stack_file=tmp_path / "stack.json")
    assert result.returncode != 0
    assert "make local" in result.stderr


def test_a_second_reawake_local_refuses_to_start(local_stack: RunningStack) -> None:
    result = run_cli("local", "--port", "0", "--site-port", "0", stack_file=local_stack.stack_file)
    assert result.returncode == 2  # cannot start: docs/decisions.md, exit status
    assert "already running" in result.stderr
    assert local_stack.stack_file.exists()
