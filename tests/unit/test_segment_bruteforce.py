"""Every definition over thousands of generated leads, against a brute force over the raw events.

The reference below never reads the aggregates (``last``/``days``), the stored score or the
library's calendar code: it computes cutoffs with dateutil, matches events from their URLs and
properties, and counts per JST calendar day from the timestamps.
"""

from __future__ import annotations

import functools
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta

from reawake.core.durations import Duration, parse_duration
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.segments.rules.compile import Context, compile_definitions
from reawake.segments.rules.config import load_segment_files, load_segments
from reawake.segments.rules.explain import explain
from reawake.segments.rules.model import (
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
from tests.datagen import NOW, SITE, TOKYO, Dataset, generate, ms

ROOT = Path(__file__).resolve().parents[2]
UTC_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))

# Evaluation moments: the dataset's own now; a moment just before midnight JST; a month end
# (2026-12-31 minus 3 months is clamped to 2026-09-30).
NOWS = [
    NOW,
    ms(datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=TOKYO)),
    ms(datetime(2026, 12, 31, 0, 0, tzinfo=TOKYO)),
]

# Rules that use every part of the language (beside the shipped config/segments.yaml): id -> rule.
RULES = {
    "kind-within": "{event: page_view, within: 30d}",
    "kind-list-within": "{event: [download, form_submit], within: 2w}",
    "kind-list-older": "{event: [purchase, conversion], older_than: 6mo}",
    "site-within": "{event: page_view, site: 'https://shop.example.co.jp/', within: 3mo}",
    "path1-within": "{event: page_view, path: /seminar/, within: 1y}",
    "path2-ever": "{event: page_view, path: /seminar/2026/, ever: true}",
    "topic-older": "{event: page_view, topic: pricing, older_than: 60d}",
    "campaign-within": "{event: page_view, campaign: spring, within: 1y}",
    "campaign-jp": "{event: [page_view, download], campaign: 展示会2025, ever: true}",
    "hours": "{event: conversion, within: 36h}",
    "count-kind": "{event: page_view, within: 3mo, at_least: 5}",
    "count-topic": "{event: page_view, topic: pricing, within: 30d, at_least: 3}",
    "count-site-list": "{event: [page_view, download], site: 'https://www.example.co.jp', within: 1y, at_least: 20}",
    "count-activity": "{event: product_use, within: 6mo, at_least: 2}",
    "reg-within": "{attr: registered_at, within: 2mo}",
    "converted": "{attr: converted_at, exists: true}",
    "not-unsub": "{attr: unsubscribed_at, exists: false}",
    "owner-in": "{attr: owner, in: [tanaka@example.co.jp, sato@example.co.jp]}",
    "company-contains": "{attr: company, contains: サンプル}",
    "company-missing": "{attr: company, exists: false}",
    "suppressed": "{attr: suppressed, equals: bounce}",
    "field-equals": "{field: 業種, equals: サービス業}",
    "field-in": "{field: ランク, in: [a, b]}",
    "field-gt": "{field: 従業員数, gt: 100}",
    "field-lte": "{field: 従業員数, lte: 100}",
    "field-num-equals": "{field: 従業員数, equals: 1200}",
    "field-exists": "{field: 最終契約日, exists: true}",
    "field-older": "{field: 最終契約日, older_than: 1y}",
    "field-within": "{field: 最終契約日, within: 6mo}",
    "band-hot": "{band: hot}",
    "band-warm-cold": "{band: [warm, cold]}",
    "score-gte": "{attr: score, gte: 15}",
}
NESTED = """
  - id: nested
    name: 複合
    approach: {type: sequence, sequence: nurture}
    rule:
      any:
        - all:
            - {band: [hot, warm]}
            - not: {event: form_submit, within: 3mo}
        - all:
            - {attr: registered_at, older_than: 1y}
            - not:
                any:
                  - {event: page_view, site: "https://www.example.co.jp", within: 30d}
                  - {event: email_click, within: 30d}
            - {field: 従業員数, gte: 100}
        - not: {not: {event: webinar_view, within: 1w, at_least: 1}}
"""
TEST_RULES = (
    "segments:\n"
    + "".join(
        f"  - {{id: {rule_id}, name: テスト, approach: {{type: watch}}, rule: {rule}}}\n"
        for rule_id, rule in RULES.items()
    )
    + NESTED
)


# --- the reference, from raw events --------------------------------------------------------


