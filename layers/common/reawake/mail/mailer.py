"""The one mailer: the port every feature sends mail through (step mail, revisit alerts, call lists)
and its SESv2 adapter.

A feature renders its mail (``reawake.mail.render`` / ``.transactional``), builds the raw message
with ``outgoing`` and hands it to a ``Mailer``. What differs between the features is a parameter,
not another sender:
- the configuration set (step mail's: SES then records deliveries, bounces and complaints; a
  mail to our own people has none) — ``SesMailer(configuration_set=...)``, and the role must
  allow ``ses:SendEmail`` on it (template.yaml, checked by ``reawake_tools.local.iam``);
- extra headers (``outgoing(headers=...)``; ``List-Unsubscribe`` comes from the rendered mail);
- the verified sender SES checks the role against (``from_address``; without it SES reads the
  message's From);
- message tags (``send(tags=...)``: SES events carry them back to ``tracking.feedback``);
- step mail's metrics (``metrics=True``: MailsSent / MailsDeferred / MailsFailed).

Tests use ``tests.fakes.FakeMailer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from reawake.mail.mime import build_message, split_address
from reawake.mail.render import RenderedEmail

#: SES errors after which nothing was sent (HTTP 4xx); the throttling ones are retried slower.
THROTTLING = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}


@dataclass(frozen=True)
class Outgoing:
    """A mail ready to go: the raw MIME message, its recipient and subject (for logs and tests),
    and the verified sender to send it as ("" = the message's From)."""

    raw: bytes
    to: str
    subject: str
    from_address: str = ""


class NotSent(Exception):
    """The provider certainly did not send (throttled=True: a rate limit; try again slower)."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class Mailer(Protocol):
    def send(self, mail: Outgoing, tags: Mapping[str, str] | None = None) -> str:
        """Send; the provider's message id. Raises NotSent when it certainly did not send."""


def outgoing(rendered: RenderedEmail, to: str, *, now_ms: int, tz: ZoneInfo, headers: Mapping[str, str] | None = None,
             from_address: str = "") -> Outgoing:
    """The raw message of a rendered mail (``reawake.mail.mime``), ready for a ``Mailer``. ``to``: the
    To header (``山田 太郎 様 <a@b>`` or ``a@b``); the mail goes to its address."""
    raw = build_message(rendered, to, headers=dict(headers or {}), now_ms=now_ms, tz=tz)
    return Outgoing(raw, split_address(to)[1], rendered.subject, from_address)


class SesMailer:
    """``Mailer`` through SESv2 ``SendEmail`` with raw content (the client is this container's)."""

    def __init__(self, configuration_set: str = "", *, metrics: bool = False, client: Any = None) -> None:
        self.configuration_set = configuration_set
        self.metrics = metrics
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from reawake.core.aws import client

            self._client = client("sesv2")
        return self._client

    def _count(self, name: str) -> None:
        if self.metrics:
            from reawake.observability import count

            count(name)

    def send(self, mail: Outgoing, tags: Mapping[str, str] | None = None) -> str:
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {"Destination": {"ToAddresses": [mail.to]}, "Content": {"Raw": {"Data": mail.raw}}}
        if mail.from_address:
            args["FromEmailAddress"] = mail.from_address
        if tags:
            args["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        if self.configuration_set:
            args["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in THROTTLING or status == 429:
                self._count("MailsDeferred")
                raise NotSent(f"{code}: {exc}", throttled=True) from exc
            self._count("MailsFailed")
            if 400 <= status < 500:
                raise NotSent(f"{code}: {exc}") from exc
            raise
        self._count("MailsSent")
        return str(response.get("MessageId", ""))
