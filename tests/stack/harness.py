"""`reawake local` in a subprocess, for tests: start it, read its stack.json, talk to it, stop it.

The stack runs in its own process, not in the test process: moto's backends are process-wide,
and every `mock_aws()` of the component tests resets them, which would wipe an in-process stack.
The session's shared stack is the `local_stack` fixture (tests/conftest.py); during a test that
takes it, the test process's environment points at it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reawake.core.store import Store
from reawake_tools.local.connect import emulator_environment
from reawake_tools.local.process import StartFailed
from reawake_tools.local.process import reawake_command as reawake_command  # the tests run the CLI with it
from reawake_tools.local.process import start as process_start
from reawake_tools.local.process import stop as process_stop

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


@dataclass
class RunningStack:
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    stack_file: Path
    log_path: Path
    startup_seconds: float

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def site_url(self) -> str:
        return str(self.info["site_url"])

    @property
    def endpoint_url(self) -> str:
        return str(self.info["endpoint_url"])

    @property
    def environment(self) -> dict[str, str]:
        """What a function (or a CLI command after use_local()) sees."""
        return {**emulator_environment(self.endpoint_url), **self.info["environment"]}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.info["region"],  # type: ignore[call-overload]
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def store(self) -> Store:
        """The stack's table, through a client of its own (independent of os.environ)."""
        return Store(self.info["table_name"], client=self.client("dynamodb"))

    def secret_json(self, logical_id: str) -> dict[str, Any]:
        arn = self.info["secrets"][logical_id]
        secret: dict[str, Any] = json.loads(
            self.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        )
        return secret

    def signing_key(self) -> bytes:
        return str(self.secret_json("SigningSecret")["signing_key"]).encode("utf-8")

    def now_s(self) -> int:
        """The stack clock, epoch seconds (stack.json is rewritten when the clock jumps): what the
        functions compare token expiries with."""
        from reawake_tools.local.clock import now_of

        return int(now_of(json.loads(self.stack_file.read_text(encoding="utf-8"))).timestamp())

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start(workdir: Path, *args: str, timeout: float = START_TIMEOUT_S) -> RunningStack:
    """Start `reawake local` on free ports; return once its stack.json is written."""
    began = time.monotonic()
    stack_file, log_path = workdir / "stack.json", workdir / "reawake-local.log"
    try:
        process, info = process_start(stack_file, log_path, *args, timeout=timeout)
    except StartFailed as exc:
        raise RuntimeError(f"{exc}:\n{log_path.read_text(encoding='utf-8', errors='replace')}") from exc
    return RunningStack(info, process, stack_file, log_path, time.monotonic() - began)


def stop(stack: RunningStack, sig: int = signal.SIGINT, timeout: float = 20) -> int:
    """Signal the stack (this process's own child, by pid) and wait; its exit code."""
    return process_stop(stack.process, timeout, sig)


def settle_stepmail(stack: RunningStack, timeout: float = 30) -> None:
    """Wait until no send slot is running (nothing being sent), so that a snapshot of the table
    is not taken in the middle of a send."""
    arn = (stack.info.get("state_machines") or {}).get("SendSlotStateMachine")
    if not arn:
        return
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING").get("executions"):
            return
        time.sleep(0.2)
