"""CLI sub-commands: one module each, with register(subparsers); the helpers they share."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

NOW_HELP = ("evaluate at this moment: ISO 8601 (2026-11-24T06:00:00+09:00; no offset = the stack's time zone) "
            "or 'YYYY/MM/DD HH:MM' (default: now; on the local stack, its clock)")
STACK_HELP = "a deployed stack's name (default: the running local stack)"


class Stop(Exception):
    """A user-facing error: each issue printed as `reawake: ISSUE`, exit status 2."""

    def __init__(self, *issues: object) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = list(issues)


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command's Stop and AWS errors as `reawake: ...` lines on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(args)
        except Stop as exc:
            for issue in exc.issues:
                print(f"reawake: {issue}", file=sys.stderr)
            return 2
        except (BotoCoreError, ClientError) as exc:
            print(f"reawake: AWS call failed: {exc}", file=sys.stderr)
            return 2

    return wrapper


def fail(message: str, code: int = 2) -> int:
    print(f"reawake: {message}", file=sys.stderr)
    return code


def connect(stack: str | None) -> dict[str, Any]:
    """Point this process at the local stack (default) or the deployed one."""
    from reawake_tools.local.connect import NotRunning, reset_caches, use_target

    try:
        info = use_target(stack)
    except NotRunning as exc:
        raise Stop(str(exc)) from exc
    reset_caches()
    return info


def moment(args: argparse.Namespace, info: dict[str, Any]) -> int:
    """--now, else the local stack's clock, else the wall clock; epoch ms."""
    from reawake.core.settings import Locale, get_settings
    from reawake_tools.local.clock import now_of
    from reawake_tools.segment_preview import parse_now

    if args.now:
        try:
            return parse_now(args.now, get_settings(Locale).time_zone)
        except ValueError as exc:
            raise Stop(str(exc)) from exc
    if args.stack is None:
        return int(now_of(info).timestamp() * 1000)
    return int(time.time() * 1000)


def stack_output(stack: str, key: str) -> str:
    """An output of a deployed stack (template.yaml's Outputs), or Stop naming the missing one."""
    from reawake.core.aws import client

    described = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if key not in outputs:
        raise Stop(f"the stack {stack!r} has no output {key}")
    return str(outputs[key])


def state_machine_arn(info: dict[str, Any], stack: str | None, logical_id: str) -> str:
    """A state machine of the local stack (stack.json) or of a deployed stack (its ``<id>Arn`` output)."""
    if stack is not None:
        return stack_output(stack, f"{logical_id}Arn")
    arn = (info.get("state_machines") or {}).get(logical_id)
    if not arn:
        from reawake_tools.commands.local import cli_command

        raise Stop(f"the running local stack has no {logical_id}: restart `{cli_command()} local`")
    return str(arn)