@functools.cache
def ref_cutoff(duration: Duration, now_ms: int) -> int:
    now = UTC_EPOCH + timedelta(milliseconds=now_ms)
    local = now.astimezone(TOKYO)
    n = duration.amount
    delta = {
        "h": None,
        "d": relativedelta(days=n),
        "w": relativedelta(weeks=n),
        "mo": relativedelta(months=n),
        "y": relativedelta(years=n),
    }[duration.unit]
    if delta is None:
        return now_ms - n * 3_600_000
    return ms(local - delta)


def jst_day(ts: int) -> Any:
    return (UTC_EPOCH + timedelta(milliseconds=ts)).astimezone(TOKYO).date()


class Facts:
    """What a raw event is, read from its URL and properties."""

    __slots__ = ("campaign", "day", "kind", "path", "site", "topic", "ts")

    def __init__(self, event: Event) -> None:
        self.kind, self.ts, self.day = event.kind, event.ts, jst_day(event.ts)
        parts = urlsplit(event.url) if event.url else None
        self.site = f"{parts.scheme}://{parts.hostname}" if parts else None
        self.path = parts.path if parts else None
        self.topic = event.props.get("topic")
        utm = parse_qs(parts.query).get("utm_campaign", [None])[0] if parts else None
        self.campaign = event.props.get("campaign") or utm


def text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def facts_by_kind(data: Dataset) -> dict[str, dict[str, list[Facts]]]:
    """lead_id -> kind -> the facts of that lead's raw events of that kind."""
    index: dict[str, dict[str, list[Facts]]] = {}
    for lead_id, events in data.events.items():
        by_kind = index.setdefault(lead_id, {})
        for event in events:
            by_kind.setdefault(event.kind, []).append(Facts(event))
    return index


