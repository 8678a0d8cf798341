"""The local stack's outbox holds the sent mail; the emulator's SES does not keep a second copy in
memory (moto appends every message to ``sent_messages`` for good: 590 MB over two played days at
20,000 leads, the peak that put `reawake local` over 2 GB), nor in its registry of model instances
(``BaseModel`` keeps every one it made: ~15 KB a mail)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3

from reawake_tools.local.outbox import Outbox, list_outbox

SENDER = "info@example.co.jp"


def send(to: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, to, "ご案内"
    message.set_content("本文です。")
    boto3.client("sesv2").send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": [to]},
                                      Content={"Raw": {"Data": message.as_bytes()}})


def messages_in_memory() -> list[Any]:
    """Every mail object moto made that is still in memory, whoever holds it (its ``sent_messages``,
    its registry of model instances)."""
    import gc

    from moto.ses.models import RawMessage

    return [o for o in gc.get_objects() if isinstance(o, RawMessage)]


def kept_by_moto() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sent_messages)


def test_mail_the_outbox_wrote_is_not_kept_again_by_the_emulator(aws: Any, tmp_path: Path) -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    outbox = Outbox(tmp_path, lambda: 1_764_000_000_000)
    outbox.start()
    try:
        for n in range(3):
            send(f"lead{n}@example.jp")
    finally:
        outbox.stop()
    assert [m.to for m in list_outbox(tmp_path)] == [f"lead{n}@example.jp" for n in range(3)]
    assert kept_by_moto() == []
    assert [m for m in messages_in_memory() if "example.jp" in m.raw_data] == []

    send("after@example.jp")  # positive control: without an outbox, moto keeps what it sent
    assert ["after@example.jp" in m.raw_data for m in kept_by_moto()] == [True]
    assert ["after@example.jp" in m.raw_data for m in messages_in_memory()] == [True]
    assert len(list_outbox(tmp_path)) == 3
