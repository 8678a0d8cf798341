"""Japanese public holidays (国民の祝日・休日: 祝日、振替休日、国民の休日) for every year.

From the ``jpholiday`` package, which applies the 祝日法 (fixed days, Happy Monday, substitute
and in-between days; the equinoxes by the 国立天文台 formula), so the calendar holds past the
years 内閣府 has published. ``tests/unit/cao_holidays.py`` keeps 内閣府's published list as the
oracle the package is tested against.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import jpholiday


@cache
def holidays_of(year: int) -> dict[date, str]:
    """The year's holidays with their Japanese names (「休日」 for 振替休日 and 国民の休日, as 内閣府 writes them)."""
    return {day: _cao_name(name) for day, name in jpholiday.year_holidays(year)}


def _cao_name(name: str) -> str:
    # jpholiday writes a substitute day as 「憲法記念日 振替休日」; 内閣府's list says 「休日」.
    return "休日" if name.endswith("振替休日") or name == "国民の休日" else name


def holiday_name(day: date) -> str | None:
    return holidays_of(day.year).get(day)


def is_holiday(day: date) -> bool:
    return day in holidays_of(day.year)


class JapaneseHolidays:
    """Every Japanese public holiday, as a container: ``day in JP_HOLIDAYS``."""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and is_holiday(day)


JP_HOLIDAYS = JapaneseHolidays()
