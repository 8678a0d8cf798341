"""Relative times for rules: ``90d``, ``2w``, ``3mo``, ``1y``, ``12h`` (also ``90日``, ``3か月``, ``1年``).

Semantics (one definition, used by the rules, the scoring half-life and the tests):

- ``h`` is elapsed time: ``now - 12h`` is exactly 12 × 3,600,000 ms earlier.
- ``d`` and ``w`` are calendar days on the wall clock of the configured time zone (Asia/Tokyo by
  default): ``now - 30d`` is the same local time 30 days earlier. In Japan (no daylight saving)
  that equals 30 × 24 h; in a zone with DST it keeps the local time of day.
- ``mo`` and ``y`` are calendar months and years in that time zone, clamped to the month end:
  ``2026-11-23 10:00 JST - 3mo = 2026-08-23 10:00 JST``; ``2026-05-31 - 3mo = 2026-02-28``;
  ``2028-02-29 - 1y = 2027-02-28``. A marketer's "直近3か月" means calendar months; fixed 30-day
  months would drift a day or two from the calendar every quarter.

``cutoff(d, now)`` is ``now - d``. Rules compare against it: *within* is ``t >= cutoff``
(inclusive), *older than* is ``t < cutoff`` (strict), so the two are exact complements.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import PlainSerializer, PlainValidator

Unit = Literal["h", "d", "w", "mo", "y"]
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_UNITS: dict[str, Unit] = {
    "h": "h",
    "時間": "h",
    "d": "d",
    "日": "d",
    "日間": "d",
    "w": "w",
    "週": "w",
    "週間": "w",
    "mo": "mo",
    "か月": "mo",
    "ヶ月": "mo",
    "カ月": "mo",
    "ケ月": "mo",
    "ヵ月": "mo",
    "箇月": "mo",
    "か月間": "mo",
    "ヶ月間": "mo",
    "カ月間": "mo",
    "y": "y",
    "年": "y",
    "年間": "y",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX: dict[Unit, int] = {"h": 24 * 3660, "d": 3660, "w": 523, "mo": 120, "y": 10}
_PATTERN = re.compile(r"^(\d+)\s*(\D+)$")
_APPROX_DAYS: dict[Unit, float] = {"h": 1 / 24, "d": 1, "w": 7, "mo": 31, "y": 366}


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def is_fixed(self) -> bool:
        """True when the length never depends on the calendar (hours; days and weeks in a zone
        without daylight saving are fixed too, but only hours are fixed everywhere)."""
        return self.unit in ("h", "d", "w")

    @property
    def max_days(self) -> float:
        """An upper bound of the length in days (months count 31, years 366)."""
        return self.amount * _APPROX_DAYS[self.unit]

    def fixed_ms(self) -> int:
        """The length in ms of an hours/days/weeks duration, days counted as 24 h."""
        per_unit = {"h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}
        if self.unit not in per_unit:
            raise ValueError(f"{self} has no fixed length (months and years follow the calendar)")
        return self.amount * per_unit[self.unit]


def parse_duration(value: object) -> Duration:
    """``"90d"`` -> Duration(90, "d"); a clear ValueError otherwise."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30d, 2w, 3mo, 1y or 12h")
    if isinstance(value, int):
        raise ValueError(f"{value} needs a unit: e.g. {value}d (days), {value}mo (months), {value}y (years)")
    text = unicodedata.normalize("NFKC", value).strip()
    match = _PATTERN.match(text)
    unit_text = match.group(2).strip() if match else ""
    if not match or unit_text not in _UNITS:
        hint = " (use mo for months)" if unit_text in ("m", "M", "min") else ""
        raise ValueError(f"{value!r} is not a duration{hint}; write e.g. 30d, 2w, 3mo, 1y or 12h")
    amount = int(match.group(1))
    unit = _UNITS[unit_text]
    if amount < 1 or amount > _MAX[unit]:
        raise ValueError(f"{value!r} is out of range: 1 to {_MAX[unit]}{unit}")
    return Duration(amount, unit)


# A Duration in a pydantic model: accepts "90d"-style text, serializes back to it.
DurationField = Annotated[Duration, PlainValidator(parse_duration), PlainSerializer(str, return_type=str)]


def _minus_months(local: datetime, months: int) -> datetime:
    index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def cutoff(duration: Duration, now_ms: int, tz: ZoneInfo) -> int:
    """``now - duration`` in epoch ms (see the module docstring for the calendar rules)."""
    if duration.unit == "h":
        return now_ms - duration.amount * HOUR_MS
    wall = to_local(now_ms, tz).replace(tzinfo=None)
    if duration.unit in ("d", "w"):
        wall = wall - timedelta(days=duration.amount * (7 if duration.unit == "w" else 1))
    else:
        wall = _minus_months(wall, duration.amount * (12 if duration.unit == "y" else 1))
    # Re-attach the zone: a wall time that does not exist (DST gap) resolves as fold=0 does.
    return to_epoch_ms(wall.replace(tzinfo=tz))


def to_local(ts_ms: int, tz: ZoneInfo) -> datetime:
    """Epoch ms -> an aware datetime in ``tz``, exact to the millisecond (no float rounding)."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).astimezone(tz)


def to_epoch_ms(moment: datetime) -> int:
    """An aware datetime -> epoch ms, exact (sub-millisecond parts are dropped)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_DATE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"  # date
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$"  # optional time, no offset
)


def parse_time(value: object, tz: ZoneInfo) -> int | None:
    """An imported field read as a time, in epoch ms; None when it is not a date.

    Accepts ISO 8601 (with or without an offset), ``YYYY/MM/DD``, ``YYYY/MM/DD HH:MM[:SS]`` and
    ``2025年4月1日``; times without an offset, and dates, are read in ``tz`` (a date is its
    midnight). Numbers are not dates: an epoch in a spreadsheet column is too easily a count.
    """
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if not text or not text[0].isdigit():
        return None
    match = _DATE.match(text)
    try:
        if match:
            year, month, day, hour, minute, second, frac = match.groups()
            parsed = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((frac or "0").ljust(6, "0")),
            )
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return to_epoch_ms(parsed)


def local_day(ts_ms: int, tz: ZoneInfo) -> date:
    return to_local(ts_ms, tz).date()


def format_time(ts_ms: int, tz: ZoneInfo) -> str:
    """``2026-11-23 10:00:00.000 JST``-style text for explanations and messages."""
    local = to_local(ts_ms, tz)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {local.tzname()}"
