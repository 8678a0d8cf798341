"""Step mail by send slot: what one slot costs and how fast it hands mail to SES.

The real send-slot state machine runs in moto's executing Step Functions with the real step-mail
function as its Lambda task (in-process). ``LEADS`` leads are enrolled in the webinar sequence with
their first mail due in the same slot (Monday 10:00 JST); one slot execution sends them all.

- State transitions per 1,000 sent mails: the slot execution's ``*StateEntered`` events plus one
  per child workflow the Distributed Map starts (how AWS bills a Distributed Map). Goal <= 50.
- Lambda invocations per 1,000 sent mails (collect + one per batch).
- Mails handed to SES per second within the slot vs the same number of bare SESv2 raw sends in
  the same run (the baseline): the ratio is the slot's overhead per mail (rendering, decide,
  claims, due times). The same as CPU seconds of this process per mail (the emulator and the
  handlers run in it), which other work on a shared machine disturbs less than wall time.
- Cost per 1,000 mails (ap-northeast-1 list prices; Lambda time from this run, an upper bound).
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
SLOT = datetime(2026, 11, 30, 10, 0, tzinfo=TOKYO)  # the first send slot in the window
LEADS = 1000
GOAL = 50.0  # transitions per 1,000 mails
USD_PER_1000_TRANSITIONS = 0.025
USD_PER_MILLION_EXPRESS_REQUESTS = 1.00
USD_PER_EXPRESS_GB_S = 0.00001667  # first 1,000 hours a month; 64 MB billed per child
USD_PER_LAMBDA_GB_S = 0.0000133334  # arm64
USD_PER_MILLION_LAMBDA_REQUESTS = 0.20
USD_PER_1000_SES = 0.10
LAMBDA_GB = 0.5  # StepmailFunction: 512 MB


@contextmanager
def running_engine() -> Iterator[dict[str, Any]]:
    """moto in-process executing Step Functions, the template's functions as its Lambda tasks
    (invocations counted), the config uploaded, the sender verified, the handlers' clock at START."""
    import boto3
    from moto.core.config import default_user_config

    from bench.common import emulated_stack
    from reawake.core import clock as handler_clock
    from reawake.mail.templates import DirectoryTemplateStore, upload_templates
    from reawake.segments.definitions import upload_config
    from reawake.stepmail.store import upload_sequences
    from reawake_tools.local import moto_patches
    from reawake_tools.local.connect import reset_caches
    from reawake_tools.local.lambdas import Functions
    from reawake_tools.local.stepfunctions import create_state_machines, register_functions
    from reawake_tools.local.template import function_environment, load_template, resources_of

    saved = dict(os.environ)
    previous = default_user_config.get("stepfunctions")
    invocations: list[str] = []
    with emulated_stack() as created:
        default_user_config["stepfunctions"] = {"execute_state_machine": True}  # type: ignore[typeddict-item]
        template = load_template()
        functions = Functions(template)

        def counted(name: str, event: Any) -> tuple[str, bool, str]:
            invocations.append(str((event or {}).get("action")))
            return functions.invoke_result(name, event)

        moto_patches.route_lambda(counted)
        now = {"ms": int(START.timestamp() * 1000)}
        handler_clock.set_source(lambda: now["ms"])
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
            yield {"state_machine": machines["SendSlotStateMachine"], "now": now, "invocations": invocations,
                   "created": created}
        finally:
            handler_clock.set_source(None)
            moto_patches.route_lambda(None)
            if previous is None:
                default_user_config.pop("stepfunctions", None)
            else:
                default_user_config["stepfunctions"] = previous
            os.environ.clear()
            os.environ.update(saved)
            reset_caches()


def enroll_leads(engine: dict[str, Any], count: int, prefix: str, sequence: str = "webinar-invite") -> list[str]:
    """``count`` new leads enrolled at START (their first mail is due at SLOT); their emails."""
    from reawake.core.leads import Lead
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake.stepmail.enrollment import ENROLLED, enroll
    from reawake.stepmail.entry import scoring, sequence_config
    from reawake.stepmail.store import StepmailStore

    store = Store(get_settings().table_name)
    stepmail, config = StepmailStore(store), sequence_config()
    sequences, settings, now = config.sequences(), config.settings(), engine["now"]["ms"]
    emails = []
    for number in range(count):
        email = f"{prefix}{number}@example.co.jp"
        lead = Lead(lead_id=store.claim_lead_id(email), email=email, registered_at=now - 400 * 86_400_000,
                    name="山田 太郎")
        store.save_lead(lead, None)
        outcome = enroll(stepmail, sequences, store.get_lead(lead.lead_id) or lead, sequence, None, now, now,
                         settings, scoring())
        assert outcome.status == ENROLLED, outcome
        emails.append(email)
    return emails


