"""Scoring: points per kind and topic, half-life decay kept lazily on the lead, bands."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.scoring import (
    ScoringConfig,
    apply_events,
    band,
    current_score,
    event_points,
    load_scoring,
    load_scoring_file,
)
from reawake.core.yamlfile import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400_000
NOW = 1_795_400_000_000
CONFIG = """
half_life: 10d
points:
  kinds: {page_view: 1, form_submit: 10, conversion: 40}
  topics: {pricing: 5}
bands:
  - {name: hot, min: 50}
  - {name: warm, min: 10}
  - {name: cold}
"""


@pytest.fixture(scope="module")
def config() -> ScoringConfig:
    return load_scoring(CONFIG)


def lead(**changes: object) -> Lead:
    return Lead(**{"lead_id": "l1", "email": "a@example.jp", "registered_at": 0, **changes})  # type: ignore[arg-type]


def event(kind: str, ts: int, topic: str | None = None, n: int = 0) -> Event:
    return Event(id=f"ev{ts}{n:08d}", kind=kind, ts=ts, source="browser", props={"topic": topic} if topic else {})


def test_the_shipped_config_loads() -> None:
    shipped = load_scoring_file(ROOT / "config" / "scoring.yaml")
    assert shipped.band_names == ["hot", "warm", "cold"]
    assert shipped.half_life_ms == 30 * DAY


def test_an_event_scores_its_kind_plus_its_topic(config: ScoringConfig) -> None:
    assert event_points(event("page_view", NOW, "pricing"), config) == 6
    assert event_points(event("page_view", NOW, "blog"), config) == 1
    assert event_points(event("email_open", NOW), config) == 0


def test_points_halve_every_half_life(config: ScoringConfig) -> None:
    scored = apply_events(lead(), [event("form_submit", NOW)], config, NOW)
    assert scored.score == 10 and scored.score_at == NOW
    assert current_score(scored, config, NOW + 10 * DAY) == pytest.approx(5)
    assert current_score(scored, config, NOW + 20 * DAY) == pytest.approx(2.5)
    # An event reported late is decayed from when it happened, not when it arrived.
    late = apply_events(lead(), [event("form_submit", NOW - 10 * DAY)], config, NOW)
    assert late.score == pytest.approx(5)


def test_the_score_never_grows_back_in_time(config: ScoringConfig) -> None:
    scored = apply_events(lead(), [event("form_submit", NOW)], config, NOW)
    assert current_score(scored, config, NOW - DAY) == 10
    again = apply_events(scored, [event("page_view", NOW - DAY)], config, NOW - DAY)
    assert again.score_at == NOW
    assert again.score == pytest.approx(10 + 2**-0.1)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(
        st.tuples(st.sampled_from(["page_view", "form_submit", "conversion", "download"]), st.integers(0, 200 * DAY)),
        max_size=30,
    ),
    cuts=st.lists(st.integers(1, 29), max_size=4),
)
def test_batches_give_the_same_score_as_all_at_once(
    history: list[tuple[str, int]], cuts: list[int], config: ScoringConfig
) -> None:
    events = [event(kind, NOW - age, "pricing" if i % 3 == 0 else None, i) for i, (kind, age) in enumerate(history)]
    events.sort(key=lambda e: e.ts)
    expected = sum(event_points(e, config) * 0.5 ** ((NOW - e.ts) / (10 * DAY)) for e in events)
    scored = lead()
    edges = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    for start, end in itertools.pairwise(edges):
        batch = events[start:end]
        scored = apply_events(scored, batch, config, max(e.ts for e in batch))
    assert current_score(scored, config, NOW) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_bands_by_threshold_and_none_for_unsubscribed_or_bounced(config: ScoringConfig) -> None:
    assert band(lead(score=50.0, score_at=NOW), config, NOW) == "hot"  # the min belongs to the band
    assert band(lead(score=49.99, score_at=NOW), config, NOW) == "warm"
    assert band(lead(score=10.0, score_at=NOW), config, NOW) == "warm"
    assert band(lead(), config, NOW) == "cold"
    assert band(lead(score=100.0, score_at=NOW), config, NOW + 10 * DAY) == "hot"
    assert band(lead(score=100.0, score_at=NOW), config, NOW + 11 * DAY) == "warm"
    assert band(lead(score=900.0, score_at=NOW, unsubscribed_at=NOW), config, NOW) is None
    assert band(lead(score=900.0, score_at=NOW, suppressed="bounce"), config, NOW) is None
    assert band(lead(score=900.0, score_at=NOW, suppressed="complaint"), config, NOW) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONFIG.replace("10d", "3mo"), "scoring.yaml:2:1: half_life: the half-life must be in hours, days or weeks"),
        (CONFIG.replace("10d", "ten days"), "half_life: 'ten days' is not a duration"),
        (CONFIG.replace("page_view: 1", "pageview: 1"), "points.kinds: unknown event kind 'pageview'"),
        (CONFIG.replace("min: 10", "min: 60"), "bands: bands go from the highest min to the lowest"),
        (CONFIG.replace("{name: cold}", "{name: cold, min: 0}"), "the last band (cold) takes every other lead"),
        (CONFIG.replace("{name: cold}", "{name: hot}"), "bands: band names must be unique: hot, warm, hot"),
        (CONFIG.replace("{name: warm, min: 10}", "{name: warm}"), "every band but the last needs a min score"),
        (CONFIG.replace("{name: hot,", "{name: Hot!,"), "bands[0].name: String should match pattern"),
        (
            CONFIG.replace("conversion: 40", "conversion: many"),
            "points.kinds.conversion: Input should be a valid number",
        ),
        (
            CONFIG.replace("half_life: 10d", "halflife: 10d"),
            "halflife: unknown key 'halflife' (did you mean 'half_life'?)",
        ),
        ("", "scoring.yaml: the file is empty"),
        ("bands: [\n", "scoring.yaml:2:1: YAML syntax error"),
    ],
)
def test_invalid_scoring_configs_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_scoring(text)
    assert message in str(caught.value)
