"""State transitions per sent step (what Standard workflows bill): the real step-mail state machine
in moto's executing Step Functions, with the real function as its Lambda task, on a fast clock.

A lead is enrolled in a sequence of N mail steps (0, 6 and 14 days, ... after enrollment); the
execution's history is read back and every ``*StateEntered`` event counted. Goal: <= 4 per sent
step. Cost: Standard workflows charge $0.025 per 1,000 state transitions.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import report

ROOT = Path(__file__).resolve().parents[1]
TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)  # a Monday, before the send window opens
USD_PER_1000_TRANSITIONS = 0.025
GOAL = 4.0
STEPS = 3
TEMPLATES = ["useful-content", "case-study", "webinar-invitation", "win-back", "repurchase-offer"]


def sequence_yaml(steps: int) -> str:
    lines = ["name: ベンチマーク", "exit: {revisit: true}", "steps:"]
    for index in range(steps):
        lines.append(f"  - template: {TEMPLATES[index % len(TEMPLATES)]}")
        if index:
            lines += [f"    delay: {7 * index}d", "    after: enrollment"]
    return "\n".join(lines) + "\n"


def _jumping_clock() -> Any:
    from reawake.local.clock import Clock

    class Jumping(Clock):
        """A stack clock that jumps straight to the moment a Wait state waits for (one execution
        at a time), so every wait ends exactly at its slot, as on AWS."""

        def sleep_until(self, target: float, keep_waiting: Any = lambda: True) -> bool:
            ahead = target - self.time()
            if ahead > 0:
                self.advance(ahead)
            return bool(keep_waiting())

    return Jumping


def JumpingClock(speed: float, start: datetime) -> Any:
    return _jumping_clock()(speed, start)


@contextmanager
def running_engine() -> Iterator[dict[str, Any]]:
    """moto in-process executing Step Functions, the template's functions as its Lambda tasks,
    the config uploaded, the sender verified, and a stack clock that jumps to every wait's end."""
    import boto3
    from moto.core.config import default_user_config

    from bench.common import emulated_stack
    from reawake import clock as handler_clock
    from reawake.config_store import upload_config
    from reawake.local import clock as stack_clock
    from reawake.local import moto_patches
    from reawake.local.connect import reset_caches
    from reawake.local.lambdas import Functions
    from reawake.local.stepfunctions import create_state_machines, register_functions
    from reawake.local.template import function_environment, load_template, resources_of
    from reawake.mail.templates import DirectoryTemplateStore, upload_templates
    from reawake.stepmail_store import upload_sequences

    saved = dict(os.environ)
    previous = default_user_config.get("stepfunctions")
    with emulated_stack() as created:
        default_user_config["stepfunctions"] = {"execute_state_machine": True}  # type: ignore[typeddict-item]
        template = load_template()
        functions = Functions(template)
        moto_patches.route_lambda(functions.invoke_result)
        clock = JumpingClock(1.0, START)
        stack_clock.install(clock)
        moto_patches.follow_clock()
        handler_clock.set_source(clock.now_ms)
        try:
            register_functions(boto3.client, functions, template, created)
            machines = create_state_machines(boto3.client, template, created)
            for logical in resources_of(template, "AWS::Serverless::Function"):
                os.environ.update(function_environment(template, created, logical))
            os.environ["PUBLIC_API_URL"] = "https://api.example.test"
            os.environ.pop("LINK_REBASE", None)
            os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
            reset_caches()
            s3, bucket = boto3.client("s3"), os.environ["CONFIG_BUCKET"]
            upload_config(s3, bucket, ROOT / "config")
            upload_templates(s3, bucket, DirectoryTemplateStore(ROOT / "templates", ROOT / "config"))
            upload_sequences(s3, bucket, ROOT / "config" / "sequences", ROOT / "config" / "stepmail.yaml",
                             ROOT / "config" / "scoring.yaml")
            boto3.client("sesv2").create_email_identity(EmailIdentity="info@example.co.jp")
            yield {"state_machine": machines["StepmailStateMachine"], "clock": clock, "s3": s3, "bucket": bucket}
        finally:
            handler_clock.set_source(None)
            stack_clock.install(None)
            moto_patches.route_lambda(None)
            if previous is None:
                default_user_config.pop("stepfunctions", None)
            else:
                default_user_config["stepfunctions"] = previous
            os.environ.clear()
            os.environ.update(saved)
            reset_caches()


def execute(engine: dict[str, Any], steps: int, email: str) -> dict[str, Any]:
    """Enroll a new lead in an N-step sequence and run its execution to the end."""
    import boto3

    from reawake.enrollment import enroll
    from reawake.leads import Lead, new_lead_id
    from reawake.local.stepfunctions import wait_for
    from reawake.settings import get_settings
    from reawake.stepmail_api import sequence_config
    from reawake.stepmail_store import ExecutionStarter, StepmailStore
    from reawake.store import Store

    sequence_id = f"bench-{steps}-steps"
    engine["s3"].put_object(Bucket=engine["bucket"], Key=f"config/sequences/{sequence_id}.yaml",
                            Body=sequence_yaml(steps).encode())
    config = sequence_config()
    config._listed_at = -1e18  # list the bucket again
    now = engine["clock"].now_ms()
    store = Store(get_settings().table_name)
    lead = Lead(lead_id=new_lead_id(), email=email, registered_at=now - 400 * 86_400_000, name="山田 太郎")
    store.save_lead(lead, None)
    lead = store.get_lead(lead.lead_id) or lead
    sfn = boto3.client("stepfunctions")
    outcome = enroll(StepmailStore(store), ExecutionStarter(engine["state_machine"], sfn), config.sequences(), lead,
                     sequence_id, None, now, now)
    assert outcome.execution_name, outcome
    arn = f"{engine['state_machine'].replace(':stateMachine:', ':execution:')}:{outcome.execution_name}"
    began = time.perf_counter()
    described = wait_for(sfn, arn, timeout=120, poll=0.05)
    elapsed = time.perf_counter() - began
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    claims = StepmailStore(store).claims(lead.lead_id)
    return {
        "status": described["status"],
        "output": json.loads(described.get("output") or "{}"),
        "transitions": len(entered),
        "sent": sum(1 for c in claims if c.status == "sent"),
        "states": [e["stateEnteredEventDetails"]["name"] for e in entered],
        "seconds": elapsed,
    }


def run() -> dict[str, float]:
    with running_engine() as engine:
        result = execute(engine, STEPS, "bench.stepmail@example.co.jp")
        longer = execute(engine, 2 * STEPS, "bench.stepmail.6@example.co.jp")
    per_step = result["transitions"] / max(result["sent"], 1)
    marginal = (longer["transitions"] - result["transitions"]) / max(longer["sent"] - result["sent"], 1)
    cost = per_step * 1000 / 1000 * USD_PER_1000_TRANSITIONS
    report("Step mail: state transitions per sent step (Step Functions Standard)", [
        (f"{STEPS}-step sequence", f"{result['transitions']} transitions for {result['sent']} mails "
                                   f"({result['status']}, {result['seconds']:.1f} s, clock jumping)"),
        ("states entered", " → ".join(result["states"])),
        ("per sent step", f"{per_step:.2f} (each further step: {marginal:.2f}; goal <= {GOAL:g})"),
        ("cost per 1,000 sent mails", f"${cost:.3f} (${USD_PER_1000_TRANSITIONS} per 1,000 transitions)"),
    ])
    return {"transitions_per_step": per_step, "marginal": marginal, "usd_per_1000_mails": cost}


if __name__ == "__main__":
    run()
