"""Why a lead is (or is not) in a segment: every condition, whether it held, and the values read.

For ``reawake segments explain ID --lead EMAIL``. Slow and thorough on purpose; it evaluates
with the same semantics as ``compile`` (the tests check that the two always agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reawake.core import scoring
from reawake.core.durations import format_time, parse_time
from reawake.core.leads import Lead
from reawake.segments.rules.compile import (
    NEVER,
    Context,
    as_number,
    dimension,
    norm_text,
    present,
    value_matcher,
)
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
)


@dataclass(frozen=True)
class Explanation:
    text: str
    held: bool
    detail: str = ""
    children: tuple[Explanation, ...] = ()

    def render(self, indent: int = 0) -> str:
        mark = "✓" if self.held else "✗"
        line = "  " * indent + f"{mark} {self.text}" + (f"  — {self.detail}" if self.detail else "")
        return "\n".join([line, *(c.render(indent + 1) for c in self.children)])


def explain(rule: Condition, lead: Lead, ctx: Context) -> Explanation:
    return _Explainer(ctx).explain(rule, lead)


class _Explainer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def time(self, ts: int) -> str:
        return format_time(ts, self.ctx.tz)

    def explain(self, cond: Condition, lead: Lead) -> Explanation:
        if isinstance(cond, AllOf):
            parts = tuple(self.explain(c, lead) for c in cond.all_)
            return Explanation("all of", all(p.held for p in parts), "", parts)
        if isinstance(cond, AnyOf):
            parts = tuple(self.explain(c, lead) for c in cond.any_)
            return Explanation("any of", any(p.held for p in parts), "", parts)
        if isinstance(cond, Not):
            inner = self.explain(cond.not_, lead)
            return Explanation("not", not inner.held, "", (inner,))
        if isinstance(cond, EventCondition):
            return self.event(cond, lead)
        if isinstance(cond, AttrCondition | FieldCondition):
            return self.attribute(cond, lead)
        if isinstance(cond, BandCondition):
            return self.band(cond, lead)
        raise TypeError(cond)  # pragma: no cover

    def event(self, cond: EventCondition, lead: Lead) -> Explanation:
        keys = [dimension(kind, cond.filter) for kind in cond.kinds]
        subject = " or ".join(keys)
        latest = max((lead.last.get(k, NEVER) for k in keys), default=NEVER)
        seen = f"latest {self.time(latest)}" if latest > NEVER else "never happened"
        if cond.ever:
            return Explanation(f"{subject} ever", latest > NEVER, seen)
        if cond.older_than is not None:
            limit = self.ctx.cutoff(cond.older_than)
            held = NEVER < latest < limit
            return Explanation(f"{subject} older than {cond.older_than}", held, f"{seen}; before {self.time(limit)}?")
        assert cond.within is not None
        since = self.ctx.cutoff(cond.within)
        if cond.at_least is None:
            return Explanation(f"{subject} within {cond.within}", latest >= since, f"{seen}; since {self.time(since)}")
        days = self.ctx.day_keys(since)
        total = sum(lead.days.get(f"{k}#{d}", 0) for k in keys for d in days)
        return Explanation(
            f"{subject} at least {cond.at_least} within {cond.within}",
            total >= cond.at_least,
            f"{total} on the days {days[0]}–{days[-1]}",
        )

    def attribute(self, cond: AttrCondition | FieldCondition, lead: Lead) -> Explanation:
        op, expected = cond.operator
        name: str
        if isinstance(cond, AttrCondition):
            name = cond.attr
            value: Any = getattr(lead, name)
            if name == "score" and self.ctx.scoring is not None:
                value = scoring.current_score(lead, self.ctx.scoring, self.ctx.now_ms)
        else:
            name = f"field {cond.field_}"
            value = lead.attrs.get(cond.field_)
        text = f"{name} {op} {expected}"
        shown = "missing" if not present(value) else repr(value)
        if op == "exists":
            return Explanation(text, present(value) == bool(expected), shown)
        if op in ("within", "older_than"):
            limit = self.ctx.cutoff(expected)
            if isinstance(cond, AttrCondition) and cond.attr in TIME_ATTRS:
                ts = value
            else:
                ts = parse_time(value, self.ctx.tz)
            if ts is None:
                return Explanation(text, False, shown if not present(value) else f"{shown} is not a date")
            held = ts >= limit if op == "within" else ts < limit
            relation = "since" if op == "within" else "before"
            return Explanation(text, held, f"{self.time(ts)}; {relation} {self.time(limit)}?")
        if not present(value):
            return Explanation(text, False, shown)
        if op in ("equals", "in"):
            held = value_matcher(expected if op == "in" else [expected])(value)
        elif op == "contains":
            held = norm_text(expected) in norm_text(value)
        else:
            number = as_number(value)
            threshold = float(expected)
            comparisons = {
                "gt": lambda n: n > threshold,
                "gte": lambda n: n >= threshold,
                "lt": lambda n: n < threshold,
                "lte": lambda n: n <= threshold,
            }
            held = number is not None and comparisons[op](number)
        return Explanation(text, held, shown)

    def band(self, cond: BandCondition, lead: Lead) -> Explanation:
        text = f"band in {', '.join(cond.bands)}"
        config = self.ctx.scoring
        if config is None:
            return Explanation(text, False, "no scoring config")
        found = scoring.band(lead, config, self.ctx.now_ms)
        score = scoring.current_score(lead, config, self.ctx.now_ms)
        detail = f"score {score:.2f} → {found}" if found else f"score {score:.2f}; unsubscribed or suppressed: no band"
        return Explanation(text, found in cond.bands, detail)
