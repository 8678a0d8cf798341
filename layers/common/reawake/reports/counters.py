"""The counters behind the report: the small calls each feature makes on its write path, and the
DynamoDB adapter that keeps them.

Items (pk ``STATS#<scope>``, sk the day ``YYYYMMDD`` in the configured time zone):
- ``DEF#<definition>``: members, entered, entered_h (held out), left, returned, reactivated,
  converted; ``returned_t/_h`` and ``converted_t/_h`` on the *entry* day (a cohort, by arm);
- ``STEP#<sequence>#<index>``: enrolled (step 0), sent, delivered, opened, clicked, returned,
  converted, unsubscribed, bounced, complained, deferred;
- ``ALERTS``: ``sent|<owner>``, ``followed|<owner>``, ``followup_ms|<owner>`` (a list, for the median);
- ``CALLS``: ``done|<owner>``, ``expired|<owner>``.

Every count is written *after* the write it counts succeeded, and only when that write was the
first (a conditional put, an optimistic version): a replay never counts twice. A crash between
the two loses that one count (never doubles it); a counter write that fails is logged, never
turned into a failed request (its retry would be refused as a duplicate and count nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, overload
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from reawake.core.dynamo import deserialize, value
from reawake.core.events import Event
from reawake.core.leads import Lead, day_of
from reawake.core.settings import get_settings
from reawake.reports.counting import (
    ALERTS,
    CALLS,
    Bump,
    count_events,
    def_scope,
    membership_bumps,
    owner_field,
    segment_marks,
    step_scope,
)

logger = Logger(child=True)
PREFIX = "STATS#"


class CounterStore:
    """Counter items in the reawake table. ``store``: anything with ``client`` and ``table_name``."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def add(self, bumps: Iterable[Bump]) -> int:
        """One UpdateItem per (scope, day). Returns the items written."""
        grouped: dict[tuple[str, str], list[Bump]] = defaultdict(list)
        sums: dict[tuple[str, str, str], int] = defaultdict(int)
        for b in bumps:
            if b.append is None:  # counts of one field add up (a segment shard's leads, in one update)
                sums[(b.scope, b.day, b.field)] += b.n
            else:
                grouped[(b.scope, b.day)].append(b)
        for (scope, day, name), n in sums.items():
            grouped[(scope, day)].append(Bump(scope, day, name, n))
        for (scope, day), group in grouped.items():
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
            adds, sets = [], []
            for i, b in enumerate(group):
                names[f"#f{i}"] = b.field
                if b.append is None:
                    adds.append(f"#f{i} :v{i}")
                    values[f":v{i}"] = value(b.n)
                else:
                    sets.append(f"#f{i} = list_append(if_not_exists(#f{i}, :empty), :v{i})")
                    values[f":v{i}"] = value([b.append])
                    values[":empty"] = {"L": []}
            expression = " ".join(part for part in (
                "SET " + ", ".join(sets) if sets else "", "ADD " + ", ".join(adds) if adds else "") if part)
            self.client.update_item(TableName=self.table, Key={"pk": {"S": PREFIX + scope}, "sk": {"S": day}},
                                    UpdateExpression=expression, ExpressionAttributeNames=names,
                                    ExpressionAttributeValues=values)
        return len(grouped)

    def set_field(self, scope: str, day: str, field: str, number: int) -> None:
        self.client.update_item(TableName=self.table, Key={"pk": {"S": PREFIX + scope}, "sk": {"S": day}},
                                UpdateExpression="SET #f = :v", ExpressionAttributeNames={"#f": field},
                                ExpressionAttributeValues={":v": value(number)})

    def days(self, scope: str, first_day: str, last_day: str) -> dict[str, dict[str, Any]]:
        """``YYYYMMDD`` -> the scope's counters that day (days with no counts are absent)."""
        out: dict[str, dict[str, Any]] = {}
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":pk": {"S": PREFIX + scope}, ":a": {"S": first_day}, ":b": {"S": last_day}},
        ):
            for item in page.get("Items", []):
                data = deserialize(item)
                day = data.pop("sk")
                data.pop("pk")
                out[day] = data
        return out


def _counter_store(store: Any) -> CounterStore:
    return CounterStore(store.client, getattr(store, "table_name", None) or store.table)


