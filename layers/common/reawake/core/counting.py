"""What committed events count, kept to once by small marks on the lead (pure, ``tz`` passed in).

The marks (``Lead.report``) travel in the same write as the events, so a replayed event (refused
by its conditional put) counts nothing and a retried transaction recomputes them from the lead it
re-read. The counter updates themselves are written only after that write succeeded
(``core.counters``).

``report`` on the lead:
- ``m``: message id -> ``{t: first seen, d: delivered at, o/b/x/r/v: opened, bounced, complained,
  returned and converted counted, h: human-looking click times, c: the counted click's time}``,
  dropped 180 days after first seen (click and open tokens expire after 180 days);
- ``s``: definition -> ``{e: entered at, h: 1 when held out, r/v: return / conversion counted}``;
- ``k``: the lead's latest clicks ``[ts, message]`` (a scanner's burst spans messages);
- ``f``: the reactivation whose follow-up was counted; ``u``: the unsubscribe was counted.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.bots import ScannerRules, burst_size, fast_click_seconds, is_machine
from reawake.core.events import Event
from reawake.core.leads import Lead, day_of

DAY_MS = 86_400_000
KEEP_MS = 180 * DAY_MS
ATTRIBUTION_MS = 7 * DAY_MS  # a return or conversion within 7 days of a mail is that mail's
CLICK_MEMORY_MS = 60_000  # a scanner's burst and the delivery notice land within seconds
MAX_CANDIDATES = 5
FOLLOWUP_BUSINESS_DAYS = 3
CONVERSION_KINDS = frozenset({"purchase", "sales_conversation", "conversion"})
MESSAGE_FLAGS = {"email_open": ("o", "opened"), "email_bounce": ("b", "bounced"),
                 "email_complaint": ("x", "complained")}
ALERTS = "ALERTS"
CALLS = "CALLS"


@dataclass(frozen=True)
class Bump:
    """Add ``n`` to ``field`` of the counter item (scope, day); with ``append``, add that value to
    the list ``field`` instead (follow-up times, for a median)."""

    scope: str
    day: str  # YYYYMMDD in the configured time zone
    field: str
    n: int = 1
    append: int | None = None


def def_scope(segment_id: str) -> str:
    return f"DEF#{segment_id}"


def step_scope(sequence: str, index: int) -> str:
    return f"STEP#{sequence}#{index}"


def owner_field(name: str, owner: str | None) -> str:
    return f"{name}|{owner or 'team'}"


def is_return(event: Event) -> bool:
    """A dormant lead coming back in person. A bare ``email_click`` is not one: scanners click
    every link; the landing page view that follows a person's click is."""
    return event.revisit and event.kind != "email_click" and not is_machine(event)


def step_of(message_id: str) -> tuple[str, int] | None:
    """(sequence, step index) of a step mail's message id ``<sequence>:<step>:<lead>:<enrolled at>``
    (``reawake.stepmail.sequences.decide.message_id``; parsed here so tracking does not import step mail)."""
    parts = message_id.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[3].isdigit():
        return None
    return parts[0], int(parts[1])


def business_deadline(start: date, business_days: int) -> date:
    """The ``business_days``-th weekday after ``start`` that is not a Japanese public holiday."""
    from reawake.core.holidays_jp import is_holiday  # only when a follow-up arrives

    day, left = start, business_days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5 and not is_holiday(day):
            left -= 1
    return day


def segment_marks(marks: dict[str, Any], lead: Lead) -> dict[str, dict[str, Any]]:
    """The definition marks of the lead's current memberships (a new entry starts afresh)."""
    old = marks.get("s", {})
    return {s: (old[s] if s in old and old[s].get("e") == at else {"e": at}) for s, at in lead.segments.items()}