def run_slot(engine: dict[str, Any], moment: datetime, name: str) -> dict[str, Any]:
    """One execution of the send-slot state machine for ``moment``; its transitions and timing."""
    import boto3

    from reawake_tools.local.stepfunctions import wait_for

    sfn = boto3.client("stepfunctions")
    engine["now"]["ms"] = int(moment.timestamp() * 1000)
    began, cpu = time.perf_counter(), time.process_time()
    arn = sfn.start_execution(stateMachineArn=engine["state_machine"], name=name,
                              input=json.dumps({"now": moment.isoformat()}))["executionArn"]
    described = wait_for(sfn, arn, timeout=1800, poll=0.05)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    collect = next((json.loads(e["taskSucceededEventDetails"]["output"])["Payload"] for e in events
                    if e["type"] == "TaskSucceeded"), {})
    batches = int(collect.get("batches", 0))
    return {"status": described["status"], "states": [e["stateEnteredEventDetails"]["name"] for e in entered],
            "transitions": len(entered) + batches, "batches": batches, "seconds": seconds, "cpu": cpu}


def bare_ses_sends(count: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for ``count`` bare SESv2 raw sends of a small
    message (the same emulator)."""
    import boto3

    client = boto3.client("sesv2")
    raw = b"From: info@example.co.jp\r\nTo: bare@example.co.jp\r\nSubject: bench\r\n\r\nbody\r\n"
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        client.send_email(Destination={"ToAddresses": ["bare@example.co.jp"]}, Content={"Raw": {"Data": raw}})
    return time.perf_counter() - began, time.process_time() - cpu


def sent_count() -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return sum(1 for m in ses_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sent_messages
               if "bare@" not in str(getattr(m, "destinations", "")))


def run(leads: int = LEADS) -> dict[str, float]:
    with running_engine() as engine:
        enroll_leads(engine, leads, "bench.slot.")
        empty = run_slot(engine, START, "empty-slot")
        before = len(engine["invocations"])
        sent_before = sent_count()
        slot = run_slot(engine, SLOT, "first-mails")
        sent = sent_count() - sent_before
        invocations = len(engine["invocations"]) - before
        bare, bare_cpu = bare_ses_sends(sent)
    per_1000 = 1000 / max(sent, 1)
    transitions = slot["transitions"] * per_1000
    lambdas = invocations * per_1000
    rate, bare_rate = sent / slot["seconds"], sent / bare
    lambda_s = slot["seconds"] * per_1000  # everything the slot did, charged to the Lambda: an upper bound
    batches = slot["batches"] * per_1000
    cost = {
        "Step Functions (Standard parent)": transitions * USD_PER_1000_TRANSITIONS / 1000,
        "Express children": batches * USD_PER_MILLION_EXPRESS_REQUESTS / 1e6
        + (lambda_s / max(batches, 1)) * batches * 0.0625 * USD_PER_EXPRESS_GB_S,
        "Lambda": lambdas * USD_PER_MILLION_LAMBDA_REQUESTS / 1e6 + lambda_s * LAMBDA_GB * USD_PER_LAMBDA_GB_S,
        "SES": USD_PER_1000_SES,
    }
    total = sum(cost.values())
    report("Step mail by send slot: one slot's cost and throughput", [
        ("slot", f"{sent} first mails in one slot ({slot['status']}, {slot['batches']} batches, "
                 f"{slot['seconds']:.1f} s): {' → '.join(dict.fromkeys(slot['states']))}"),
        ("empty slot", f"{empty['transitions']} transitions ({' → '.join(empty['states'])}), 1 Lambda invocation"),
        ("transitions per 1,000 mails", f"{transitions:.1f} (goal <= {GOAL:g}; was 4,000 with one execution per "
                                        "lead)"),
        ("Lambda invocations per 1,000 mails", f"{lambdas:.1f}"),
        ("mails handed to SES per second", f"{rate:.1f} in the slot vs {bare_rate:.1f} bare SESv2 sends "
                                           f"→ ratio {bare_rate / rate:.1f}x"),
        ("CPU per mail (this process)", f"{1000 * slot['cpu'] / max(sent, 1):.1f} ms in the slot vs "
                                        f"{1000 * bare_cpu / max(sent, 1):.1f} ms a bare send → ratio "
                                        f"{slot['cpu'] / max(bare_cpu, 1e-9):.1f}x (the emulator runs in this "
                                        "process: steadier than wall time on a shared machine)"),
        ("cost per 1,000 mails", f"${total:.4f} = " + " + ".join(f"{k} ${v:.5f}" for k, v in cost.items())),
    ])
    return {"transitions_per_1000": transitions, "lambdas_per_1000": lambdas, "mails_per_s": rate,
            "bare_ses_per_s": bare_rate, "ratio": bare_rate / rate, "cpu_ratio": slot["cpu"] / max(bare_cpu, 1e-9),
            "usd_per_1000_mails": total}


if __name__ == "__main__":
    import sys

    run(int(sys.argv[1]) if len(sys.argv) > 1 else LEADS)
