"""Send windows: business days and hours on the lead's wall clock, across weekends, Japanese
holidays, the UTC/JST date line and (for leads abroad) daylight saving time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reawake.calllists.domain import is_list_day
from reawake.core.durations import Duration, to_epoch_ms
from reawake.core.holidays_jp import holiday_name, holidays_of
from reawake.core.leads import Lead
from reawake.stepmail.sequences.calendar import in_window, is_business_day, later, lead_time_zone, next_send_slot
from reawake.stepmail.sequences.model import SendWindow
from tests.unit.cao_holidays import HOLIDAYS, PUBLISHED_YEARS

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = SendWindow()  # mon–fri 10:00–18:00, Japanese holidays off


def jst(*parts: int) -> int:
    return to_epoch_ms(datetime(*parts, tzinfo=TOKYO))  # type: ignore[misc,arg-type]


def slot(ts: int, window: SendWindow = WINDOW, tz: ZoneInfo = TOKYO) -> datetime:
    return datetime.fromtimestamp(next_send_slot(ts, window, tz) / 1000, tz)


@pytest.mark.parametrize(
    ("earliest", "expected"),
    [
        (jst(2026, 11, 24, 13, 7, 21), datetime(2026, 11, 24, 13, 7, 21, tzinfo=TOKYO)),  # inside: unchanged
        (jst(2026, 11, 24, 9, 59, 59), datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)),  # before opening
        (jst(2026, 11, 24, 10), datetime(2026, 11, 24, 10, tzinfo=TOKYO)),  # the opening is in
        (jst(2026, 11, 24, 17, 59, 59) + 999, datetime(2026, 11, 24, 17, 59, 59, 999000, tzinfo=TOKYO)),
        (jst(2026, 11, 24, 18), datetime(2026, 11, 25, 10, tzinfo=TOKYO)),  # the closing is out
        (jst(2026, 11, 27, 18), datetime(2026, 11, 30, 10, tzinfo=TOKYO)),  # Friday evening -> Monday
        (jst(2026, 11, 28, 12), datetime(2026, 11, 30, 10, tzinfo=TOKYO)),  # Saturday -> Monday
        (jst(2026, 11, 20, 18), datetime(2026, 11, 24, 10, tzinfo=TOKYO)),  # Fri -> Tue: 11/23 勤労感謝の日
        (jst(2026, 5, 1, 18), datetime(2026, 5, 7, 10, tzinfo=TOKYO)),  # GW: 5/3–5/6 (振替休日 5/6)
        (jst(2026, 9, 18, 18), datetime(2026, 9, 24, 10, tzinfo=TOKYO)),  # シルバーウィーク 9/19–9/23
        (jst(2026, 12, 31, 12), datetime(2026, 12, 31, 12, tzinfo=TOKYO)),  # 大晦日 is no public holiday
        (jst(2026, 12, 31, 18), datetime(2027, 1, 4, 10, tzinfo=TOKYO)),  # 元日 (Fri) and the weekend
        (jst(2027, 3, 19, 18), datetime(2027, 3, 23, 10, tzinfo=TOKYO)),  # 春分の日 on Sunday, 3/22 振替休日
    ],
)
def test_next_send_slot_in_tokyo(earliest: int, expected: datetime) -> None:
    assert slot(earliest) == expected


def test_the_day_is_the_lead_s_not_utc_s() -> None:
    # Friday 23:30 UTC is Saturday 08:30 in Tokyo: a weekend there, so Monday 10:00 JST.
    friday_night_utc = to_epoch_ms(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    assert slot(friday_night_utc) == datetime(2026, 11, 30, 10, tzinfo=TOKYO)
    # Sunday 23:00 UTC is Monday 08:00 in Tokyo: Monday's window, the same morning.
    sunday_night_utc = to_epoch_ms(datetime(2026, 11, 29, 23, tzinfo=UTC))
    assert slot(sunday_night_utc) == datetime(2026, 11, 30, 10, tzinfo=TOKYO)
    # 09:00 UTC is 18:00 JST: closed in Tokyo although it is mid-morning in London.
    assert slot(to_epoch_ms(datetime(2026, 11, 24, 9, tzinfo=UTC))) == datetime(2026, 11, 25, 10, tzinfo=TOKYO)


def test_jst_has_no_daylight_saving_so_every_window_is_eight_hours() -> None:
    day = date(2026, 1, 5)
    while day.year < 2028:
        if is_business_day(day, WINDOW):
            opening = next_send_slot(jst(day.year, day.month, day.day), WINDOW, TOKYO)
            closing = next_send_slot(opening + 8 * 3_600_000 - 1, WINDOW, TOKYO)
            assert closing - opening == 8 * 3_600_000 - 1
        day += timedelta(days=1)


def test_a_sequence_can_send_on_holidays_and_add_closed_dates() -> None:
    holiday_ok = SendWindow(holidays=False)
    assert slot(jst(2026, 11, 20, 18), holiday_ok) == datetime(2026, 11, 23, 10, tzinfo=TOKYO)
    year_end = SendWindow(closed=(date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)))
    assert slot(jst(2026, 12, 28, 18), year_end) == datetime(2027, 1, 4, 10, tzinfo=TOKYO)
    weekend_only = SendWindow.model_validate({"days": ["sat", "sun"], "start": "09:00", "end": "12:00"})
    assert slot(jst(2026, 11, 24, 12), weekend_only) == datetime(2026, 11, 28, 9, tzinfo=TOKYO)
    until_midnight = SendWindow.model_validate({"start": "20:00", "end": "24:00"})
    assert slot(jst(2026, 11, 24, 23, 59), until_midnight) == datetime(2026, 11, 24, 23, 59, tzinfo=TOKYO)
    assert slot(jst(2026, 11, 25, 0, 0), until_midnight) == datetime(2026, 11, 25, 20, tzinfo=TOKYO)


def test_explicit_holidays_replace_the_window_s_own() -> None:
    assert next_send_slot(jst(2026, 11, 23, 11), WINDOW, TOKYO, holidays=set()) == jst(2026, 11, 23, 11)
    assert not in_window(jst(2026, 11, 23, 11), WINDOW, TOKYO)


def test_a_lead_abroad_gets_its_own_business_hours_across_dst() -> None:
    lead = Lead("l1", "a@example.com", 0, attrs={"time_zone": "America/New_York"})
    tz = lead_time_zone(lead, TOKYO)
    assert tz == NEW_YORK
    # US DST began 2026-03-08 (Sunday 02:00). Friday 18:00 EST -> Monday 10:00 EDT.
    friday = to_epoch_ms(datetime(2026, 3, 6, 18, tzinfo=NEW_YORK))
    assert slot(friday, tz=tz) == datetime(2026, 3, 9, 10, tzinfo=NEW_YORK)
    assert slot(friday, tz=tz).utcoffset() == timedelta(hours=-4)
    # Japanese holidays follow the lead's date: 2026-11-23 is a holiday in the list wherever it is.
    assert slot(to_epoch_ms(datetime(2026, 11, 23, 11, tzinfo=NEW_YORK)), tz=tz) == datetime(
        2026, 11, 24, 10, tzinfo=NEW_YORK
    )
    # An unknown zone, or none, is the default.
    assert lead_time_zone(Lead("l2", "b@example.com", 0, attrs={"time_zone": "Mars/Olympus"}), TOKYO) == TOKYO
    assert lead_time_zone(Lead("l3", "c@example.com", 0), TOKYO) == TOKYO


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (jst(2026, 11, 24, 10), Duration(3, "d"), jst(2026, 11, 27, 10)),
        (jst(2026, 11, 24, 10), Duration(2, "w"), jst(2026, 12, 8, 10)),
        (jst(2026, 11, 24, 10), Duration(12, "h"), jst(2026, 11, 24, 22)),
        (jst(2026, 1, 31, 10), Duration(1, "mo"), jst(2026, 2, 28, 10)),  # clamped to the month end
        (jst(2026, 11, 30, 10), Duration(3, "mo"), jst(2027, 2, 28, 10)),
        (jst(2028, 2, 29, 10), Duration(1, "y"), jst(2029, 2, 28, 10)),
    ],
)
def test_later_follows_the_calendar(start: int, duration: Duration, expected: int) -> None:
    assert later(duration, start, TOKYO) == expected


def test_later_keeps_the_wall_time_across_dst() -> None:
    before = to_epoch_ms(datetime(2026, 3, 7, 10, tzinfo=NEW_YORK))
    assert later(Duration(1, "d"), before, NEW_YORK) == to_epoch_ms(datetime(2026, 3, 8, 10, tzinfo=NEW_YORK))
    assert later(Duration(1, "d"), before, NEW_YORK) - before == 23 * 3_600_000


def _rule_holidays(year: int) -> set[date]:
    """The holidays by the 祝日法's rules (fixed days, Happy Monday, substitute days, the day
    between two holidays), with the equinoxes taken from the list: an independent check."""

    def monday(month: int, nth: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (nth - 1))

    equinoxes = {d for d, name in holidays_of(year).items() if name in ("春分の日", "秋分の日")}
    named = {
        date(year, 1, 1), monday(1, 2), date(year, 2, 11), date(year, 2, 23), date(year, 4, 29),
        date(year, 5, 3), date(year, 5, 4), date(year, 5, 5), monday(7, 3), date(year, 8, 11),
        monday(9, 3), monday(10, 2), date(year, 11, 3), date(year, 11, 23), *equinoxes,
    }  # fmt: skip
    days = set(named)
    for holiday in sorted(named):
        if holiday.weekday() == 6:  # 振替休日: the next day that is no holiday
            substitute = holiday + timedelta(days=1)
            while substitute in days:
                substitute += timedelta(days=1)
            days.add(substitute)
    for holiday in sorted(named):  # 国民の休日: a weekday between two holidays
        between = holiday + timedelta(days=1)
        if between not in days and between + timedelta(days=1) in named and between.weekday() != 6:
            days.add(between)
    return days


@pytest.mark.parametrize("year", list(PUBLISHED_YEARS))
def test_the_holidays_are_the_ones_the_cabinet_office_published(year: int) -> None:
    assert holidays_of(year) == {d: n for d, n in HOLIDAYS.items() if d.year == year}


@pytest.mark.parametrize("year", range(2026, 2051))
def test_the_holidays_follow_the_holiday_law_past_the_published_years(year: int) -> None:
    assert set(holidays_of(year)) == _rule_holidays(year)
    assert sorted(n for n in holidays_of(year).values() if n in ("春分の日", "秋分の日")) == ["春分の日", "秋分の日"]


def test_2028_seijin_no_hi_is_a_holiday_for_step_mail_and_call_lists() -> None:
    """2028-01-10 (Monday) is 成人の日: past the years 内閣府 has published, and still no mail, no call list."""
    assert holiday_name(date(2028, 1, 10)) == "成人の日"
    assert slot(jst(2028, 1, 7, 18)) == datetime(2028, 1, 11, 10, tzinfo=TOKYO)  # Friday evening -> Tuesday
    assert not is_list_day(date(2028, 1, 10)) and is_list_day(date(2028, 1, 11))
    assert slot(jst(2030, 12, 31, 18)) == datetime(2031, 1, 2, 10, tzinfo=TOKYO)  # 元日 2031 (Wed)
