"""EventBridge Scheduler on the local stack: every ``ScheduleV2`` event of the template fires on the
stack clock.

- ``parse_expression``: ``cron(min hour day-of-month month day-of-week year)`` (EventBridge's six
  fields, with ``* ? , - /`` and ``L``, ``W``, ``#``; day of week 1-7 = SUN-SAT), ``rate(N unit)``
  and ``at(yyyy-mm-ddThh:mm:ss)``, evaluated in the schedule's ``ScheduleExpressionTimezone``;
- ``schedules_of``: the ``ScheduleV2`` events of state machines and functions, references resolved;
- ``Scheduler``: a service that waits (on the clock) for the next fire time and starts the target
  with the event's ``Input`` merged with ``{"now": <the fire time, ISO 8601 with offset>}``, so
  the domain's now is the scheduled moment however late or fast the local clock runs.

Local behaviour where AWS has more to say (see docs/decisions.md):
- a clock jump past several fire times fires once, for the latest of them (no backlog) — except a
  schedule with a *work probe* (the send slots): it plays its fire times in order, one run after
  the other, so a 14-day jump sends every step at its own slot. The probe says when the earliest
  work is due; fire times before it would find nothing to do and are passed over (on AWS they
  run and end at once), so a jump costs one run per slot that has work, not one per slot;
- schedules fire in time order: while a probed schedule is still playing earlier slots, the
  others wait for it; and a run a jump fired for an earlier moment (the daily segment run) may
  enroll leads due before the stack's now, so the slots are planned from its moment once it has
  ended: that mail goes out at its own slot of that day, not at the first slot after the jump;
- a schedule whose previous execution is still running waits for it, then fires once;
- a wall time that does not exist (DST gap) fires shifted forward by the gap, an ambiguous one at
  its first occurrence (fold=0); ``rate`` counts from the stack's start;
- ``FlexibleTimeWindow``, ``StartDate``/``EndDate`` and retry policies are not applied.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reawake_tools.local.clock import Clock
from reawake_tools.local.template import Created, resources_of

log = logging.getLogger("reawake_local")

MONTHS = {"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
          "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_SEARCH_DAYS = 366 * 30  # a cron with no fire time in 30 years has none


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse."""


def _weekday(day: date) -> int:
    """EventBridge numbering: 1 = Sunday ... 7 = Saturday."""
    return (day.isoweekday() % 7) + 1


# --- cron ------------------------------------------------------------------------------------------


def _number(text: str, names: dict[str, int], low: int, high: int, what: str) -> int:
    token = text.upper()
    value = names.get(token) if token in names else (int(token) if token.isdigit() else None)
    if value is None or not low <= value <= high:
        raise ScheduleError(f"{what}: {text!r} is not in {low}-{high}")
    return value