def add(store: Any, bumps: Iterable[Bump]) -> None:
    """Write counts after the write they count succeeded; a failure is logged, not raised."""
    bumps = list(bumps)
    if not bumps:
        return
    try:
        _counter_store(store).add(bumps)
    except Exception:
        logger.exception("report counters not written", extra={"counts": len(bumps)})


# --- the hooks, one per feature -------------------------------------------------------------------


@overload
def count(before: Lead | None, after: Lead, events: list[Event], now_ms: int,
          tz: ZoneInfo) -> tuple[Lead, list[Bump]]: ...


@overload
def count(before: Lead | None, after: Lead | None, events: list[Event], now_ms: int,
          tz: ZoneInfo) -> tuple[Lead | None, list[Bump]]: ...


def count(before: Lead | None, after: Lead | None, events: list[Event], now_ms: int,
          tz: ZoneInfo) -> tuple[Lead | None, list[Bump]]:
    """Tracking and the activities import: ``after`` (the lead about to be written with
    ``events``) with its report marks, and what to count once the write succeeded."""
    if before is None or after is None or not events:
        return after, []
    marks, bumps = count_events(before, events, now_ms, tz)
    return replace(after, report=marks), bumps


def on_membership(before: Lead, after: Lead, held_out: Iterable[str], now_ms: int,
                  tz: ZoneInfo) -> tuple[Lead, list[Bump]]:
    """A segment run's change: the lead with its holdout marks, and entered / left counts."""
    held = set(held_out)
    marks = dict(after.report)
    segs = segment_marks(marks, after)
    for segment_id in held:
        if segment_id in segs:
            segs[segment_id] = {**segs[segment_id], "h": 1}
    if segs:
        marks["s"] = segs
    else:
        marks.pop("s", None)
    return replace(after, report=marks), membership_bumps(before.segments, after.segments, held, now_ms, tz)


def set_members(store: Any, members: Mapping[str, int], definition_ids: Iterable[str], now_ms: int,
                tz: ZoneInfo) -> None:
    """The segment run's total per definition for its day (a re-run overwrites: no double count)."""
    day = day_of(now_ms, tz)
    counters = _counter_store(store)
    for segment_id in sorted(set(definition_ids) | set(members)):
        try:
            counters.set_field(def_scope(segment_id), day, "members", int(members.get(segment_id, 0)))
        except Exception:
            logger.exception("member count not written", extra={"segment_id": segment_id})


def reactivated(store: Any, lead: Lead, at_ms: int, tz: ZoneInfo) -> None:
    """Alerts: the lead was reactivated (once per dormancy: an optimistic-version write)."""
    add(store, [Bump(def_scope(s), day_of(at_ms, tz), "reactivated") for s in sorted(lead.segments)])


def alert_sent(store: Any, lead: Lead, claimed_at: int, tz: ZoneInfo) -> None:
    """Alerts: a new alert was claimed (the conditional claim is what makes it once)."""
    add(store, [Bump(ALERTS, day_of(claimed_at, tz), owner_field("sent", lead.owner))])


def step_event(store: Any, sequence: str, step_index: int, name: str, at_ms: int, n: int = 1,
               tz: ZoneInfo | None = None) -> None:
    """Step mail: ``enrolled`` (a new enrollment item, on step 0), ``sent`` (a send claim, written on
    condition that the message id is new; −1 when a claim is released unsent) or ``deferred`` (the
    frequency cap moved a mail)."""
    zone = tz or get_settings().time_zone
    add(store, [Bump(step_scope(sequence, step_index), day_of(at_ms, zone), name, n)])


def step_events(store: Any, events: Iterable[tuple[str, int, str, int, int]], tz: ZoneInfo | None = None) -> None:
    """Many ``step_event``s (sequence, step index, name, at_ms, n) summed: one update per step and day."""
    zone = tz or get_settings().time_zone
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for sequence, step_index, name, at_ms, n in events:
        sums[(step_scope(sequence, step_index), day_of(at_ms, zone), name)] += n
    add(store, [Bump(scope, day, name, n) for (scope, day, name), n in sums.items() if n])


def call_task(store: Any, owner: str | None, outcome: str, at_ms: int, tz: ZoneInfo) -> None:
    """Call lists: a task closed as ``done`` or ``expired`` (a conditional status change: once)."""
    add(store, [Bump(CALLS, day_of(at_ms, tz), owner_field(outcome, owner))])
