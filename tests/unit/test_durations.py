"""Durations: parsing, and calendar-exact cutoffs in Asia/Tokyo."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake.core.durations import Duration, cutoff, format_time, parse_duration, parse_time

TOKYO = ZoneInfo("Asia/Tokyo")


def at(*parts: int, tz: ZoneInfo = TOKYO) -> int:
    return int(datetime(*parts, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", Duration(90, "d")),
        ("2w", Duration(2, "w")),
        ("3mo", Duration(3, "mo")),
        ("1y", Duration(1, "y")),
        ("12h", Duration(12, "h")),
        (" 30 d ", Duration(30, "d")),
        ("90日", Duration(90, "d")),
        ("３か月", Duration(3, "mo")),
        ("3ヶ月", Duration(3, "mo")),
        ("1年", Duration(1, "y")),
        ("2週間", Duration(2, "w")),
    ],
)
def test_durations_parse_in_english_and_japanese(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (30, "30 needs a unit: e.g. 30d"),
        ("3m", "use mo for months"),
        ("3mon", "'3mon' is not a duration"),
        ("0d", "out of range: 1 to 3660d"),
        ("-3d", "is not a duration"),
        ("11y", "out of range"),
        (True, "is not a duration"),
        ("", "is not a duration"),
    ],
)
def test_bad_durations_say_what_to_write(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(
    ("now", "duration", "expected"),
    [
        (at(2026, 11, 23, 10), "3mo", at(2026, 8, 23, 10)),  # the example
        (at(2026, 5, 31, 10), "3mo", at(2026, 2, 28, 10)),  # clamped to the month end
        (at(2024, 5, 31), "3mo", at(2024, 2, 29)),  # leap year
        (at(2026, 3, 31, 23, 59, 59), "1mo", at(2026, 2, 28, 23, 59, 59)),
        (at(2028, 2, 29, 12), "1y", at(2027, 2, 28, 12)),
        (at(2026, 1, 15, 0, 0), "2mo", at(2025, 11, 15)),  # across the year
        (at(2026, 11, 23, 10), "30d", at(2026, 10, 24, 10)),
        (at(2026, 11, 23, 10), "90d", at(2026, 8, 25, 10)),
        (at(2026, 11, 23, 10), "2w", at(2026, 11, 9, 10)),
        (at(2026, 11, 23, 10), "36h", at(2026, 11, 21, 22)),
        (at(2026, 11, 23, 10) + 999, "1d", at(2026, 11, 22, 10) + 999),  # exact to the millisecond
    ],
)
def test_cutoffs_follow_the_calendar_in_tokyo(now: int, duration: str, expected: int) -> None:
    assert cutoff(parse_duration(duration), now, TOKYO) == expected


def test_days_keep_the_wall_clock_across_daylight_saving() -> None:
    new_york = ZoneInfo("America/New_York")
    now = at(2026, 3, 10, 12, tz=new_york)  # two days after the spring-forward night
    assert cutoff(Duration(3, "d"), now, new_york) == at(2026, 3, 7, 12, tz=new_york)
    assert cutoff(Duration(72, "h"), now, new_york) == at(2026, 3, 7, 11, tz=new_york)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025/04/01", at(2025, 4, 1)),
        ("2025-04-01", at(2025, 4, 1)),
        ("2025/4/1 9:30", at(2025, 4, 1, 9, 30)),
        ("2025年4月1日", at(2025, 4, 1)),
        ("２０２５／０４／０１", at(2025, 4, 1)),
        ("2025-04-01T09:30:00+00:00", at(2025, 4, 1, 18, 30)),
        ("2025-04-01T09:30:00", at(2025, 4, 1, 9, 30)),
    ],
)
def test_imported_dates_are_read_in_tokyo(text: str, expected: int) -> None:
    assert parse_time(text, TOKYO) == expected


@pytest.mark.parametrize("value", ["不明", "", "2025/13/01", "20250401x", 20250401, None, "1200"])
def test_what_is_not_a_date_is_none(value: object) -> None:
    assert parse_time(value, TOKYO) is None


def test_times_are_shown_in_the_time_zone() -> None:
    assert format_time(at(2026, 10, 23, 23, 59, 59) + 999, TOKYO) == "2026-10-23 23:59:59.999 JST"
