"""Rules compiled once per run into a fast predicate over a lead's aggregates.

``compile_rule(rule, Context(now_ms, tz, scoring))`` computes every window's cutoff once, then
returns ``predicate(lead) -> bool``: plain closures reading ``lead.last`` / ``lead.days`` /
attributes, with no allocation per lead on the common paths.

Semantics (the same ones ``explain`` reports and the brute-force tests recompute from raw events):

- cutoff = ``now - D`` (calendar rules in ``reawake.core.durations``);
- event ``within: D``: the latest matching event is at or after the cutoff (no upper bound);
- event ``older_than: D``: there is a matching event and the latest is strictly before the cutoff;
- event ``ever: true``: there is a matching event (``last`` is never pruned);
- ``at_least: N`` + ``within: D``: at least N matching events on the calendar days (configured
  time zone) from the day of the cutoff through the day of ``now``: whole days, so an event at
  00:05 on the cutoff day counts even when the cutoff is 10:00;
- a list of kinds is one stream: its latest event is the latest of any, its count the sum;
- attribute times: ``within`` is ``t >= cutoff``, ``older_than`` is ``t < cutoff``; a missing
  value satisfies only ``exists: false`` (so ``not`` of any other test holds for it);
- text compares after NFKC normalization, trimming and case folding (``ＡＢＣ`` equals ``abc``);
  an empty text is a missing value; numbers in imported fields may be numeric text (``"1,200"``);
  ``equals`` with a number compares numerically, with text as text;
- imported fields with ``within``/``older_than`` are read as dates (``reawake.core.durations.parse_time``),
  dates without a time being midnight in the configured time zone;
- ``score`` is the decayed score at ``now``; ``band`` is the lead's band at ``now``, never
  matching an unsubscribed or suppressed lead.
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core import scoring
from reawake.core.durations import Duration, cutoff, local_day, parse_time, to_epoch_ms
from reawake.core.leads import Lead
from reawake.segments.rules.model import (
    TIME_ATTRS,
    AllOf,
    AnyOf,
    AttrCondition,
    BandCondition,
    Condition,
    EventCondition,
    FieldCondition,
    Not,
    SegmentDefinition,
)

Predicate = Callable[[Lead], bool]
NEVER = -(1 << 62)
TOKYO = ZoneInfo("Asia/Tokyo")


class CompileError(ValueError):
    """A rule that validated but cannot run in this context (e.g. bands without a scoring config)."""


@dataclass(frozen=True)
class Context:
    """What a run evaluates against: the moment, the time zone of day buckets, the scoring config."""

    now_ms: int
    tz: ZoneInfo = TOKYO
    scoring: scoring.ScoringConfig | None = None
    _cutoffs: dict[Duration, int] = field(default_factory=dict, compare=False, repr=False)

    def cutoff(self, duration: Duration) -> int:
        found = self._cutoffs.get(duration)
        if found is None:
            found = self._cutoffs[duration] = cutoff(duration, self.now_ms, self.tz)
        return found

    def day_keys(self, since_ms: int) -> list[str]:
        """``YYYYMMDD`` of every day from the day of ``since_ms`` through the day of now."""
        day, last = local_day(since_ms, self.tz), local_day(self.now_ms, self.tz)
        days = []
        while day <= last:
            days.append(day.strftime("%Y%m%d"))
            day += timedelta(days=1)
        return days


def dimension(kind: str, filter_: tuple[str, str] | None) -> str:
    """The aggregate key of a kind with at most one filter (the format of ``reawake.core.leads``)."""
    return kind if filter_ is None else f"{kind}@{filter_[0]}:{filter_[1]}"


@lru_cache(maxsize=65536)
def _norm_str(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def norm_text(value: Any) -> str:
    """Text as rules compare it: NFKC, trimmed, case-folded; numbers as they are written."""
    if isinstance(value, str):
        return _norm_str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _norm_str(str(value))


@lru_cache(maxsize=65536)
def _str_number(value: str) -> float | None:
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def as_number(value: Any) -> float | None:
    if isinstance(value, str):
        return _str_number(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    return None


def time_reader(tz: ZoneInfo) -> Callable[[Any], int | None]:
    """``parse_time`` in ``tz``, remembering the texts it has read (imported dates repeat)."""
    cached = lru_cache(maxsize=65536)(lambda text: parse_time(text, tz))

    def read(value: Any) -> int | None:
        return cached(value) if isinstance(value, str) else None

    return read


def present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(norm_text(value))
    return None


def value_matcher(expected: Sequence[Any]) -> Callable[[Any], bool]:
    """``equals``/``in`` for a present value: numbers numerically, booleans as such, text as text."""
    numbers = {float(e) for e in expected if isinstance(e, int | float) and not isinstance(e, bool)}
    texts = {norm_text(e) for e in expected if isinstance(e, str)}
    bools = {e for e in expected if isinstance(e, bool)}

    def matches(value: Any) -> bool:
        if bools and _as_bool(value) in bools:
            return True
        if numbers:
            number = as_number(value)
            if number is not None and number in numbers:
                return True
        return bool(texts) and not isinstance(value, bool) and norm_text(value) in texts

    return matches


_NUMBER_TESTS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


class Compiler:
    def __init__(self, context: Context) -> None:
        self.ctx = context

    def compile(self, condition: Condition) -> Predicate:
        if isinstance(condition, AllOf):
            return self._all([self.compile(c) for c in condition.all_])
        if isinstance(condition, AnyOf):
            return self._any([self.compile(c) for c in condition.any_])
        if isinstance(condition, Not):
            return self._not(condition.not_)
        if isinstance(condition, EventCondition):
            return self._event(condition)
        if isinstance(condition, AttrCondition):
            return self._attr(condition)
        if isinstance(condition, FieldCondition):
            return self._field(condition)
        if isinstance(condition, BandCondition):
            return self._band(condition)
        raise CompileError(f"unknown condition {condition!r}")  # pragma: no cover

    # --- logic ------------------------------------------------------------------------------

    @staticmethod
    def _all(parts: list[Predicate]) -> Predicate:
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda lead: a(lead) and b(lead)
        if len(parts) == 3:
            a, b, c = parts
            return lambda lead: a(lead) and b(lead) and c(lead)
        frozen = tuple(parts)

        def all_of(lead: Lead) -> bool:
            for part in frozen:  # noqa: SIM110 (a plain loop is faster than all() of a generator)
                if not part(lead):
                    return False
            return True

        return all_of

    @staticmethod
    def _any(parts: list[Predicate]) -> Predicate:
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda lead: a(lead) or b(lead)
        frozen = tuple(parts)

        def any_of(lead: Lead) -> bool:
            for part in frozen:  # noqa: SIM110 (a plain loop is faster than any() of a generator)
                if part(lead):
                    return True
            return False

        return any_of

    def _not(self, inner: Condition) -> Predicate:
        # The dormant pattern "no such event within D" reads one key: fuse it.
        if isinstance(inner, EventCondition) and len(inner.kinds) == 1 and inner.at_least is None:
            key = dimension(inner.kinds[0], inner.filter)
            if inner.within is not None:
                since = self.ctx.cutoff(inner.within)
                return lambda lead: lead.last.get(key, NEVER) < since
            if inner.ever:
                return lambda lead: key not in lead.last
        positive = self.compile(inner)
        return lambda lead: not positive(lead)

    # --- events -----------------------------------------------------------------------------

    def _event(self, cond: EventCondition) -> Predicate:
        keys = tuple(dimension(kind, cond.filter) for kind in cond.kinds)
        if cond.ever:
            if len(keys) == 1:
                key = keys[0]
                return lambda lead: key in lead.last
            return lambda lead: any(k in lead.last for k in keys)
        if cond.older_than is not None:
            before = self.ctx.cutoff(cond.older_than)
            if len(keys) == 1:
                key = keys[0]
                return lambda lead: NEVER < lead.last.get(key, NEVER) < before
            return lambda lead: NEVER < max(lead.last.get(k, NEVER) for k in keys) < before
        assert cond.within is not None
        since = self.ctx.cutoff(cond.within)
        if cond.at_least is not None:
            return self._count(keys, since, cond.at_least)
        if len(keys) == 1:
            key = keys[0]
            return lambda lead: lead.last.get(key, NEVER) >= since
        return lambda lead: any(lead.last.get(k, NEVER) >= since for k in keys)

    def _count(self, dims: tuple[str, ...], since: int, needed: int) -> Predicate:
        days = self.ctx.day_keys(since)  # oldest first, through today
        first_day, last_day, tz = days[0], days[-1], self.ctx.tz
        starts = [to_epoch_ms(datetime(int(d[:4]), int(d[4:6]), int(d[6:]), tzinfo=tz)) for d in days]
        per_dim = tuple((dim, tuple(f"{dim}#{day}" for day in days)) for dim in dims)

        def at_least(lead: Lead) -> bool:
            buckets = lead.days
            if not buckets:
                return False
            last = lead.last
            total = 0
            for dim, keys in per_dim:
                latest = last.get(dim, NEVER)
                if latest < starts[0]:
                    continue  # nothing since the first counted day began (most dormant leads)
                # Walk back from the day of the latest event; no bucket of this dim is newer.
                index = bisect_right(starts, latest) - 1
                if len(buckets) <= index:  # fewer buckets than days to look at: scan the buckets
                    for key, count in buckets.items():
                        kind, _, day = key.rpartition("#")
                        if kind == dim and first_day <= day <= last_day:
                            total += count
                            if total >= needed:
                                return True
                    continue
                get = buckets.get
                while index >= 0:
                    total += get(keys[index], 0)
                    if total >= needed:
                        return True
                    index -= 1
            return False

        return at_least

    # --- attributes -------------------------------------------------------------------------

    def _attr(self, cond: AttrCondition) -> Predicate:
        op, expected = cond.operator
        if cond.attr == "score":
            config = self._scoring("score")
            now, half_life = self.ctx.now_ms, config.half_life_ms
            test = _NUMBER_TESTS[op]
            threshold = float(expected)
            exp2 = math.exp2
            return lambda lead: test(lead.score * exp2(-max(now - lead.score_at, 0) / half_life), threshold)
        get = attrgetter(cond.attr)
        if cond.attr in TIME_ATTRS:
            if op == "exists":
                return (lambda lead: get(lead) is not None) if expected else (lambda lead: get(lead) is None)
            limit = self.ctx.cutoff(expected)
            if op == "within":
                return lambda lead: (t := get(lead)) is not None and t >= limit
            return lambda lead: (t := get(lead)) is not None and t < limit
        return self._value_test(op, expected, get)

    def _field(self, cond: FieldCondition) -> Predicate:
        name = cond.field_
        op, expected = cond.operator

        def get(lead: Lead) -> Any:
            return lead.attrs.get(name)

        if op in ("within", "older_than"):
            limit = self.ctx.cutoff(expected)
            read = time_reader(self.ctx.tz)
            if op == "within":
                return lambda lead: (t := read(get(lead))) is not None and t >= limit
            return lambda lead: (t := read(get(lead))) is not None and t < limit
        return self._value_test(op, expected, get)

    @staticmethod
    def _value_test(op: str, expected: Any, get: Callable[[Lead], Any]) -> Predicate:
        if op == "exists":
            if expected:
                return lambda lead: present(get(lead))
            return lambda lead: not present(get(lead))
        if op in ("equals", "in"):
            matches = value_matcher(expected if op == "in" else [expected])
            return lambda lead: present(v := get(lead)) and matches(v)
        if op == "contains":
            needle = norm_text(expected)
            return lambda lead: present(v := get(lead)) and needle in norm_text(v)
        if op in _NUMBER_TESTS:
            test = _NUMBER_TESTS[op]
            threshold = float(expected)
            return lambda lead: (n := as_number(get(lead))) is not None and test(n, threshold)
        raise CompileError(f"{op} does not apply here")  # pragma: no cover (validated)

    # --- score bands ------------------------------------------------------------------------

    def _scoring(self, what: str) -> scoring.ScoringConfig:
        if self.ctx.scoring is None:
            raise CompileError(f"{what} conditions need the scoring config")
        return self.ctx.scoring

    def _band(self, cond: BandCondition) -> Predicate:
        config = self._scoring("band")
        unknown = [b for b in cond.bands if b not in config.band_names]
        if unknown:
            raise CompileError(f"unknown band {unknown[0]!r}; bands: {', '.join(config.band_names)}")
        # The band test as score thresholds: in band i when mins[i] <= score < mins[i-1].
        now, half_life = self.ctx.now_ms, config.half_life_ms
        ranges = []
        upper = math.inf
        for band in config.bands:
            lower = -math.inf if band.min is None else band.min
            if band.name in cond.bands:
                ranges.append((lower, upper))
            upper = lower
        ranges_t = tuple(ranges)

        def in_band(lead: Lead) -> bool:
            if lead.unsubscribed_at is not None or lead.suppressed:
                return False
            score = lead.score * math.exp2(-max(now - lead.score_at, 0) / half_life)
            for lower, top in ranges_t:  # noqa: SIM110 (faster than any() of a generator)
                if lower <= score < top:
                    return True
            return False

        return in_band


def compile_rule(rule: Condition, context: Context) -> Predicate:
    """The rule as ``predicate(lead) -> bool`` at ``context.now_ms``."""
    return Compiler(context).compile(rule)


def compile_definitions(
    definitions: Sequence[SegmentDefinition], context: Context
) -> list[tuple[SegmentDefinition, Predicate]]:
    """Every definition compiled against one context (cutoffs computed once for all)."""
    compiler = Compiler(context)
    return [(d, compiler.compile(d.rule)) for d in definitions]
