"""The report, read from the counters: O(days × (definitions + steps + 2)) items, never an event
or a lead. ``build_report`` takes the counter reader as a port, so a test hands it a dict."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from reawake.core.counting import ALERTS, CALLS, def_scope, step_scope
from reawake.reports.holdout import Comparison, compare

TREND_DAYS = 90
DEF_FIELDS = ("members", "entered", "left", "returned", "reactivated", "converted")
STEP_FIELDS = ("enrolled", "sent", "delivered", "opened", "clicked", "returned", "converted",
               "unsubscribed", "bounced", "complained", "deferred")


class CounterReader(Protocol):
    def days(self, scope: str, first_day: str, last_day: str) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class DefinitionInfo:
    id: str
    name: str
    approach: str  # watch | sequence | owner_task
    sequence: str | None = None
    holdout: float = 0.0


@dataclass(frozen=True)
class SequenceInfo:
    id: str
    name: str
    steps: tuple[str, ...]  # step names, in order


@dataclass(frozen=True)
class DefinitionReport:
    info: DefinitionInfo
    trend: tuple[tuple[date, dict[str, int]], ...]  # TREND_DAYS days up to the period's end
    totals: dict[str, int]  # over the period (members: at its end)
    returns: Comparison  # mailed vs held out, of the leads that entered in the period
    conversions: Comparison


@dataclass(frozen=True)
class StepReport:
    sequence: SequenceInfo
    index: int
    name: str
    counts: dict[str, int]

    def rate(self, numerator: str, denominator: str) -> float | None:
        d = self.counts.get(denominator, 0)
        return self.counts.get(numerator, 0) / d if d else None


@dataclass(frozen=True)
class OwnerReport:
    owner: str  # an address, or "team"
    name: str
    alerts: int
    followed: int
    median_ms: float | None

    @property
    def share(self) -> float | None:
        return self.followed / self.alerts if self.alerts else None


@dataclass(frozen=True)
class CallReport:
    owner: str
    name: str
    done: int
    expired: int


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    generated_at: int
    definitions: tuple[DefinitionReport, ...]
    steps: tuple[StepReport, ...]
    owners: tuple[OwnerReport, ...]
    calls: tuple[CallReport, ...]
    items_read: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


class _Reader:
    def __init__(self, counters: CounterReader) -> None:
        self.counters = counters
        self.items = 0

    def days(self, scope: str, first: date, last: date) -> dict[str, dict[str, Any]]:
        found = self.counters.days(scope, ymd(first), ymd(last))
        self.items += len(found)
        return found


def _definition(reader: _Reader, info: DefinitionInfo, first: date, last: date) -> DefinitionReport:
    trend_first = min(first, last - timedelta(days=TREND_DAYS - 1))
    found = reader.days(def_scope(info.id), trend_first, last)
    trend = []
    members = 0
    for day in _days(trend_first, last):
        row = found.get(ymd(day), {})
        members = _number(row["members"]) if "members" in row else members  # no run that day: as before
        trend.append((day, {"members": members, **{f: _number(row.get(f)) for f in DEF_FIELDS[1:]}}))
    in_period = [(d, found.get(ymd(d), {})) for d in _days(first, last)]
    totals = {f: sum(_number(r.get(f)) for _, r in in_period) for f in DEF_FIELDS[1:]}
    totals["members"] = next(v["members"] for d, v in reversed(trend) if d <= last)
    totals["entered_h"] = held = sum(_number(r.get("entered_h")) for _, r in in_period)
    treated = totals["entered"] - held

    def arm(name: str) -> Comparison:
        hits_t = sum(_number(r.get(f"{name}_t")) for _, r in in_period)
        hits_h = sum(_number(r.get(f"{name}_h")) for _, r in in_period)
        return compare(treated, hits_t, held, hits_h)

    return DefinitionReport(info, tuple(trend[-TREND_DAYS:]), totals, arm("returned"), arm("converted"))


def _steps(reader: _Reader, sequence: SequenceInfo, first: date, last: date) -> list[StepReport]:
    out = []
    for index, name in enumerate(sequence.steps):
        found = reader.days(step_scope(sequence.id, index), first, last)
        counts = {f: sum(_number(r.get(f)) for r in found.values()) for f in STEP_FIELDS}
        out.append(StepReport(sequence, index, name, counts))
    return out


def _per_owner(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """``name|owner`` attributes of the day items -> owner -> name -> the day values."""
    owners: dict[str, dict[str, list[Any]]] = {}
    for row in rows.values():
        for key, v in row.items():
            name, sep, owner = key.partition("|")
            if sep:
                owners.setdefault(owner, {}).setdefault(name, []).append(v)
    return owners


def build_report(counters: CounterReader, definitions: Sequence[DefinitionInfo], sequences: Sequence[SequenceInfo],
                 first: date, last: date, generated_at: int,
                 owner_names: Mapping[str, str] | None = None) -> Report:
    """The report for the days ``first`` … ``last`` (inclusive, in the configured time zone)."""
    names = dict(owner_names or {})
    names.setdefault("team", "担当なし（チーム宛て）")
    reader = _Reader(counters)
    defs = tuple(_definition(reader, d, first, last) for d in definitions)
    steps = tuple(s for seq in sequences for s in _steps(reader, seq, first, last))
    alerts = _per_owner(reader.days(ALERTS, first, last))
    owners = []
    for owner, values in sorted(alerts.items()):
        times = [int(t) for day_list in values.get("followup_ms", []) for t in day_list]
        owners.append(OwnerReport(owner, names.get(owner, owner), sum(map(_number, values.get("sent", []))),
                                  sum(map(_number, values.get("followed", []))),
                                  statistics.median(times) if times else None))
    calls = [CallReport(owner, names.get(owner, owner), sum(map(_number, v.get("done", []))),
                        sum(map(_number, v.get("expired", []))))
             for owner, v in sorted(_per_owner(reader.days(CALLS, first, last)).items())]
    return Report(first, last, generated_at, defs, steps, tuple(owners), tuple(calls), reader.items)
