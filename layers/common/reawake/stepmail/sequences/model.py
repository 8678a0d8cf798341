"""Step-mail sequences and the global step-mail settings: pydantic models of the YAML files.

One sequence per file, ``config/sequences/<id>.yaml`` (the id is the file name; an ``id:`` key,
when written, must match it)::

    name: ウェビナー案内              # shown to people
    description: ...
    send_window: {holidays: false}     # optional: overrides fields of stepmail.yaml's window
    exit:                              # unsubscribe, bounce and complaint always end it
      revisit: true                    # default true
      conversion: [conversion]         # event kinds that count as converting (default)
      segment_left: false              # default false
    steps:
      - template: useful-content       # kind: email (the default)
      - template: case-study
        delay: 6d                      # after the previous step (default), or
        after: previous                #   after: enrollment
        when: {previous: opened, band: [warm, cold]}
      - kind: owner_task               # asks the lead's owner to call (a task, not a mail)
        task: call
        delay: 3d

``config/stepmail.yaml`` holds the defaults: the time zone of leads without one, the send
window (days, hours, Japanese holidays, extra closed dates) and the per-lead frequency cap.
Loading either reports every problem with file, line, YAML path and what is wrong
(``reawake.core.yamlfile``).

Semantics worth knowing (the runtime rules are in ``decide.py``):

- ``delay`` is a duration (``3d``, ``2w``, ``1mo``, ``12h``; ``0d`` or no delay = at once),
  counted on the lead's wall clock (``calendar.later``).
- ``when`` conditions all have to hold; ``previous`` is the last mail this enrollment *sent*
  (skipped steps and owner tasks are passed over).
- ``previous: clicked`` is refused while ``exit.revisit`` is on: a click lands on the site, and
  a visit (the click itself is one) ends the sequence first, so the step could never be sent.
- Times in the window are ``"HH:MM"``; unquoted ``10:00`` (which YAML 1.1 reads as the number
  600) is understood too. ``end`` may be ``"24:00"``; windows do not cross midnight.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, StringConstraints, model_validator

from reawake.core.durations import Duration, DurationField, parse_duration
from reawake.core.kinds import ALL_KINDS
from reawake.core.yamlfile import ID_PATTERN

DEFAULT_TIME_ZONE = "Asia/Tokyo"
MAX_STEPS = 20

DAY_NAMES: dict[str, int] = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "月": 0, "火": 1, "水": 2, "木": 3, "金": 4, "土": 5, "日": 6,
}  # fmt: skip
DAY_LABELS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PREVIOUS_CONDITIONS = ("opened", "not_opened", "clicked", "not_clicked")
ALWAYS_EXITS = ("unsubscribe", "unsubscribed", "bounce", "complaint", "suppressed")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- field types ---------------------------------------------------------------------------------


def _weekday(value: object) -> int:
    text = unicodedata.normalize("NFKC", value).strip().lower() if isinstance(value, str) else value
    if isinstance(text, str):
        text = text.removesuffix("曜日").removesuffix("曜")
        if text[:3] in DAY_NAMES and (len(text) == 3 or text in ("monday", "tuesday", "wednesday", "thursday",
                                                                 "friday", "saturday", "sunday")):
            return DAY_NAMES[text[:3]]
        if text in DAY_NAMES:
            return DAY_NAMES[text]
    raise ValueError(f"{value!r} is not a day; write mon, tue, wed, thu, fri, sat, sun (or 月 火 水 木 金 土 日)")


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def _clock(value: object) -> int:
    """``"10:00"`` -> 600 (minutes after midnight). YAML 1.1 reads an unquoted ``10:00`` as the
    base-60 number 600, which is the same value; a bare ``10`` is refused (10 o'clock or 00:10?)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 60 <= value <= 24 * 60:
            return value
        raise ValueError(f"{value!r} is not a time of day; write it as 'HH:MM', e.g. '10:00'")
    if isinstance(value, str):
        match = _CLOCK.match(unicodedata.normalize("NFKC", value).strip())
        if match:
            hours, minutes = int(match.group(1)), int(match.group(2))
            if minutes < 60 and (hours < 24 or (hours == 24 and minutes == 0)):
                return hours * 60 + minutes
    raise ValueError(f"{value!r} is not a time of day; write it as 'HH:MM', e.g. '10:00' (up to '24:00')")


def _date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(unicodedata.normalize("NFKC", value).strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-29")


def _time_zone(value: object) -> str:
    if isinstance(value, str) and value.strip():
        try:
            ZoneInfo(value.strip())
            return value.strip()
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ValueError(f"{value!r} is not a time zone; write an IANA name such as Asia/Tokyo")


def _delay(value: object) -> Duration | None:
    """A step's delay: a duration, or ``0d`` / ``0`` / nothing for "at once"."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        match = re.match(r"^0+\s*(\D+)$", text)
        if match:
            parse_duration("1" + match.group(1))  # the unit must still be a unit
            return None
    return parse_duration(value)


def _kinds(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _event_kind(value: object) -> str:
    if isinstance(value, str) and value in ALL_KINDS:
        return value
    raise ValueError(f"unknown event kind {value!r}; known kinds: {', '.join(sorted(ALL_KINDS))}")


Weekday = Annotated[int, PlainValidator(_weekday)]
ClockMinutes = Annotated[int, PlainValidator(_clock)]
Day = Annotated[date, PlainValidator(_date)]
TimeZoneName = Annotated[str, PlainValidator(_time_zone)]
Delay = Annotated[Duration | None, PlainValidator(_delay)]
EventKind = Annotated[str, PlainValidator(_event_kind)]
SequenceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
BandName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=2000)]


# --- send window, cap, settings ------------------------------------------------------------------


class SendWindow(_Model):
    """When mail may go, on the lead's wall clock: these weekdays, from ``start`` (inclusive) to
    ``end`` (exclusive), except Japanese public holidays (unless ``holidays: false``) and the
    ``closed`` dates (e.g. 年末年始)."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7, strict=False)] = (0, 1, 2, 3, 4)
    start: ClockMinutes = 10 * 60
    end: ClockMinutes = 18 * 60
    holidays: bool = True
    closed: Annotated[tuple[Day, ...], Field(max_length=400, strict=False)] = ()

    @model_validator(mode="after")
    def _sane(self) -> SendWindow:
        check_window(self)
        return self

    def describe(self) -> str:
        days = ",".join(DAY_LABELS[d] for d in sorted(self.days))
        extra = ", Japanese holidays off" if self.holidays else ", holidays included"
        closed = f", {len(self.closed)} closed date(s)" if self.closed else ""
        return f"{days} {clock_text(self.start)}–{clock_text(self.end)}{extra}{closed}"


class SendWindowOverride(_Model):
    """A sequence's changes to the default window: the fields it names replace the defaults
    (``closed:`` replaces the whole list; ``holidays: false`` is the opt-out from Japanese holidays)."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7, strict=False)] | None = None
    start: ClockMinutes | None = None
    end: ClockMinutes | None = None
    holidays: bool | None = None
    closed: Annotated[tuple[Day, ...], Field(max_length=400, strict=False)] | None = None

    @model_validator(mode="after")
    def _sane(self) -> SendWindowOverride:
        if self.start is not None and self.end is not None:
            check_window(SendWindow.model_construct(start=self.start, end=self.end))
        if self.days is not None and len(set(self.days)) != len(self.days):
            raise ValueError("days: a day is listed twice")
        return self

    def over(self, base: SendWindow) -> SendWindow:
        """``base`` with this override's fields; ValueError when the result is not a window."""
        changes = {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}
        merged = base.model_copy(update=changes)
        check_window(merged)
        return merged


def check_window(window: SendWindow) -> None:
    if len(set(window.days)) != len(window.days):
        raise ValueError("days: a day is listed twice")
    if window.start >= window.end:
        raise ValueError(
            f"start ({clock_text(window.start)}) must be before end ({clock_text(window.end)}); "
            "a window cannot cross midnight"
        )


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class FrequencyCap(_Model):
    """At most ``max`` mails to one lead (all sequences together) in any ``per``-long stretch."""

    max: Annotated[int, Field(ge=1, le=100)]
    per: DurationField


class StepmailSettings(_Model):
    time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    send_window: SendWindow = SendWindow()
    frequency_cap: FrequencyCap | None = FrequencyCap(max=2, per=Duration(7, "d"))
    #: At least this long between two mails to one person, whatever their sequences (None: no gap).
    min_gap: Delay = Duration(1, "d")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


# --- sequences ------------------------------------------------------------------------------------


class When(_Model):
    """Conditions a step needs (all of them); when one fails the step is skipped."""

    previous: Literal["opened", "not_opened", "clicked", "not_clicked"] | None = None
    band: Annotated[tuple[BandName, ...], BeforeValidator(_kinds), Field(min_length=1, strict=False)] | None = None


class Exits(_Model):
    """What ends an enrollment early. Unsubscribe, suppression (hard bounce, complaint) and a
    withdrawn consent always do and cannot be turned off."""

    revisit: bool = True
    conversion: Annotated[tuple[EventKind, ...], BeforeValidator(_kinds), Field(strict=False)] = ("conversion",)
    segment_left: bool = False

    @model_validator(mode="before")
    @classmethod
    def _always(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ALWAYS_EXITS:
                if key in data:
                    raise ValueError(
                        f"{key!r}: unsubscribes, hard bounces and complaints always end a sequence; "
                        "there is nothing to configure (remove the key)"
                    )
        return data


class Step(_Model):
    kind: Literal["email", "owner_task"] = "email"
    name: Text | None = None
    template: TemplateName | None = None
    task: Literal["call"] | None = None
    note: LongText | None = None
    delay: Delay = None
    after: Literal["previous", "enrollment"] = "previous"
    when: When | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        """``task: call`` alone means an owner task; an owner task without ``task`` is a call."""
        if isinstance(data, dict):
            if "kind" not in data and "task" in data and "template" not in data:
                data = {**data, "kind": "owner_task"}
            if data.get("kind") == "owner_task" and "task" not in data:
                data = {**data, "task": "call"}
        return data

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Step:
        if self.kind == "email":
            if self.template is None:
                raise ValueError("an email step needs a template (templates/NAME.html.j2)")
            if self.task is not None:
                raise ValueError("task: is for kind: owner_task steps")
        else:
            if self.template is not None:
                raise ValueError("an owner_task step sends no mail: remove template:")
        return self

    @property
    def label(self) -> str:
        return self.template if self.kind == "email" and self.template else f"owner task: {self.task}"


class Sequence(_Model):
    id: SequenceId
    name: Text
    description: LongText | None = None
    send_window: SendWindowOverride | None = None
    exit: Exits = Exits()
    steps: Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]

    def window(self, settings: StepmailSettings) -> SendWindow:
        """This sequence's send window: the default with the sequence's changes."""
        return self.send_window.over(settings.send_window) if self.send_window else settings.send_window

    @property
    def templates(self) -> list[str]:
        return [s.template for s in self.steps if s.template is not None]


SEQUENCE_KEYS = {
    *Sequence.model_fields,
    *Step.model_fields,
    *When.model_fields,
    *Exits.model_fields,
    *SendWindow.model_fields,
}
SETTINGS_KEYS = {*StepmailSettings.model_fields, *SendWindow.model_fields, *FrequencyCap.model_fields}