class Reference:
    def __init__(self, data: Dataset, scoring: ScoringConfig, now_ms: int, facts: dict[str, dict[str, list[Facts]]]):
        self.data, self.scoring, self.now, self.facts = data, scoring, now_ms, facts
        self.scores: dict[str, float] = {}

    def score(self, lead: Lead) -> float:
        if lead.lead_id not in self.scores:
            self.scores[lead.lead_id] = self._score(lead)
        return self.scores[lead.lead_id]

    def _score(self, lead: Lead) -> float:
        half_life = self.scoring.half_life.amount * {"h": 1, "d": 24, "w": 168}[self.scoring.half_life.unit] * 3_600_000
        total = 0.0
        for event in self.data.events[lead.lead_id]:
            points = self.scoring.points.kinds.get(event.kind, 0) + self.scoring.points.topics.get(
                event.props.get("topic", ""), 0
            )
            total += points * 0.5 ** ((self.now - event.ts) / half_life)
        return total

    def band(self, lead: Lead) -> str | None:
        if lead.unsubscribed_at is not None or lead.suppressed:
            return None
        score = self.score(lead)
        for band in self.scoring.bands:
            if band.min is None or score >= band.min:
                return band.name
        raise AssertionError

    def holds(self, cond: Condition, lead: Lead) -> bool:
        if isinstance(cond, AllOf):
            return all(self.holds(c, lead) for c in cond.all_)
        if isinstance(cond, AnyOf):
            return any(self.holds(c, lead) for c in cond.any_)
        if isinstance(cond, Not):
            return not self.holds(cond.not_, lead)
        if isinstance(cond, EventCondition):
            return self.event(cond, lead)
        if isinstance(cond, BandCondition):
            return self.band(lead) in cond.bands
        if isinstance(cond, AttrCondition):
            if cond.attr == "score":
                op, limit = cond.operator
                return {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[op](
                    self.score(lead), float(limit)
                )
            return self.compare(cond, getattr(lead, cond.attr), getattr(lead, cond.attr), is_time=True)
        assert isinstance(cond, FieldCondition)
        raw = lead.attrs.get(cond.field_)
        meant = self.data.truth[lead.lead_id].get(cond.field_, raw)
        return self.compare(cond, raw, meant, is_time=False)

    def event(self, cond: EventCondition, lead: Lead) -> bool:
        name, wanted = cond.filter or (None, None)
        by_kind = self.facts[lead.lead_id]
        matching = [
            f
            for kind in cond.kinds
            for f in by_kind.get(kind, ())
            if (
                name is None
                or (name == "site" and f.site == wanted)
                or (name == "path" and f.path is not None and f.path.startswith(wanted))
                or (name == "topic" and f.topic == wanted)
                or (name == "campaign" and f.campaign == wanted)
            )
        ]
        if cond.ever:
            return bool(matching)
        if cond.older_than is not None:
            return bool(matching) and max(f.ts for f in matching) < ref_cutoff(cond.older_than, self.now)
        assert cond.within is not None
        since = ref_cutoff(cond.within, self.now)
        if cond.at_least is None:
            return any(f.ts >= since for f in matching)
        first, last = jst_day(since), jst_day(self.now)
        return sum(1 for f in matching if first <= f.day <= last) >= cond.at_least

    def compare(self, cond: AttrCondition | FieldCondition, raw: Any, meant: Any, is_time: bool) -> bool:
        op, expected = cond.operator
        is_present = raw is not None and not (isinstance(raw, str) and raw.strip() == "")
        if op == "exists":
            return is_present == expected
        if not is_present:
            return False
        if op in ("within", "older_than"):
            when = raw if is_time else meant
            if not isinstance(when, int):
                return False
            limit = ref_cutoff(expected, self.now)
            return when >= limit if op == "within" else when < limit
        if op in ("gt", "gte", "lt", "lte"):
            if not isinstance(meant, int | float):
                return False
            return {"gt": meant > expected, "gte": meant >= expected, "lt": meant < expected, "lte": meant <= expected}[
                op
            ]
        options = expected if op == "in" else [expected]
        if op == "contains":
            return text(expected) in text(raw)
        for option in options:
            if isinstance(option, int | float) and isinstance(meant, int | float) and float(option) == float(meant):
                return True
            if isinstance(option, str) and text(option) == text(raw):
                return True
        return False


# --- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


@pytest.fixture(scope="module")
def data(scoring: ScoringConfig) -> Dataset:
    return generate(scoring)


@pytest.fixture(scope="module")
def facts(data: Dataset) -> dict[str, dict[str, list[Facts]]]:
    return facts_by_kind(data)


@pytest.fixture(scope="module")
def definitions(scoring: ScoringConfig) -> list[SegmentDefinition]:
    shipped = load_segment_files([ROOT / "config" / "segments.yaml"], scoring)
    return shipped + load_segments(TEST_RULES, "test-rules.yaml", scoring)


def members(pairs: list[tuple[SegmentDefinition, Callable[[Lead], bool]]], leads: list[Lead]) -> dict[str, set[str]]:
    return {d.id: {lead.lead_id for lead in leads if predicate(lead)} for d, predicate in pairs}


def near_band_threshold(reference: Reference, scoring: ScoringConfig, lead: Lead) -> bool:
    score = reference.score(lead)
    return any(b.min is not None and abs(score - b.min) < 1e-6 for b in scoring.bands) or abs(score - 15) < 1e-6


@pytest.mark.parametrize("now_ms", NOWS, ids=["now", "before-midnight", "month-end"])
def test_every_definition_matches_the_brute_force(
    data: Dataset,
    definitions: list[SegmentDefinition],
    scoring: ScoringConfig,
    facts: dict[str, dict[str, list[Facts]]],
    now_ms: int,
) -> None:
    reference = Reference(data, scoring, now_ms, facts)
    got = members(compile_definitions(definitions, Context(now_ms, TOKYO, scoring)), data.leads)
    ambiguous = {lead.lead_id for lead in data.leads if near_band_threshold(reference, scoring, lead)}
    assert len(ambiguous) < 3  # floating point can only matter for a score exactly on a threshold
    for definition in definitions:
        expected = {lead.lead_id for lead in data.leads if reference.holds(definition.rule, lead)}
        assert got[definition.id] - ambiguous == expected - ambiguous, definition.id
    # The dataset is not degenerate: every rule selects some leads and leaves some out.
    for definition in definitions if now_ms == NOW else ():
        assert 0 < len(got[definition.id]) < len(data.leads), definition.id


def test_the_shipped_definitions_read_as_the_articles_state_them(data: Dataset, scoring: ScoringConfig) -> None:
    """Each shipped definition, written out by hand in Python over the raw events."""
    shipped = load_segment_files([ROOT / "config" / "segments.yaml"], scoring)
    got = members(compile_definitions(shipped, Context(NOW, TOKYO, scoring)), data.leads)
    cut = {d: ref_cutoff(parse_duration(d), NOW) for d in ("30d", "90d", "3mo", "1y")}

    def times(lead: Lead, *kinds: str, site: str | None = None) -> list[int]:
        return [
            e.ts
            for e in data.events[lead.lead_id]
            if e.kind in kinds and (site is None or (e.url or "").startswith(site + "/"))
        ]

    expected = {
        # ① registered 90+ days ago, and no page view on the site in the last 30 days
        "dormant-no-visit": lambda lead: (
            lead.registered_at < cut["90d"] and not any(t >= cut["30d"] for t in times(lead, "page_view", site=SITE))
        ),
        # ② no webinar view or application in the last 3 months
        "dormant-no-webinar": lambda lead: (
            not any(t >= cut["3mo"] for t in times(lead, "webinar_view", "webinar_application"))
        ),
        # ③ an inside-sales conversation at some time, no sales follow-up in the last 3 months
        "dormant-no-followup": lambda lead: (
            bool(times(lead, "sales_conversation")) and not any(t >= cut["3mo"] for t in times(lead, "sales_followup"))
        ),
        # last purchase 3+ months ago
        "dormant-no-purchase": lambda lead: bool(times(lead, "purchase")) and max(times(lead, "purchase")) < cut["3mo"],
        # last use 1+ year ago
        "dormant-no-use": lambda lead: bool(times(lead, "product_use")) and max(times(lead, "product_use")) < cut["1y"],
    }
    assert set(expected) == set(got)
    for segment_id, rule in expected.items():
        assert got[segment_id] == {lead.lead_id for lead in data.leads if rule(lead)}, segment_id


def test_boundaries_fall_on_the_documented_side(data: Dataset, scoring: ScoringConfig) -> None:
    shipped = load_segment_files([ROOT / "config" / "segments.yaml"], scoring)
    tests = load_segments(TEST_RULES, "test-rules.yaml", scoring)
    got = members(compile_definitions(shipped + tests, Context(NOW, TOKYO, scoring)), data.leads)

    def member(segment: str, label: str) -> bool:
        return data.edges[label] in got[segment]

    # "older than" is strictly before the cutoff; "within" includes it.
    assert not member("dormant-no-visit", "registered-exactly-90d")
    assert member("dormant-no-visit", "registered-90d-minus-1ms")
    assert not member("dormant-no-visit", "registered-90d-plus-1ms")
    assert not member("dormant-no-visit", "visit-exactly-30d")
    assert member("dormant-no-visit", "visit-30d-minus-1ms")
    assert member("dormant-no-visit", "visit-30d-other-site")
    assert not member("dormant-no-webinar", "webinar-exactly-3mo")
    assert member("dormant-no-webinar", "webinar-application-3mo-minus-1ms")
    assert not member("dormant-no-followup", "followup-exactly-3mo")
    assert member("dormant-no-followup", "followup-3mo-minus-1ms")
    assert not member("dormant-no-followup", "followup-without-conversation")
    assert not member("dormant-no-purchase", "purchase-exactly-3mo")
    assert member("dormant-no-purchase", "purchase-3mo-minus-1ms")
    assert not member("dormant-no-use", "use-exactly-1y")
    assert member("dormant-no-use", "use-1y-minus-1ms")
    # Counts are per JST calendar day: 23:59:59.999 the day before is out, midnight is in.
    assert not member("count-topic", "pricing-2-on-first-day-1-before")
    assert member("count-topic", "pricing-3-on-first-day")
    # Leads with nothing: dormant by every "no X" definition, in no "had X" one.
    for label in ("no-events-no-attrs", "imported-only"):
        assert member("dormant-no-webinar", label)
        assert not member("dormant-no-followup", label) and not member("dormant-no-purchase", label)
        assert member("band-warm-cold", label)
    assert member("field-gt", "imported-only") and member("field-older", "imported-only")
    # Unsubscribed and bounced leads fall out of every band.
    assert member("band-hot", "hot")
    for label in ("unsubscribed-hot", "bounced-hot"):
        assert not member("band-hot", label) and not member("band-warm-cold", label)


def test_explain_agrees_with_the_predicate(
    data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    ctx = Context(NOWS[2], TOKYO, scoring)
    pairs = compile_definitions(definitions, ctx)
    sample = data.leads[::7] + [lead for lead in data.leads if lead.lead_id in data.edges.values()]
    for lead in sample:
        for definition, predicate in pairs:
            assert explain(definition.rule, lead, ctx).held == predicate(lead), (definition.id, lead.lead_id)


def test_evaluation_speed(data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig) -> None:
    """Report leads × definitions per second (the segment run's budget is the scan, not this)."""
    leads = data.leads * 5
    started = time.perf_counter()
    pairs = compile_definitions(definitions, Context(NOW, TOKYO, scoring))
    compiled = time.perf_counter()
    hits = 0
    for lead in leads:
        for _, predicate in pairs:
            hits += predicate(lead)
    elapsed = time.perf_counter() - compiled
    rate = len(leads) * len(pairs) / elapsed
    print(
        f"\ncompile {len(pairs)} definitions: {(compiled - started) * 1000:.1f} ms; "
        f"evaluate {len(leads)} leads x {len(pairs)} definitions: {rate:,.0f} evaluations/s "
        f"({elapsed / len(leads) * 1e6:.1f} µs per lead for all)"
    )
    assert hits > 0
