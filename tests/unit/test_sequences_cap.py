"""The per-lead frequency cap: at most N mails in any stretch of the given length, a capped mail
deferred (never dropped), and the cap and the send window agreeing on one moment."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from reawake.core.durations import Duration, to_epoch_ms
from reawake.stepmail.sequences.calendar import in_window, later
from reawake.stepmail.sequences.cap import allowed, earliest_under_cap, mail_slot
from reawake.stepmail.sequences.model import FrequencyCap, SendWindow

TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = 3_600_000
DAY = 24 * HOUR
TWO_A_WEEK = FrequencyCap(max=2, per=Duration(7, "d"))


def jst(*parts: int) -> int:
    return to_epoch_ms(datetime(*parts, tzinfo=TOKYO))  # type: ignore[misc,arg-type]


def test_a_third_mail_in_a_week_waits_until_the_first_is_a_week_old() -> None:
    monday, tuesday = jst(2026, 11, 30, 10), jst(2026, 12, 1, 10)
    wednesday = jst(2026, 12, 2, 10)
    assert earliest_under_cap(wednesday, [monday, tuesday], TWO_A_WEEK, TOKYO) == jst(2026, 12, 7, 10)
    # Exactly a week later is allowed; a millisecond before is not.
    assert allowed(jst(2026, 12, 7, 10), [monday, tuesday], TWO_A_WEEK, TOKYO)
    assert not allowed(jst(2026, 12, 7, 10) - 1, [monday, tuesday], TWO_A_WEEK, TOKYO)


def test_under_the_cap_a_mail_is_not_moved() -> None:
    assert earliest_under_cap(jst(2026, 12, 2, 10), [jst(2026, 11, 30, 10)], TWO_A_WEEK, TOKYO) == jst(2026, 12, 2, 10)
    assert earliest_under_cap(jst(2026, 12, 2, 10), [], TWO_A_WEEK, TOKYO) == jst(2026, 12, 2, 10)


def test_mails_booked_for_later_count_too() -> None:
    # Two mails booked for Thursday and Friday: a mail on Wednesday would make three in a week.
    booked = [jst(2026, 12, 3, 10), jst(2026, 12, 4, 10)]
    found = earliest_under_cap(jst(2026, 12, 2, 10), booked, TWO_A_WEEK, TOKYO)
    assert found == jst(2026, 12, 10, 10)  # a week after Thursday's
    assert allowed(found, booked, TWO_A_WEEK, TOKYO)


def test_the_cap_and_the_window_agree() -> None:
    window = SendWindow()
    # Mails Monday 17:00 and Tuesday 17:30: the cap frees a place next Monday 17:00, inside the window.
    sent = [jst(2026, 11, 30, 17), jst(2026, 12, 1, 17, 30)]
    assert mail_slot(jst(2026, 12, 2, 10), window, TOKYO, TWO_A_WEEK, sent) == jst(2026, 12, 7, 17)
    # One a week: Monday's 18:30 mail frees next Monday 18:30, which the window moves to Tuesday
    # 10:00 — where a mail booked for Tuesday 12:00 is too close, so a week after that one.
    once = FrequencyCap(max=1, per=Duration(7, "d"))
    booked = [jst(2026, 11, 30, 18, 30), jst(2026, 12, 8, 12)]
    found = mail_slot(jst(2026, 12, 2, 10), window, TOKYO, once, booked)
    assert found == jst(2026, 12, 15, 12)
    assert in_window(found, window, TOKYO) and allowed(found, booked, once, TOKYO)
    # No cap: only the window.
    assert mail_slot(jst(2026, 12, 5, 10), window, TOKYO, None, sent) == jst(2026, 12, 7, 10)


def _brute_allowed(t: int, sent: list[int], cap: FrequencyCap) -> bool:
    """Every stretch [a, a + per) holding t, tried from every whole hour: at most max mails."""
    per = later(cap.per, 0, TOKYO)
    mails = [*sent, t]
    start = t - per + 1
    candidates = {start, *(s for s in mails if t - per < s <= t)}
    return all(sum(1 for m in mails if a <= m < a + per) <= cap.max for a in candidates if a <= t < a + per)


times = st.integers(min_value=0, max_value=40 * DAY)


@settings(max_examples=300, deadline=None)
@given(
    sent=st.lists(times, max_size=8),
    earliest=times,
    cap_max=st.integers(min_value=1, max_value=3),
    per_days=st.integers(min_value=1, max_value=10),
)
def test_the_deferred_time_is_the_first_allowed_one(
    sent: list[int], earliest: int, cap_max: int, per_days: int
) -> None:
    cap = FrequencyCap(max=cap_max, per=Duration(per_days, "d"))
    base = jst(2026, 1, 1)
    sent_at = [base + s for s in sent]
    found = earliest_under_cap(base + earliest, sent_at, cap, TOKYO)
    assert found >= base + earliest
    assert _brute_allowed(found, sent_at, cap) == allowed(found, sent_at, cap, TOKYO) is True
    # Nothing between the request and the answer was allowed (checked on an hourly grid plus
    # the moments where a mail drops out of a stretch).
    grid = range(base + earliest, found, HOUR)
    drop_outs = [later(cap.per, s, TOKYO) for s in sent_at]
    for moment in [*grid, *(d for d in drop_outs if base + earliest <= d < found)]:
        assert not _brute_allowed(moment, sent_at, cap)
