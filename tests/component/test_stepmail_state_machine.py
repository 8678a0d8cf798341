"""The real send-slot state machine (moto's executing Step Functions, the step-mail function as its
Lambda task, the Distributed Map reading the slot's manifest from S3): one slot sends every due
first mail once, in 4 + one-per-batch state transitions; an empty slot costs 3; running the same
slot again sends nothing more."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench.stepmail import SLOT, START, enroll_leads, run_slot, running_engine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with running_engine() as found:
        yield found


def mails_by_address() -> Counter[str]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    found: Counter[str] = Counter()
    for message in ses_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sent_messages:
        for address in getattr(message, "destinations", []) or []:
            found[address] += 1
    return found


def test_a_slot_sends_every_due_first_mail_once_within_a_few_transitions(engine: Any) -> None:
    emails = enroll_leads(engine, 12, "sm.slot.")

    empty = run_slot(engine, START, "before-the-window")
    slot = run_slot(engine, SLOT, "ten-o-clock")
    replay = run_slot(engine, SLOT, "ten-o-clock-again")

    assert empty["status"] == slot["status"] == replay["status"] == "SUCCEEDED"
    assert empty["states"] == ["Collect", "AnythingDue", "Done"] and empty["transitions"] == 3
    assert slot["states"] == ["Collect", "AnythingDue", "SendBatches", "Done"]
    assert slot["batches"] == 1 and slot["transitions"] == 5
    sent = mails_by_address()
    assert all(sent[email] == 1 for email in emails), sent
    assert replay["batches"] == 0, "nothing is due any more: the same slot again sends nothing"
    assert engine["invocations"].count("batch") == 1
