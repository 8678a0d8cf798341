"""The local scheduler: EventBridge schedule expressions, the template's schedules, the stack clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reawake_tools.local.clock import Clock, time_of
from reawake_tools.local.scheduler import (
    Schedule,
    ScheduleError,
    Scheduler,
    parse_expression,
    schedules_of,
    send_slot_at_or_after,
)
from reawake_tools.local.template import Created, load_template, parameter_defaults

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, tz: ZoneInfo = TOKYO) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def fires(expression: str, after: datetime, count: int = 3, tz: ZoneInfo = TOKYO) -> list[str]:
    parsed = parse_expression(expression)
    out: list[str] = []
    moment: datetime | None = after
    for _ in range(count):
        assert moment is not None
        moment = parsed.next_after(moment, tz)
        if moment is None:
            break
        out.append(moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %a"))
    return out


def test_the_default_segment_schedule_fires_daily_at_six_tokyo_time() -> None:
    assert fires("cron(0 6 * * ? *)", at("2026-11-23T19:00")) == [
        "2026-11-24 06:00 Tue", "2026-11-25 06:00 Wed", "2026-11-26 06:00 Thu"]
    # strictly after: a schedule evaluated at its fire time moves to the next one
    assert fires("cron(0 6 * * ? *)", at("2026-11-24T06:00"), 1) == ["2026-11-25 06:00 Wed"]
    assert fires("cron(0 6 * * ? *)", at("2026-11-24T05:59:59"), 1) == ["2026-11-24 06:00 Tue"]


def test_the_fire_time_is_in_the_schedule_time_zone_not_utc() -> None:
    moment = parse_expression("cron(0 6 * * ? *)").next_after(datetime(2026, 11, 23, 20, 0, tzinfo=UTC), TOKYO)
    assert moment is not None and moment.astimezone(UTC).hour == 21  # 06:00 JST = 21:00 UTC the day before
    assert moment.isoformat() == "2026-11-24T06:00:00+09:00"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # weekdays by name and number (1 = SUN), ranges, lists, steps
        ("cron(30 9 ? * MON-FRI *)", "2026-11-27T10:00", ["2026-11-30 09:30 Mon", "2026-12-01 09:30 Tue",
                                                          "2026-12-02 09:30 Wed"]),
        ("cron(0 9 ? * 1,7 *)", "2026-11-23T00:00", ["2026-11-28 09:00 Sat", "2026-11-29 09:00 Sun",
                                                     "2026-12-05 09:00 Sat"]),
        ("cron(0/20 8-9 * * ? *)", "2026-11-23T08:30", ["2026-11-23 08:40 Mon", "2026-11-23 09:00 Mon",
                                                        "2026-11-23 09:20 Mon"]),
        ("cron(15 10 1,15 * ? *)", "2026-11-23T00:00", ["2026-12-01 10:15 Tue", "2026-12-15 10:15 Tue",
                                                        "2027-01-01 10:15 Fri"]),
        # months by name, a year field that runs out
        ("cron(0 0 1 JAN,JUL ? 2027)", "2026-11-23T00:00", ["2027-01-01 00:00 Fri", "2027-07-01 00:00 Thu"]),
        # L: last day of the month (leap February), nW: nearest weekday, LW: last weekday
        ("cron(0 18 L * ? *)", "2028-02-01T00:00", ["2028-02-29 18:00 Tue", "2028-03-31 18:00 Fri",
                                                    "2028-04-30 18:00 Sun"]),
        ("cron(0 9 1W * ? *)", "2026-07-31T00:00", ["2026-08-03 09:00 Mon", "2026-09-01 09:00 Tue",
                                                    "2026-10-01 09:00 Thu"]),
        ("cron(0 9 15W * ? *)", "2026-11-01T00:00", ["2026-11-16 09:00 Mon", "2026-12-15 09:00 Tue",
                                                     "2027-01-15 09:00 Fri"]),
        ("cron(0 9 LW * ? *)", "2026-01-01T00:00", ["2026-01-30 09:00 Fri", "2026-02-27 09:00 Fri",
                                                    "2026-03-31 09:00 Tue"]),
        # n#k: the k-th weekday of the month; nL: the last one
        ("cron(0 10 ? * 3#2 *)", "2026-11-01T00:00", ["2026-11-10 10:00 Tue", "2026-12-08 10:00 Tue",
                                                      "2027-01-12 10:00 Tue"]),
        ("cron(0 17 ? * FRIL *)", "2026-11-01T00:00", ["2026-11-27 17:00 Fri", "2026-12-25 17:00 Fri",
                                                       "2027-01-29 17:00 Fri"]),
    ],
)
def test_cron_fields(expression: str, after: str, expected: list[str]) -> None:
    assert fires(expression, at(after)) == expected


def test_a_cron_without_future_fire_times_has_no_next() -> None:
    assert fires("cron(0 0 1 1 ? 2020)", at("2026-11-23T00:00")) == []
    assert fires("cron(0 0 31 2 ? *)", at("2026-11-23T00:00")) == []  # February 31st never comes


def test_daylight_saving_gaps_and_repeats() -> None:
    # New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist and fires an hour later by the clock
    moment = parse_expression("cron(30 2 * * ? *)").next_after(at("2026-03-07T12:00", NEW_YORK), NEW_YORK)
    assert moment is not None and moment.astimezone(UTC).isoformat() == "2026-03-08T07:30:00+00:00"
    # ...and falls back on 2026-11-01: 01:30 happens twice and fires once (the first)
    parsed = parse_expression("cron(30 1 * * ? *)")
    first = parsed.next_after(at("2026-10-31T12:00", NEW_YORK), NEW_YORK)
    assert first is not None and first.astimezone(UTC).isoformat() == "2026-11-01T05:30:00+00:00"
    second = parsed.next_after(first, NEW_YORK)
    assert second is not None and second.astimezone(UTC).isoformat() == "2026-11-02T06:30:00+00:00"


def test_rate_counts_from_the_start_and_at_fires_once() -> None:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    rate = parse_expression("rate(15 minutes)")
    assert rate.__class__.__name__ == "Rate"
    anchored = rate.starting(start)  # type: ignore[union-attr]
    assert anchored.next_after(start, TOKYO) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert anchored.next_after(datetime(2026, 11, 23, 10, 16, tzinfo=UTC), TOKYO) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC)
    once = parse_expression("at(2026-12-01T09:00:00)")
    assert once.next_after(start, TOKYO) == at("2026-12-01T09:00")
    assert once.next_after(at("2026-12-01T09:00"), TOKYO) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 6 * * *)", "expected 6 fields"),
        ("cron(0 6 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 6 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 6 * * ? *)", "minutes: '60' is not in 0-59"),
        ("cron(0 24 * * ? *)", "hours"),
        ("cron(0 6 * FOO ? *)", "month"),
        ("cron(0 6 ? * 8 *)", "day-of-week"),
        ("cron(0 6 10-5 * ? *)", "runs backwards"),
        ("cron(0/0 6 * * ? *)", "bad step"),
        ("rate(1 minutes)", "write '1 minute'"),
        ("rate(5 minute)", "'5 minutes'"),
        ("rate(5 weeks)", "minute(s), hour(s) or day(s)"),
        ("at(2026-12-01 09:00)", "at(yyyy-mm-ddThh:mm:ss)"),
        ("daily", "expected cron(...), rate(...) or at(...)"),
    ],
)
def test_expressions_eventbridge_refuses_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_expression(expression)


def test_the_template_schedule_is_read_with_its_parameters_resolved() -> None:
    template = load_template()
    created = Created(parameters=parameter_defaults(template, {"SegmentRunSchedule": "cron(30 7 * * ? *)"}))
    found = {s.name: s for s in schedules_of(template, created)}
    schedule, call_lists = found["SegmentStateMachine.Daily"], found["CallListFunction.Daily"]
    assert (schedule.name, schedule.target_type, schedule.target) == (
        "SegmentStateMachine.Daily", "state_machine", "SegmentStateMachine")
    assert schedule.expression.text == "cron(30 7 * * ? *)"
    assert schedule.tz.key == "Asia/Tokyo" and schedule.enabled
    fire = at("2026-11-24T07:30")
    assert schedule.input_for(fire) == {"now": "2026-11-24T07:30:00+09:00"}  # the domain's now is the fire time
    assert (call_lists.name, call_lists.target_type) == ("CallListFunction.Daily", "function")
    assert call_lists.expression.text == "cron(30 8 ? * MON-FRI *)" and call_lists.tz.key == "Asia/Tokyo"
    monday, saturday = at("2026-11-30T08:00"), at("2026-12-05T08:00")
    assert call_lists.next_after(monday) == at("2026-11-30T08:30")
    assert call_lists.next_after(saturday) == at("2026-12-07T08:30"), "weekdays only"
    send_slot = found["SendSlotStateMachine.Slot"]
    assert send_slot.expression.text == "cron(0/5 * * * ? *)"  # SendSlotMinutes = 5
    assert send_slot.next_after(at("2026-11-24T10:02")) == at("2026-11-24T10:05")
    assert send_slot.input_for(at("2026-11-24T10:05")) == {"now": "2026-11-24T10:05:00+09:00"}


# --- the clock and the scheduler on it ----------------------------------------------------------------------


class FakeWall:
    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def test_clock_speed_offset_and_description_read_by_other_processes() -> None:
    wall = FakeWall(1_000.0)
    clock = Clock(speed=60, start=datetime(2026, 11, 24, 5, 0, tzinfo=TOKYO), wall=wall)
    base = clock.time()
    wall.t += 10  # ten wall seconds = ten stack minutes
    assert clock.time() - base == 600
    clock.advance(3600)
    assert clock.time() - base == 4200
    assert time_of(clock.describe(), wall) == clock.time()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="speed"):
        Clock(speed=0)


def test_a_sleeper_wakes_when_the_clock_jumps_past_its_moment() -> None:
    clock = Clock()
    waiting, woke = threading.Event(), threading.Event()

    def still_waiting() -> bool:
        waiting.set()  # the sleeper is in its loop, a day short of its moment
        return True

    thread = threading.Thread(target=lambda: clock.sleep_until(clock.time() + 86_400, still_waiting) and woke.set(),
                              daemon=True)
    thread.start()
    assert waiting.wait(10)
    assert not woke.is_set()  # a day of stack time has not passed (the wall clock runs at speed 1)
    clock.advance(86_400)
    assert woke.wait(10)  # only the jump can wake it: a day of stack time is left at speed 1


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class RecordingTarget:
    def __init__(self) -> None:
        self.started: list[tuple[str, Any]] = []
        self.busy = False
        self.fired = threading.Event()
        self.asked = threading.Event()  # the scheduler asked whether the previous execution still runs

    def start(self, schedule: Schedule, moment: datetime) -> Any:
        self.started.append((schedule.name, schedule.input_for(moment)))
        self.fired.set()
        return "handle"

    def running(self, handle: Any) -> bool:
        self.asked.set()
        return self.busy


def daily(input_: Any = None) -> Schedule:
    return Schedule("Machine.Daily", "state_machine", "Machine", parse_expression("cron(0 6 * * ? *)"), TOKYO,
                    {"mode": "full"} if input_ is None else input_)


def test_scheduler_fires_at_the_scheduled_moment_with_it_as_now() -> None:
    clock = Clock(start=at("2026-11-24T05:59:59.700"))
    target = RecordingTarget()
    reports: list[str] = []
    scheduler = Scheduler([daily()], clock, target, reports.append)
    scheduler.start()
    try:
        assert target.fired.wait(3)
    finally:
        scheduler.stop()
    assert target.started == [("Machine.Daily", {"mode": "full", "now": "2026-11-24T06:00:00+09:00"})]
    assert scheduler.describe()[0]["next"] == "2026-11-25T06:00:00+09:00"
    assert "fired for 2026-11-24 06:00:00 JST" in reports[0]


def test_a_jump_over_many_fire_times_fires_once_for_the_latest() -> None:
    clock = Clock(start=at("2026-11-23T12:00"))
    target = RecordingTarget()
    reports: list[str] = []
    scheduler = Scheduler([daily()], clock, target, reports.append)
    scheduler.start()
    try:
        clock.advance(90 * 86_400)  # 90 days later: 90 fire times passed
        assert target.fired.wait(10)
        # The real signal that the jump is handled: the next fire time is past the new now.
        assert wait_until(lambda: scheduler.describe()[0]["next"] == "2027-02-22T06:00:00+09:00")
    finally:
        scheduler.stop()
    assert [now["now"] for _, now in target.started] == ["2027-02-21T06:00:00+09:00"]
    assert "89 earlier fire times skipped" in reports[0]


def test_a_schedule_waits_while_its_previous_execution_runs() -> None:
    clock = Clock(start=at("2026-11-24T05:59:59.900"))
    target = RecordingTarget()
    scheduler = Scheduler([daily()], clock, target, lambda line: None)
    scheduler.start()
    try:
        assert target.fired.wait(3)
        target.fired.clear()
        target.busy = True
        target.asked.clear()  # nothing asks before the next fire time: the clock is a day short of it
        clock.advance(86_400)
        assert target.asked.wait(5), "the scheduler came to the fire time and asked"
        assert not target.fired.is_set(), "and did not fire: the previous one still runs"
        target.busy = False
        assert target.fired.wait(3)
    finally:
        scheduler.stop()
    assert [now["now"] for _, now in target.started] == ["2026-11-24T06:00:00+09:00", "2026-11-25T06:00:00+09:00"]


def test_disabled_schedules_do_not_fire() -> None:
    schedule = daily()
    disabled = Schedule(schedule.name, schedule.target_type, schedule.target, schedule.expression, schedule.tz,
                        schedule.input, enabled=False)
    scheduler = Scheduler([disabled], Clock(), RecordingTarget(), lambda line: None)
    assert scheduler.describe() == []


def slots() -> Schedule:
    return Schedule("Slots.Slot", "state_machine", "Slots", parse_expression("cron(0/5 * * * ? *)"), TOKYO,
                    {"now": "<aws.scheduler.scheduled-time>"})


def test_a_jump_plays_every_send_slot_with_work_in_order_and_the_daily_run_in_between() -> None:
    """Work due at 05:52, 05:53 (one slot), 06:30 and 08:01; the clock jumps from 05:00 to 09:00:
    the slots 05:55, 06:30 and 08:05 fire in that order, one after the other, each with its own
    now, and the 06:00 daily run fires between the first two (nothing else: empty slots are passed
    over)."""
    clock = Clock(start=at("2026-11-24T05:00"))
    work = [at(t) for t in ("2026-11-24T05:52", "2026-11-24T05:53", "2026-11-24T06:30", "2026-11-24T08:01")]
    target = RecordingTarget()

    def probe(until: datetime) -> datetime | None:
        return min((w for w in work if w <= until), default=None)

    def start(schedule: Schedule, moment: datetime) -> Any:
        if schedule.name == "Slots.Slot":  # the slot sends what is due by then
            work[:] = [w for w in work if w > moment]
        return RecordingTarget.start(target, schedule, moment)

    target.start = start  # type: ignore[method-assign]
    scheduler = Scheduler([slots(), daily()], clock, target, lambda line: None, probes={"Slots.Slot": probe})
    scheduler.start()
    try:
        clock.advance(4 * 3600)
        # The real signal that the jump is played out: every schedule's next fire time is past 09:00.
        assert wait_until(lambda: all(datetime.fromisoformat(str(d["next"])) > at("2026-11-24T09:00")
                                      for d in scheduler.describe()))
    finally:
        scheduler.stop()
    assert [(name, payload["now"][11:16]) for name, payload in target.started] == [
        ("Slots.Slot", "05:55"), ("Machine.Daily", "06:00"), ("Slots.Slot", "06:30"), ("Slots.Slot", "08:05")]
    assert not work


def test_a_due_time_inside_a_window_goes_out_at_the_next_send_slot() -> None:
    """Due times are not aligned to the slots: the slot that sends a mail is the first at or after it."""
    info = {"schedules": [{"name": "SendSlotStateMachine.Slot", "expression": "cron(0/5 * * * ? *)",
                           "timezone": "Asia/Tokyo"}]}

    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp() * 1000)

    assert send_slot_at_or_after(info, ms("2026-12-02T11:00:42.5+09:00")) == ms("2026-12-02T11:05:00+09:00")
    assert send_slot_at_or_after(info, ms("2026-12-02T10:00:00+09:00")) == ms("2026-12-02T10:00:00+09:00")
    assert send_slot_at_or_after({"schedules": []}, 1234) == 1234


def test_work_made_by_a_run_the_jump_fired_goes_out_at_its_own_slot_that_day() -> None:
    """The daily run (fired for 06:00 by a jump from 05:00 to the next day's 05:00) enrolls leads
    due at 10:00 that day. Until it ends, the send slots must not pass over the day: the mail goes
    out at the 10:00 slot, not at the first slot after the stack's now (the next morning)."""
    clock = Clock(start=at("2026-11-24T05:00"))
    work: list[datetime] = []
    target = RecordingTarget()
    daily_runs = threading.Event()  # set: the daily run has ended

    def probe(until: datetime) -> datetime | None:
        return min((w for w in work if w <= until), default=None)

    def start(schedule: Schedule, moment: datetime) -> Any:
        if schedule.name == "Slots.Slot":
            work[:] = [w for w in work if w > moment]
        else:  # the daily run: runs a while, then leaves work due at 10:00 of its own day
            def finish() -> None:
                time.sleep(0.3)
                work.append(moment.replace(hour=10))
                daily_runs.set()
            threading.Thread(target=finish, daemon=True).start()
        RecordingTarget.start(target, schedule, moment)
        return schedule.name  # the handle

    def running(handle: Any) -> bool:
        return handle == "Machine.Daily" and not daily_runs.is_set()

    target.start = start  # type: ignore[method-assign]
    target.running = running  # type: ignore[method-assign]
    scheduler = Scheduler([slots(), daily()], clock, target, lambda line: None, probes={"Slots.Slot": probe})
    scheduler.start()
    try:
        clock.advance(24 * 3600)
        assert wait_until(lambda: daily_runs.is_set() and not work
                          and all(datetime.fromisoformat(str(d["next"])) > at("2026-11-25T05:00")
                                  for d in scheduler.describe()))
    finally:
        scheduler.stop()
    assert [(name, payload["now"][:16]) for name, payload in target.started] == [
        ("Machine.Daily", "2026-11-24T06:00"), ("Slots.Slot", "2026-11-24T10:00")]
