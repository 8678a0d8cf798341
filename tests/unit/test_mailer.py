"""The one mailer (``reawake.mail.mailer``): what each feature's parameters put in the SESv2 call, and
which SES errors mean "certainly not sent". The SES client here records the calls; the component
tests send through moto's SES."""

from __future__ import annotations

import email
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from reawake.mail.mailer import NotSent, SesMailer, outgoing
from reawake.mail.render import RenderedEmail

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = 1_796_176_205_000


class RecordingSes:
    def __init__(self, error: ClientError | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MessageId": f"ses-{len(self.calls)}"}


def error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "SendEmail")


def rendered(unsubscribe: str = "") -> RenderedEmail:
    return RenderedEmail(subject="ご案内", from_addr="サンプル株式会社 <info@example.co.jp>", preheader="",
                         html="<p>本文</p>", text="本文", message_id="m-1", unsubscribe_url=unsubscribe)


def test_step_mail_goes_through_its_configuration_set_with_tags_and_one_click_unsubscribe() -> None:
    ses = RecordingSes()
    mail = outgoing(rendered("https://api.example.jp/u/x"), "山田 太郎 様 <lead@example.jp>", now_ms=NOW, tz=TOKYO,
                    headers={"X-SES-CONFIGURATION-SET": "reawake-mail"})
    assert SesMailer("reawake-mail", client=ses).send(mail, {"sequence": "win-back"}) == "ses-1"
    (call,) = ses.calls
    assert call["Destination"] == {"ToAddresses": ["lead@example.jp"]}, "the address; the name is in the To header"
    assert call["ConfigurationSetName"] == "reawake-mail"
    assert call["EmailTags"] == [{"Name": "sequence", "Value": "win-back"}]
    assert "FromEmailAddress" not in call, "SES reads the message's From"
    message = email.message_from_bytes(call["Content"]["Raw"]["Data"])
    assert message["List-Unsubscribe"] == "<https://api.example.jp/u/x>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-SES-CONFIGURATION-SET"] == "reawake-mail"


def test_mail_to_our_own_people_names_the_verified_sender_and_no_configuration_set() -> None:
    ses = RecordingSes()
    mail = outgoing(rendered(), "sato.kenji@example.co.jp", now_ms=NOW, tz=TOKYO, from_address="info@example.co.jp")
    SesMailer(client=ses).send(mail)
    (call,) = ses.calls
    assert call["FromEmailAddress"] == "info@example.co.jp"
    assert call["Destination"] == {"ToAddresses": ["sato.kenji@example.co.jp"]}
    assert "ConfigurationSetName" not in call and "EmailTags" not in call
    assert "List-Unsubscribe" not in email.message_from_bytes(call["Content"]["Raw"]["Data"])


@pytest.mark.parametrize(("code", "status", "throttled"), [
    ("TooManyRequestsException", 429, True),
    ("LimitExceededException", 400, True),
    ("MessageRejected", 400, False),
])
def test_an_error_after_which_nothing_was_sent_is_not_sent(code: str, status: int, throttled: bool) -> None:
    mail = outgoing(rendered(), "lead@example.jp", now_ms=NOW, tz=TOKYO)
    with pytest.raises(NotSent) as refused:
        SesMailer(client=RecordingSes(error(code, status))).send(mail)
    assert refused.value.throttled is throttled


def test_a_server_error_may_have_sent_and_is_raised_as_it_is() -> None:
    mail = outgoing(rendered(), "lead@example.jp", now_ms=NOW, tz=TOKYO)
    with pytest.raises(ClientError) as raised:
        SesMailer(client=RecordingSes(error("InternalFailure", 500))).send(mail)
    assert not isinstance(raised.value, NotSent)
