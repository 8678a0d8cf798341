"""Send windows and business days on the lead's wall clock.

- A **business day** is a weekday listed in the window's ``days`` (Monday–Friday by default)
  that is not a Japanese public holiday (``holidays_jp``, every year; unless the window says
  ``holidays: false``) and not one of the window's ``closed`` dates. Holidays are looked up by
  the date on the lead's own wall clock.
- The **window** of a business day runs from ``start`` (inclusive) to ``end`` (exclusive) on that
  wall clock: with 10:00–18:00, 17:59:59.999 is in, 18:00:00.000 is the next business day's 10:00.
- ``next_send_slot(t)`` is ``t`` itself when ``t`` is inside a window, else the start of the next
  window. Nothing is rounded: a mail due at 13:07:21 inside the window goes at 13:07:21.
- The **lead's time zone** is the imported column ``time_zone`` (or ``タイムゾーン``) when it names
  an IANA zone, else the step-mail default (Asia/Tokyo). Japan has no daylight saving time; in
  a zone that has it, a wall time that does not exist (the spring-forward gap) resolves as
  Python's ``fold=0`` does, and the window still opens once a day.
- ``later(d, t)`` is ``t + d`` with the calendar rules of ``reawake.core.durations`` (hours elapsed;
  days and weeks on the wall clock; months and years by the calendar, clamped to the month end:
  2026-01-31 + 1mo = 2026-02-28), the exact inverse direction of ``durations.cutoff``.
"""

from __future__ import annotations

import calendar
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reawake.core.durations import HOUR_MS, Duration, to_epoch_ms, to_local
from reawake.core.holidays_jp import JP_HOLIDAYS

if TYPE_CHECKING:
    from reawake.core.leads import Lead
    from reawake.stepmail.sequences.model import SendWindow

TIME_ZONE_ATTRS = ("time_zone", "タイムゾーン")
MAX_SEARCH_DAYS = 800  # closed days cannot hide every window for longer than this


def later(duration: Duration, ts_ms: int, tz: ZoneInfo) -> int:
    """``ts + duration`` in epoch ms (see the module docstring for the calendar rules)."""
    if duration.unit == "h":
        return ts_ms + duration.amount * HOUR_MS
    wall = to_local(ts_ms, tz).replace(tzinfo=None)
    if duration.unit in ("d", "w"):
        wall = wall + timedelta(days=duration.amount * (7 if duration.unit == "w" else 1))
    else:
        months = duration.amount * (12 if duration.unit == "y" else 1)
        year, month = divmod(wall.year * 12 + wall.month - 1 + months, 12)
        month += 1
        wall = wall.replace(year=year, month=month, day=min(wall.day, calendar.monthrange(year, month)[1]))
    return to_epoch_ms(wall.replace(tzinfo=tz))


@dataclass(frozen=True)
class ClosedDays:
    """The window's closed dates, and every Japanese public holiday when ``holidays``."""

    closed: frozenset[date]
    holidays: bool

    def __contains__(self, day: object) -> bool:
        return day in self.closed or (self.holidays and day in JP_HOLIDAYS)


def closed_days(window: SendWindow) -> ClosedDays:
    """The dates on which the window does not open besides its off weekdays."""
    return ClosedDays(frozenset(window.closed), window.holidays)


def is_business_day(day: date, window: SendWindow, holidays: Container[date] | None = None) -> bool:
    closed = closed_days(window) if holidays is None else holidays
    return day.weekday() in window.days and day not in closed


def _wall(day: date, minutes: int, tz: ZoneInfo) -> int:
    moment = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return to_epoch_ms(moment.replace(tzinfo=tz))


def next_send_slot(
    earliest_ms: int, window: SendWindow, tz: ZoneInfo, holidays: Container[date] | None = None
) -> int:
    """The first moment at or after ``earliest_ms`` inside the send window.

    ``holidays``: the closed dates to use; by default the window's own (Japanese holidays when
    ``window.holidays``, plus ``window.closed``).
    """
    closed = closed_days(window) if holidays is None else holidays
    day = to_local(earliest_ms, tz).date()
    for _ in range(MAX_SEARCH_DAYS):
        if is_business_day(day, window, closed):
            end = _wall(day, window.end, tz)
            if earliest_ms < end:
                return max(earliest_ms, _wall(day, window.start, tz))
        day += timedelta(days=1)
    raise ValueError(f"the send window {window.describe()} has no opening within {MAX_SEARCH_DAYS} days")


def in_window(ts_ms: int, window: SendWindow, tz: ZoneInfo, holidays: Container[date] | None = None) -> bool:
    return next_send_slot(ts_ms, window, tz, holidays) == ts_ms


def lead_time_zone(lead: Lead, default: ZoneInfo) -> ZoneInfo:
    """The lead's zone from its imported ``time_zone`` column, else ``default``."""
    for key in TIME_ZONE_ATTRS:
        value = lead.attrs.get(key)
        if isinstance(value, str) and value.strip():
            try:
                return ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return default
