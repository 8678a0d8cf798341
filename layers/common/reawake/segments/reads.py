"""What a set of definitions reads of a lead, as DynamoDB document paths. Pure.

A segment run reads every lead once; the lead item grows with its history (``last`` gains a key
per site, topic, path and campaign seen; ``days`` a bucket per day), while a rule reads a handful
of keys. ``lead_paths`` names them, so the run's scan projects the item to what the rules and the
membership bookkeeping read (``Store.scan_leads(projection=...)``), and the cost of a run follows
the leads, not their events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reawake.segments.rules.compile import dimension
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

Path = tuple[str, ...]

# What the run itself reads and writes back by update: who the lead is, its memberships, the
# report's marks (reawake.reports.counters.on_membership) and the version the update is
# conditional on.
RUN_PATHS: tuple[Path, ...] = (
    ("lead_id",), ("email",), ("registered_at",), ("segments",), ("dormant_since",), ("version",),
    ("pending_approaches",), ("report",),
)
MAX_NESTED = 100  # beyond this many map keys, read the whole maps (DynamoDB's expression size limits)


def condition_paths(condition: Condition) -> Iterable[Path]:
    if isinstance(condition, AllOf):
        for part in condition.all_:
            yield from condition_paths(part)
    elif isinstance(condition, AnyOf):
        for part in condition.any_:
            yield from condition_paths(part)
    elif isinstance(condition, Not):
        yield from condition_paths(condition.not_)
    elif isinstance(condition, EventCondition):
        for kind in condition.kinds:
            key = dimension(kind, condition.filter)
            yield ("last", key)
            if condition.at_least is not None:
                yield ("days", key)
    elif isinstance(condition, AttrCondition):
        yield (condition.attr,)
        if condition.attr == "score":
            yield ("score_at",)
    elif isinstance(condition, FieldCondition):
        yield ("attrs", condition.field_)
    elif isinstance(condition, BandCondition):
        yield from (("score",), ("score_at",), ("unsubscribed_at",), ("suppressed",))
    else:  # pragma: no cover - the model has no other node
        raise TypeError(f"unknown condition {condition!r}")


def lead_paths(definitions: Sequence[SegmentDefinition]) -> list[Path]:
    """Every path the definitions' rules and the run read, without duplicates or paths inside
    another one; map keys collapse to their whole map past ``MAX_NESTED`` of them."""
    wanted = set(RUN_PATHS)
    for definition in definitions:
        wanted.update(condition_paths(definition.rule))
    if sum(len(p) > 1 for p in wanted) > MAX_NESTED:
        wanted = {p[:1] for p in wanted}
    whole = {p for p in wanted if len(p) == 1}
    return sorted(p for p in wanted if len(p) == 1 or p[:1] not in whole)


def projection_expression(paths: Sequence[Path]) -> tuple[str, dict[str, str]]:
    """(``ProjectionExpression``, ``ExpressionAttributeNames``): every name as a placeholder, since
    dimension keys hold ``@``, ``:`` and ``/`` and attribute names may be reserved words."""
    names: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    parts = []
    for path in paths:
        tokens = []
        for name in path:
            if name not in placeholders:
                placeholders[name] = f"#p{len(placeholders)}"
                names[placeholders[name]] = name
            tokens.append(placeholders[name])
        parts.append(".".join(tokens))
    return ", ".join(parts), names
