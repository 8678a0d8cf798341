"""`reawake local` in a subprocess, found through the stack.json it writes and stopped with
Ctrl-C's signal: for `reawake demo` when no stack is running, and for the stack tests' harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from reawake_tools.local.connect import STACK_FILE_ENV
from reawake_tools.local.template import ROOT

START_TIMEOUT_S = 90


class StartFailed(RuntimeError):
    pass


def reawake_command() -> list[str]:
    script = Path(sys.executable).with_name("reawake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reawake_tools.cli"]


def start(stack_file: Path, log_path: Path, *args: str,
          timeout: float = START_TIMEOUT_S) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start `reawake local` on free ports, writing ``stack_file``; return once it is up."""
    stack_file.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, STACK_FILE_ENV: str(stack_file), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    began = time.monotonic()
    with log_path.open("wb") as log:
        command = [*reawake_command(), "local", "--port", "0", "--site-port", "0", *args]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603 - our own command
                                   env=env, cwd=ROOT)
    while True:
        if process.poll() is not None:
            raise StartFailed(f"reawake local exited with {process.returncode} (log: {log_path})")
        try:
            info: dict[str, Any] = json.loads(stack_file.read_text(encoding="utf-8"))
            if info.get("pid") == process.pid:
                return process, info
        except (OSError, ValueError):
            pass
        if time.monotonic() - began > timeout:
            stop(process)
            raise StartFailed(f"reawake local did not start in {timeout:.0f} s (log: {log_path})")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 20, sig: int = signal.SIGINT) -> int:
    """Ctrl-C's signal (or ``sig``) to the stack this process started, then wait; its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def connect_or_start(log_path: Path) -> tuple[dict[str, Any], subprocess.Popen[bytes] | None]:
    """The running local stack (``use_local()``), else a new empty one at the usual stack.json (so
    `reawake outbox` and the other commands find it); returns the process when this one started it."""
    from reawake_tools.local.connect import NotRunning, stack_file, use_local

    try:
        return use_local(), None
    except NotRunning:
        pass
    process, _ = start(stack_file(), log_path, "--no-samples")
    try:
        return use_local(), process
    except BaseException:
        stop(process)
        raise