def _field(text: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> frozenset[int]:
    """``*``, ``a``, ``a-b``, ``*/n``, ``a/n``, ``a-b/n`` and lists of them -> the values."""
    names = names or {}
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{what}: empty item in {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"{what}: bad step in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _number(a, names, low, high, what), _number(b, names, low, high, what)
            if end < start:
                raise ScheduleError(f"{what}: range {base!r} runs backwards")
        else:
            start = _number(base, names, low, high, what)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """``nW``: the weekday (Mon-Fri) nearest to the day, within the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()  # Mon=0
    if weekday == 5:  # Saturday: Friday before, or Monday after when the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before when the month's last day
        return day + 1 if day < last else day - 2
    return day


DayTest = Callable[[date], bool]


def _day_of_month(text: str) -> DayTest | None:
    if text == "?":
        return None
    if text == "L":
        return lambda d: d.day == calendar.monthrange(d.year, d.month)[1]
    if text == "LW":
        return lambda d: d.day == _nearest_weekday(d.year, d.month, calendar.monthrange(d.year, d.month)[1])
    match = re.fullmatch(r"(\d{1,2})W", text)
    if match:
        wanted = _number(match.group(1), {}, 1, 31, "day-of-month")
        return lambda d: d.day == _nearest_weekday(d.year, d.month, wanted)
    days = _field(text, 1, 31, "day-of-month")
    return lambda d: d.day in days


def _day_of_week(text: str) -> DayTest | None:
    if text == "?":
        return None
    upper = text.upper()
    if upper == "L":
        return lambda d: _weekday(d) == 7
    match = re.fullmatch(r"(\w+)L", upper)
    if match:  # the last such weekday of the month
        wanted = _number(match.group(1), WEEKDAYS, 1, 7, "day-of-week")
        return lambda d: _weekday(d) == wanted and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
    match = re.fullmatch(r"(\w+)#([1-5])", upper)
    if match:  # the n-th such weekday of the month
        wanted = _number(match.group(1), WEEKDAYS, 1, 7, "day-of-week")
        nth = int(match.group(2))
        return lambda d: _weekday(d) == wanted and (d.day - 1) // 7 + 1 == nth
    days = _field(text, 1, 7, "day-of-week", WEEKDAYS)
    return lambda d: _weekday(d) in days


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_test: DayTest

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise ScheduleError(f"cron({body}): expected 6 fields (minutes hours day-of-month month day-of-week "
                                f"year), got {len(parts)}")
        minute, hour, dom, month, dow, year = parts
        dom_test, dow_test = _day_of_month(dom), _day_of_week(dow)
        if (dom_test is None) == (dow_test is None):
            raise ScheduleError(f"cron({body}): exactly one of day-of-month and day-of-week must be '?'")
        day_test = dom_test or dow_test
        assert day_test is not None
        return cls(
            text=f"cron({body})",
            minutes=tuple(sorted(_field(minute, 0, 59, "minutes"))),
            hours=tuple(sorted(_field(hour, 0, 23, "hours"))),
            months=_field(month, 1, 12, "month", MONTHS),
            years=_field(year, 1970, 2199, "year"),
            day_test=day_test,
        )

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first fire time strictly after ``after`` (aware), in tz."""
        local = after.astimezone(tz)
        day = local.date()
        for _ in range(MAX_SEARCH_DAYS):
            if day.year > 2199 or day.year > max(self.years):
                return None
            if day.year not in self.years:
                day = date(day.year + 1, 1, 1)
                continue
            if day.month not in self.months:
                day = (date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1))
                continue
            if self.day_test(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if candidate.timestamp() > after.timestamp():
                            return datetime.fromtimestamp(candidate.timestamp(), tz)
            day += timedelta(days=1)
        return None


@dataclass(frozen=True)
class Rate:
    text: str
    every: timedelta
    origin: datetime = field(default=datetime(1970, 1, 1, tzinfo=UTC), compare=False)

    @classmethod
    def parse(cls, body: str) -> Rate:
        match = re.fullmatch(r"\s*(\d+)\s+([a-z]+?)(s?)\s*", body)
        if not match:
            raise ScheduleError(f"rate({body}): expected rate(VALUE UNIT), e.g. rate(5 minutes)")
        value, unit, plural = int(match.group(1)), match.group(2), match.group(3)
        if unit not in RATE_UNITS or value < 1:
            raise ScheduleError(f"rate({body}): the unit is minute(s), hour(s) or day(s), the value >= 1")
        if (value == 1) == bool(plural):
            raise ScheduleError(f"rate({body}): write '1 {unit}' or '{value} {unit}s'")
        return cls(f"rate({body})", timedelta(seconds=value * RATE_UNITS[unit]))

    def starting(self, origin: datetime) -> Rate:
        return Rate(self.text, self.every, origin)

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        periods = max(0, int((after - self.origin) // self.every) + 1)
        return (self.origin + periods * self.every).astimezone(tz)


@dataclass(frozen=True)
class At:
    text: str
    wall: datetime

    @classmethod
    def parse(cls, body: str) -> At:
        try:
            wall = datetime.strptime(body.strip(), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ScheduleError(f"at({body}): expected at(yyyy-mm-ddThh:mm:ss)") from None
        return cls(f"at({body})", wall)

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        moment = self.wall.replace(tzinfo=tz)
        return moment if moment.timestamp() > after.timestamp() else None


Expression = Cron | Rate | At


def parse_expression(text: str) -> Expression:
    match = re.fullmatch(r"\s*(cron|rate|at)\((.*)\)\s*", text)
    if not match:
        raise ScheduleError(f"{text!r}: expected cron(...), rate(...) or at(...)")
    kind, body = match.groups()
    parsers: dict[str, Callable[[str], Expression]] = {"cron": Cron.parse, "rate": Rate.parse, "at": At.parse}
    return parsers[kind](body)


# --- the template's schedules --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    name: str  # <logical id>.<event name>
    target_type: str  # "state_machine" | "function"
    target: str  # logical id
    expression: Expression
    tz: ZoneInfo
    input: Any
    enabled: bool = True

    def next_after(self, after: datetime) -> datetime | None:
        return self.expression.next_after(after, self.tz)

    def input_for(self, moment: datetime) -> Any:
        """The event's Input with the scheduled moment as ``now`` (an object Input only)."""
        now = moment.astimezone(self.tz).isoformat()
        return {**self.input, "now": now} if isinstance(self.input, dict) else self.input


TARGET_TYPES = {"AWS::Serverless::StateMachine": "state_machine", "AWS::Serverless::Function": "function"}


def schedules_of(template: dict[str, Any], created: Created) -> list[Schedule]:
    """Every ScheduleV2 event of the template's state machines and functions."""
    found: list[Schedule] = []
    for rtype, target_type in TARGET_TYPES.items():
        for logical, res in resources_of(template, rtype).items():
            for event_name, event in (res.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") != "ScheduleV2":
                    continue
                props = event.get("Properties", {})
                name = f"{logical}.{event_name}"
                expression = parse_expression(str(created.resolve(props["ScheduleExpression"])))
                zone = str(created.resolve(props.get("ScheduleExpressionTimezone", "UTC")))
                try:
                    tz = ZoneInfo(zone)
                except (ZoneInfoNotFoundError, ValueError):
                    raise ScheduleError(f"{name}: unknown ScheduleExpressionTimezone {zone!r}") from None
                raw = created.resolve(props.get("Input", "{}"))
                try:
                    payload = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError as exc:
                    raise ScheduleError(f"{name}: Input is not JSON ({exc})") from None
                enabled = str(created.resolve(props.get("State", "ENABLED"))).upper() != "DISABLED"
                found.append(Schedule(name, target_type, logical, expression, tz, payload, enabled))
    return found


# --- the service ---------------------------------------------------------------------------------------


class Target(Protocol):
    def start(self, schedule: Schedule, moment: datetime) -> Any:
        """Start the schedule's target for moment; a handle for ``running``."""

    def running(self, handle: Any) -> bool: ...


@dataclass
class _State:
    schedule: Schedule
    next: datetime | None
    handle: Any = None
    fired: int = 0
    last: datetime | None = None
    pending: datetime | None = None  # a probed schedule's next fire time, waiting for the others


#: (until) -> when the earliest work due at or before ``until`` is due, or None (nothing due).
WorkProbe = Callable[[datetime], datetime | None]
BUSY_POLL_S = 0.02
RUN_POLL_S = 0.25  # while a run the jump fired may still make work for the send slots


class Scheduler:
    """Fires the enabled schedules on the clock, from a daemon thread."""

    name = "scheduler"

    def __init__(self, schedules: list[Schedule], clock: Clock, target: Target,
                 report: Callable[[str], None] = print, probes: dict[str, WorkProbe] | None = None) -> None:
        self.clock = clock
        self.target = target
        self.report = report
        self.probes = dict(probes or {})
        self.on_fire: list[Callable[[], None]] = []
        started = clock.now()
        self._states = [
            _State(replace_origin(s, started), None) for s in schedules if s.enabled
        ]
        for state in self._states:
            state.next = state.schedule.next_after(started)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reawake-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.clock.changed:
            self.clock.changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": s.schedule.name,
                    "target": s.schedule.target,
                    "expression": s.schedule.expression.text,
                    "timezone": str(s.schedule.tz.key),
                    "next": s.next.isoformat() if s.next else None,
                    "last": s.last.isoformat() if s.last else None,
                    "fired": s.fired,
                }
                for s in self._states
            ]

    def _loop(self) -> None:
        while not self._stop.is_set():
            pending = [s.next for s in self._states if s.next is not None]
            if not pending:
                self._stop.wait(1.0)
                continue
            self.clock.sleep_until(min(pending).timestamp(), lambda: not self._stop.is_set())
            if self._stop.is_set():
                return
            try:
                wait = self._tick(self.clock.now())
            except Exception:
                log.exception("the scheduler's tick failed")
                wait = BUSY_POLL_S
            if wait:
                self._stop.wait(wait)

    def _running(self, state: _State) -> bool:
        return state.handle is not None and bool(self.target.running(state.handle))

    def _tick(self, now: datetime) -> float:
        """Fire what is due, in time order. Returns how long to wait before the next tick instead
        of sleeping until the next fire time (0: sleep): a moment while a probed schedule is playing
        earlier fire times, longer while a run fired for an earlier moment may still make work."""
        probed = [s for s in self._states if s.schedule.name in self.probes]
        plain = [s for s in self._states if s.schedule.name not in self.probes]
        running = {s.schedule.name for s in probed if self._running(s)}  # once: a run may end meanwhile
        # A run fired for an earlier moment (the daily segment run, after a jump) may still enroll
        # leads due before now: the slots are planned once it has ended, from its moment on.
        making_work = any(s.last is not None and s.last < now and self._running(s) for s in plain)
        for state in probed:
            if state.pending is None and state.schedule.name not in running and not making_work:
                state.pending = self._plan(state, self.probes[state.schedule.name], now)
        # A probed schedule behind the clock sets the horizon: the others fire only up to it.
        horizon = min([s.pending for s in probed if s.pending is not None]
                      + [s.last for s in probed if s.last is not None and s.schedule.name in running] + [now])
        for state in plain:
            try:
                self._fire_latest(state, horizon)
            except Exception:
                log.exception("schedule %s failed to fire", state.schedule.name)
        busy = False
        for state in probed:
            if state.pending is None:
                busy = busy or state.schedule.name in running
                continue
            if any(self._running(s) and s.last is not None and s.last <= state.pending for s in plain):
                busy = True  # an earlier run of another schedule (e.g. the segment run) finishes first
                continue
            self._fire(state, state.pending)
            state.pending = None
            busy = True
        if busy:
            return BUSY_POLL_S
        return RUN_POLL_S if making_work and probed else 0.0

    def _fire_latest(self, state: _State, now: datetime) -> None:
        """A plain schedule: fire once, for the latest fire time due by ``now``."""
        if state.next is None or state.next > now or self._running(state):
            return  # a running one fires once it is done (coalesced)
        due, skipped = state.next, 0
        while (later := state.schedule.next_after(due)) is not None and later <= now:
            due, skipped = later, skipped + 1
        handle = self.target.start(state.schedule, due)
        with self._lock:
            state.handle, state.last, state.fired = handle, due, state.fired + 1
            state.next = state.schedule.next_after(max(due, now))
            for probed in self._states:  # the run may make work due from its moment: plan from there
                if probed.schedule.name in self.probes and probed.pending is None:
                    since = probed.schedule.next_after(due)
                    if since is not None and (probed.next is None or since < probed.next):
                        probed.next = since
        plural = "s" if skipped != 1 else ""
        note = f" ({skipped} earlier fire time{plural} skipped by the clock jump)" if skipped else ""
        upcoming = _show(state.next, state.schedule.tz) if state.next else "never"
        self.report(f"[schedule] {state.schedule.name} fired for {_show(due, state.schedule.tz)}{note}; "
                    f"next / 次回 {upcoming}")
        for listener in self.on_fire:
            listener()

    def _plan(self, state: _State, probe: WorkProbe, now: datetime) -> datetime | None:
        """A probed schedule: its next fire time, in order, at or after the earliest work due by
        ``now`` (None: nothing to fire yet; ``next`` moves to the next fire time with work)."""
        if state.next is None or state.next > now:
            return None
        work = probe(now)
        if work is None:
            with self._lock:
                state.next = state.schedule.next_after(now)
            return None
        moment = state.next if work <= state.next else state.schedule.next_after(work - timedelta(microseconds=1))
        if moment is None or moment > now:
            with self._lock:
                state.next = moment
            return None
        return moment

    def _fire(self, state: _State, moment: datetime) -> None:
        handle = self.target.start(state.schedule, moment)
        with self._lock:
            state.handle, state.last, state.fired = handle, moment, state.fired + 1
            state.next = state.schedule.next_after(moment)
        self.report(f"[schedule] {state.schedule.name} fired for {_show(moment, state.schedule.tz)}")
        for listener in self.on_fire:
            listener()


def replace_origin(schedule: Schedule, origin: datetime) -> Schedule:
    """A rate schedule counts from the stack's start."""
    if isinstance(schedule.expression, Rate):
        return Schedule(schedule.name, schedule.target_type, schedule.target,
                        schedule.expression.starting(origin), schedule.tz, schedule.input, schedule.enabled)
    return schedule


def _show(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


class StackTarget:
    """Starts state machine executions through the emulator's SFN API, and functions in-process."""

    def __init__(self, sfn: Any, state_machines: dict[str, str], invoke: Callable[[str, Any], Any]) -> None:
        self.sfn = sfn
        self.state_machines = state_machines
        self.invoke = invoke

    def start(self, schedule: Schedule, moment: datetime) -> Any:
        payload = schedule.input_for(moment)
        if schedule.target_type == "state_machine":
            stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = f"{schedule.name.replace('.', '-')}-{stamp}"[:80]
            try:
                return self.sfn.start_execution(stateMachineArn=self.state_machines[schedule.target], name=name,
                                                input=json.dumps(payload, ensure_ascii=False))["executionArn"]
            except self.sfn.exceptions.ExecutionAlreadyExists:
                log.warning("%s: execution %s already exists", schedule.name, name)
                return None
        thread = threading.Thread(target=self._call, args=(schedule.target, payload), daemon=True,
                                  name=f"reawake-{schedule.name}")
        thread.start()
        return thread

    def _call(self, logical_id: str, payload: Any) -> None:
        try:
            self.invoke(logical_id, payload)
        except Exception:
            log.exception("scheduled %s failed", logical_id)

    def running(self, handle: Any) -> bool:
        if isinstance(handle, threading.Thread):
            return handle.is_alive()
        return bool(self.sfn.describe_execution(executionArn=handle)["status"] == "RUNNING")


SEND_SLOT_SCHEDULE = "SendSlotStateMachine.Slot"


def send_slot_at_or_after(info: dict[str, Any], moment_ms: int) -> int:
    """The send slot (epoch ms) that picks up an enrollment due at ``moment_ms``: the slot
    schedule's first fire time at or after it, read from a running stack's stack.json. A due time
    is not aligned to the slots (an enrollment made inside a send window is due at once), so a
    caller that moves the clock to "when the mail goes out" has to move it to this slot, up to
    ``SendSlotMinutes`` later. ``moment_ms`` itself when the stack has no slot schedule."""
    for described in info.get("schedules") or []:
        if described.get("name") != SEND_SLOT_SCHEDULE:
            continue
        expression = parse_expression(str(described["expression"]))
        tz = ZoneInfo(str(described.get("timezone") or "UTC"))
        fire = expression.next_after(datetime.fromtimestamp((moment_ms - 1) / 1000, UTC), tz)
        return int(fire.timestamp() * 1000) if fire is not None else moment_ms
    return moment_ms
