"""Events: validated input models, and the normalized Event that is stored and aggregated."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reawake.core.dynamo import storable_number
from reawake.core.kinds import ActivityKind, BrowserKind
from reawake.core.urls import origin_of, web_url

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 50
MAX_PROPS = 20
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
PROP_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048)]


def _storable(value: Any) -> Any:
    """A number DynamoDB cannot hold exactly is refused, not rounded (docs/decisions.md, "Numbers")."""
    if isinstance(value, int | float) and not isinstance(value, bool) and not storable_number(value):
        raise ValueError(
            "a number must be finite, with at most 38 significant digits and a magnitude from 1E-130 to 1E+126"
        )
    return value


PropValue = Annotated[Annotated[str, StringConstraints(max_length=500)] | int | float | bool, AfterValidator(_storable)]
Props = Annotated[
    dict[Annotated[str, StringConstraints(pattern=PROP_KEY_PATTERN)], PropValue], Field(max_length=MAX_PROPS)
]
Timestamp = int | AwareDatetime  # epoch milliseconds, or ISO 8601 with an offset


def _no_control_chars(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL_CHARS.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _absolute_http_url(value: str | None) -> str | None:
    if value is not None and not origin_of(value):
        raise ValueError("must be an absolute http(s) URL")
    return value


def to_epoch_ms(ts: Timestamp) -> int:
    if isinstance(ts, datetime):
        return int(ts.timestamp() * 1000)
    return ts


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BrowserEventIn(StrictModel):
    id: Id
    type: BrowserKind
    ts: Timestamp
    visitor_id: Id
    url: Url
    referrer: Annotated[str, StringConstraints(max_length=2048)] | None = None
    props: Props = Field(default_factory=dict)

    _check_url = field_validator("url")(_absolute_http_url)
    _check_text = field_validator("referrer", mode="before")(_no_control_chars)

    @field_validator("props")
    @classmethod
    def _check_props(cls, props: dict[str, Any]) -> dict[str, Any]:
        for value in props.values():
            _no_control_chars(value)
        return props


class EventBatchIn(StrictModel):
    events: Annotated[list[BrowserEventIn], Field(min_length=1, max_length=MAX_BATCH)]


class ConsentIn(StrictModel):
    marketing_email: bool
    text: Annotated[str, StringConstraints(max_length=1000)] | None = None
    source_url: Url | None = None


class IdentifyIn(StrictModel):
    """Either a signed identify token (arrival from an email link) or an email (a form submit)."""

    visitor_id: Id
    token: Annotated[str, StringConstraints(max_length=2048)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    company: Annotated[str, StringConstraints(max_length=200)] | None = None
    consent: ConsentIn | None = None

    _check_text = field_validator("name", "company", mode="before")(_no_control_chars)


class ActivityIn(StrictModel):
    email: Annotated[str, StringConstraints(max_length=254)]
    type: ActivityKind
    occurred_at: Timestamp
    id: Id | None = None
    url: Url | None = None
    props: Props = Field(default_factory=dict)

    _check_url = field_validator("url")(_absolute_http_url)


class ActivityBatchIn(StrictModel):
    activities: Annotated[list[ActivityIn], Field(min_length=1, max_length=MAX_BATCH)]


@dataclass(frozen=True)
class Event:
    """One thing a lead (or a not yet identified visitor) did, as stored and aggregated."""

    id: str
    kind: str
    ts: int  # epoch milliseconds
    source: str  # browser | pixel | email | activity
    visitor_id: str | None = None
    lead_id: str | None = None
    url: str | None = None
    referrer: str | None = None
    props: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    user_agent: str | None = None
    revisit: bool = False
    # Set when the request was not a person looking: prefetch, prerender, preview, head (alerts skip it).
    fetch_purpose: str | None = None

    @property
    def site(self) -> str | None:
        return origin_of(self.url) or None if self.url else None

    @property
    def path(self) -> str | None:
        """The path a browser requests (``/a/%2e%2e/b`` is ``/b``)."""
        parsed = web_url(self.url) if self.url else None
        return (parsed.path or "/") if parsed else None

    @property
    def topic(self) -> str | None:
        topic = self.props.get("topic")
        return str(topic) if topic else None

    @property
    def campaign(self) -> str | None:
        if self.props.get("campaign"):
            return str(self.props["campaign"])
        parsed = web_url(self.url) if self.url else None
        if parsed:
            values = parse_qs(parsed.query).get("utm_campaign")
            if values:
                return values[0][:100]
        return None

    def for_lead(self, lead_id: str, revisit: bool = False) -> Event:
        return replace(self, lead_id=lead_id, revisit=revisit)
