"""Lead scoring: points per event kind and page topic, decaying with a half-life; bands.

The score is stored on the lead as ``score`` valued at ``score_at`` and decays lazily: the
value at ``now`` is ``score * 2 ** (-(now - score_at) / half_life)``. Ingest adds each new
event's points, decayed from the event's own time, so the stored score always equals
``sum(points(e) * 2 ** (-(now - e.ts) / half_life))`` over all scored events, whatever order
or batches they arrived in. An event's points are its kind's points plus its topic's points.

Bands are ordered highest first; a lead is in the first band whose ``min`` its current score
reaches, and the last band (no ``min``) takes the rest. Unsubscribed and suppressed (hard
bounce, complaint) leads are in no band at all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reawake.core.durations import Duration, DurationField
from reawake.core.events import Event
from reawake.core.kinds import ALL_KINDS
from reawake.core.leads import Lead
from reawake.core.yamlfile import ConfigError, YamlDoc, load_yaml, validate

BandName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Points = Annotated[float, Field(ge=-1000, le=1000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Band(_Model):
    name: BandName
    min: float | None = None


class PointsTable(_Model):
    kinds: dict[str, Points] = Field(default_factory=dict)
    topics: dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], Points] = Field(default_factory=dict)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(kinds) - ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r}; known kinds: {', '.join(sorted(ALL_KINDS))}")
        return kinds


class ScoringConfig(_Model):
    half_life: DurationField
    points: PointsTable
    bands: Annotated[list[Band], Field(min_length=1)]

    @field_validator("half_life")
    @classmethod
    def _fixed_half_life(cls, value: Duration) -> Duration:
        if not value.is_fixed:
            raise ValueError(f"the half-life must be in hours, days or weeks (not {value}): months vary in length")
        return value

    @field_validator("bands")
    @classmethod
    def _bands_in_order(cls, bands: list[Band]) -> list[Band]:
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            raise ValueError(f"band names must be unique: {', '.join(names)}")
        if bands[-1].min is not None:
            raise ValueError(f"the last band ({bands[-1].name}) takes every other lead: leave out its min")
        mins = [b.min for b in bands[:-1]]
        if any(m is None for m in mins):
            raise ValueError("every band but the last needs a min score")
        if any(a <= b for a, b in itertools.pairwise(mins)):  # type: ignore[operator]
            raise ValueError("bands go from the highest min to the lowest")
        return bands

    @property
    def half_life_ms(self) -> int:
        return self.half_life.fixed_ms()

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]


SCORING_KEYS = {"half_life", "points", "kinds", "topics", "bands", "name", "min"}


def load_scoring(text: str, file: str = "scoring.yaml") -> ScoringConfig:
    """The scoring config in ``text``, or a ConfigError naming file, line, path and problem."""
    doc: YamlDoc = load_yaml(text, file)
    if doc.data is None:
        raise ConfigError([doc.issue((), "the file is empty; expected half_life, points and bands")])
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with half_life, points and bands at the top")])
    return validate(ScoringConfig, doc, SCORING_KEYS)


def load_scoring_file(path: str | Path) -> ScoringConfig:
    return load_scoring(Path(path).read_text(encoding="utf-8"), str(path))


def event_points(event: Event, config: ScoringConfig) -> float:
    points = config.points.kinds.get(event.kind, 0.0)
    topic = event.topic
    if topic:
        points += config.points.topics.get(topic, 0.0)
    return points


def _decay(age_ms: int, half_life_ms: int) -> float:
    return math.exp2(-max(age_ms, 0) / half_life_ms)


def current_score(lead: Lead, config: ScoringConfig, now_ms: int) -> float:
    """The lead's score decayed to ``now`` (never grows back when ``now`` is before score_at)."""
    return lead.score * _decay(now_ms - lead.score_at, config.half_life_ms)


def apply_events(lead: Lead, events: Iterable[Event], config: ScoringConfig, now_ms: int) -> Lead:
    """The lead with these new events' points added (each decayed from its own time), valued at
    ``max(now, score_at)``. Pass only events not scored before (as for ``fold_events``)."""
    half_life = config.half_life_ms
    at = max(now_ms, lead.score_at)
    score = lead.score * _decay(at - lead.score_at, half_life)
    for event in events:
        points = event_points(event, config)
        if points:
            score += points * _decay(at - event.ts, half_life)
    return replace(lead, score=score, score_at=at)


def is_out_of_bands(lead: Lead) -> bool:
    """Unsubscribed or suppressed (hard bounce, complaint) leads are in no band."""
    return lead.unsubscribed_at is not None or bool(lead.suppressed)


def band_of_score(score: float, config: ScoringConfig) -> str:
    for band in config.bands:
        if band.min is None or score >= band.min:
            return band.name
    return config.bands[-1].name  # unreachable: the last band has no min


def band(lead: Lead, config: ScoringConfig, now_ms: int) -> str | None:
    """The lead's band at ``now``, or None when it is unsubscribed or suppressed."""
    if is_out_of_bands(lead):
        return None
    return band_of_score(current_score(lead, config, now_ms), config)
