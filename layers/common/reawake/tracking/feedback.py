"""SES feedback (bounces, complaints, deliveries) arriving through SNS: validated, then turned
into email events on the lead; a hard bounce or a complaint suppresses the lead for good.

Both shapes SES publishes are accepted: configuration-set event publishing (``eventType``) and
identity notifications (``notificationType``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reawake.core.events import Event
from reawake.core.normalize import normalize_email


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Recipient(_Loose):
    emailAddress: str


class Bounce(_Loose):
    bounceType: str
    bouncedRecipients: list[Recipient]


class Complaint(_Loose):
    complainedRecipients: list[Recipient]


class Delivery(_Loose):
    recipients: list[str] = Field(default_factory=list)


class Mail(_Loose):
    messageId: str
    timestamp: str | None = None
    destination: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)


class SesNotification(_Loose):
    eventType: str | None = None
    notificationType: str | None = None
    mail: Mail
    bounce: Bounce | None = None
    complaint: Complaint | None = None
    delivery: Delivery | None = None

    @property
    def kind(self) -> str:
        return (self.eventType or self.notificationType or "").lower()


@dataclass(frozen=True)
class Feedback:
    email: str  # the lead is looked up by it (``Store.lead_id_of``)
    event: Event
    suppress: str | None  # "bounce" | "complaint" | None


class BadNotification(ValueError):
    pass


def parse(message: str) -> SesNotification:
    try:
        return SesNotification.model_validate(json.loads(message))
    except (ValueError, ValidationError) as exc:
        raise BadNotification(f"not an SES notification: {type(exc).__name__}") from exc


def feedback_of(notification: SesNotification, now_ms: int) -> list[Feedback]:
    """One Feedback per affected recipient; nothing for kinds we do not track (send, open, ...)."""
    kind = notification.kind
    if kind == "bounce" and notification.bounce:
        permanent = notification.bounce.bounceType == "Permanent"
        recipients = [r.emailAddress for r in notification.bounce.bouncedRecipients]
        event_kind, reason = "email_bounce", ("bounce" if permanent else None)
        props: dict[str, Any] = {"bounce_type": notification.bounce.bounceType}
    elif kind == "complaint" and notification.complaint:
        recipients = [r.emailAddress for r in notification.complaint.complainedRecipients]
        event_kind, reason, props = "email_complaint", "complaint", {}
    elif kind == "delivery":
        recipients = (
            notification.delivery.recipients if notification.delivery else []
        ) or notification.mail.destination
        event_kind, reason, props = "email_delivery", None, {}
    else:
        return []
    message_ids = notification.mail.tags.get("message_id", [])
    out = []
    for raw in recipients:
        try:
            email = normalize_email(raw.split("<")[-1].rstrip(">"))
        except ValueError:
            continue
        digest = hashlib.sha256(f"{event_kind}|{notification.mail.messageId}|{email}".encode()).hexdigest()[:31]
        event = Event(
            id="f" + digest,
            kind=event_kind,
            ts=now_ms,
            source="ses",
            message_id=message_ids[0].replace(".", ":") if message_ids else None,  # SES tags allow no ":"
            props={**props, "ses_message_id": notification.mail.messageId},
        )
        out.append(Feedback(email, event, reason))
    return out