class _Counter:
    def __init__(self, lead: Lead, tz: ZoneInfo, rules: ScannerRules) -> None:
        self.lead, self.tz, self.rules = lead, tz, rules
        self.marks: dict[str, Any] = copy.deepcopy(dict(lead.report))
        self.marks["s"] = segment_marks(self.marks, lead)
        self.messages: dict[str, dict[str, Any]] = self.marks.setdefault("m", {})
        self.bumps: list[Bump] = []

    def bump(self, scope: str, ts: int, name: str, n: int = 1) -> None:
        self.bumps.append(Bump(scope, day_of(ts, self.tz), name, n))

    def message(self, message_id: str, ts: int) -> dict[str, Any]:
        return self.messages.setdefault(message_id, {"t": ts})

    def last_mail(self, ts: int) -> str | None:
        """The mail a return or conversion at ``ts`` is attributed to: the latest sent (the lead's
        mail log) or delivered at or before it, within ATTRIBUTION_MS."""
        sent = {m: at for m, at in self.lead.mail_log.items()}
        sent.update({m: v["d"] for m, v in self.messages.items() if "d" in v and m not in sent})
        fitting = [(at, m) for m, at in sent.items() if at <= ts and ts - at <= ATTRIBUTION_MS]
        return max(fitting)[1] if fitting else None

    def step(self, message_id: str) -> str | None:
        ref = step_of(message_id)
        return step_scope(*ref) if ref else None

    # --- per message -----------------------------------------------------------------------------

    def on_message_event(self, event: Event) -> None:
        assert event.message_id
        scope = self.step(event.message_id)
        if scope is None:
            return
        m = self.message(event.message_id, event.ts)
        if event.kind == "email_delivery" and "d" not in m:
            m["d"] = event.ts
            self.bump(scope, event.ts, "delivered")
        elif event.kind in MESSAGE_FLAGS:
            flag, name = MESSAGE_FLAGS[event.kind]
            if flag not in m:
                m[flag] = 1
                self.bump(scope, event.ts, name)
        elif event.kind == "email_click":
            clicks = [c for c in self.marks.get("k", []) if event.ts - c[0] < CLICK_MEMORY_MS]
            self.marks["k"] = sorted([*clicks, [event.ts, event.message_id]])
            if not is_machine(event) and len(m.get("h", [])) < MAX_CANDIDATES:
                m["h"] = sorted([*m.get("h", []), event.ts])
        self.settle_clicks()

    def settle_clicks(self) -> None:
        """Drop click candidates that turned out to be a scanner (within seconds of the delivery,
        or in a burst), then count or un-count each message's click."""
        times = sorted({c[0] for c in self.marks.get("k", [])})
        for message_id, m in self.messages.items():
            scope = self.step(message_id)
            if scope is None or not (m.get("h") or "c" in m):
                continue
            m["h"] = [t for t in m.get("h", []) if not self.scanner(t, m.get("d"), times)]
            if m["h"] and "c" not in m:
                m["c"] = m["h"][0]
                self.bump(scope, m["c"], "clicked")
            elif not m["h"] and "c" in m:
                self.bump(scope, m.pop("c"), "clicked", -1)
            if not m["h"]:
                del m["h"]

    def scanner(self, ts: int, delivered: int | None, times: Sequence[int]) -> bool:
        return (fast_click_seconds(ts, delivered, self.rules) is not None
                or burst_size(ts, times, self.rules) is not None)

    # --- returns, conversions, follow-ups -----------------------------------------------------------

    def on_outcome(self, event: Event, flag: str, name: str) -> None:
        """A return (flag r) or a conversion (v): once per membership entry, and once per mail."""
        for segment_id, s in self.marks["s"].items():
            if flag in s or event.ts < s["e"]:
                continue
            s[flag] = 1
            self.bump(def_scope(segment_id), event.ts, name)
            self.bump(def_scope(segment_id), s["e"], f"{name}_{'h' if s.get('h') else 't'}")
        mail = self.last_mail(event.ts)
        scope = self.step(mail) if mail else None
        if mail and scope:
            m = self.message(mail, event.ts)
            if flag not in m:
                m[flag] = 1
                self.bump(scope, event.ts, name)

    def on_unsubscribe(self, event: Event) -> None:
        if self.marks.get("u"):
            return
        self.marks["u"] = 1
        mail = event.message_id or self.last_mail(event.ts)
        scope = self.step(mail) if mail else None
        if scope:
            self.bump(scope, event.ts, "unsubscribed")

    def on_followup(self, event: Event) -> None:
        alerted = self.lead.reactivated_at
        if alerted is None or event.ts < alerted or self.marks.get("f") == alerted:
            return
        self.marks["f"] = alerted
        alert_day = day_of(alerted, self.tz)
        deadline = business_deadline(date(int(alert_day[:4]), int(alert_day[4:6]), int(alert_day[6:])),
                                     FOLLOWUP_BUSINESS_DAYS)
        if day_of(event.ts, self.tz) <= deadline.strftime("%Y%m%d"):
            self.bumps.append(Bump(ALERTS, alert_day, owner_field("followed", self.lead.owner)))
            self.bumps.append(Bump(ALERTS, alert_day, owner_field("followup_ms", self.lead.owner), 0,
                                   append=event.ts - alerted))

    def prune(self, now_ms: int) -> None:
        self.marks["m"] = {k: v for k, v in self.messages.items() if now_ms - v["t"] < KEEP_MS}
        self.marks["k"] = [c for c in self.marks.get("k", []) if now_ms - c[0] < CLICK_MEMORY_MS]
        for key in ("m", "s", "k"):
            if not self.marks[key]:
                del self.marks[key]


def count_events(lead: Lead, events: Iterable[Event], now_ms: int, tz: ZoneInfo,
                 rules: ScannerRules | None = None) -> tuple[dict[str, Any], list[Bump]]:
    """The lead's new marks and the counter bumps of these events (events not yet stored)."""
    counter = _Counter(lead, tz, rules or ScannerRules())
    ordered = sorted(events, key=lambda e: (e.ts, e.id))
    for event in ordered:
        if event.message_id and event.kind.startswith("email_"):
            counter.on_message_event(event)
        if event.kind == "unsubscribe":
            counter.on_unsubscribe(event)
        elif is_return(event):
            counter.on_outcome(event, "r", "returned")
        if event.kind in CONVERSION_KINDS:
            counter.on_outcome(event, "v", "converted")
        elif event.kind == "sales_followup":
            counter.on_followup(event)
    counter.prune(now_ms)
    return counter.marks, merge(counter.bumps)


def merge(bumps: Iterable[Bump]) -> list[Bump]:
    """One bump per (scope, day, field); appends stay apart; bumps that cancel out are dropped."""
    totals: dict[tuple[str, str, str], int] = {}
    appends: list[Bump] = []
    for b in bumps:
        if b.append is not None:
            appends.append(b)
        else:
            key = (b.scope, b.day, b.field)
            totals[key] = totals.get(key, 0) + b.n
    return [Bump(s, d, f, n) for (s, d, f), n in totals.items() if n] + appends


def membership_bumps(before: Mapping[str, int], after: Mapping[str, int], held_out: Iterable[str],
                     now_ms: int, tz: ZoneInfo) -> list[Bump]:
    """A segment run's change of one lead: entered (and entered while held out), left."""
    out = []
    held = set(held_out)
    for segment_id in after.keys() - before.keys():
        out.append(Bump(def_scope(segment_id), day_of(after[segment_id], tz), "entered"))
        if segment_id in held:
            out.append(Bump(def_scope(segment_id), day_of(after[segment_id], tz), "entered_h"))
    out.extend(Bump(def_scope(s), day_of(now_ms, tz), "left") for s in before.keys() - after.keys())
    return out
