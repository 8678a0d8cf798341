"""What a set of definitions reads of a lead, as DynamoDB document paths, and which index has it. Pure.

A segment run reads every lead once; the lead item grows with its history (``days`` a bucket per
day, the ``last_tail`` map a key per topic, page path and campaign seen), while a rule reads a
handful of keys. ``scan_plan`` names them and the index to scan:

- ``lead_facts`` (``FACTS_INDEX``): the profiles projected to ``FACTS_ATTRS``, the attributes whose
  size does not follow the number of events (identity, imported fields, score, memberships, and
  ``last`` with its kind and site keys). DynamoDB fills a scan page with up to 1 MB of *index*
  items and charges read units by their size, so this scan costs the same for a lead with ten
  times the events. Every shipped definition reads only this.
- ``leads``: the whole profiles, when a rule reads a topic, page path or campaign (``last_tail``)
  or counts days (``at_least``: ``days``).

Either way the scan projects the items to the paths read (``Store.scan_leads(paths=...)``), and the
run writes memberships back by an update (``SegmentStore.record_change``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reawake.core.leads import is_tail_dimension
from reawake.core.store import LAST_TAIL
from reawake.segments.rules.compile import dimension
from reawake.segments.rules.model import (
    AttrCondition,
    BandCondition,
    Condition,
    EventCondition,
    FieldCondition,
    SegmentDefinition,
    walk,
)

Path = tuple[str, ...]

# What the run itself reads and writes back by update: who the lead is, its memberships, the
# report's marks (reawake.core.counters.on_membership) and the version the update is
# conditional on.
RUN_PATHS: tuple[Path, ...] = (
    ("lead_id",), ("email",), ("registered_at",), ("segments",), ("dormant_since",), ("version",),
    ("pending_approaches",), ("report",),
)
MAX_NESTED = 100  # beyond this many map keys, read the whole maps (DynamoDB's expression size limits)
FACTS_INDEX = "lead_facts"
WHOLE_INDEX = "leads"
# The ``lead_facts`` index's NonKeyAttributes (template.yaml; a test holds the two equal): every
# attribute a rule or the run reads, except the ones that grow with the events (``days``,
# ``last_tail``) and what no rule reads (``consent``, ``mail_log``, ``company_key``).
FACTS_ATTRS = (
    "lead_id", "email", "registered_at", "name", "company", "owner", "source", "attrs", "last", "score",
    "score_at", "unsubscribed_at", "suppressed", "segments", "dormant_since", "reactivated_at", "converted_at",
    "pending_approaches", "report", "version",
)


def condition_paths(condition: Condition) -> Iterable[Path]:
    for node, _ in walk(condition):
        if isinstance(node, EventCondition):
            for kind in node.kinds:
                key = dimension(kind, node.filter)
                yield (LAST_TAIL if is_tail_dimension(key) else "last", key)
                if node.at_least is not None:
                    yield ("days", key)
        elif isinstance(node, AttrCondition):
            yield (node.attr,)
            if node.attr == "score":
                yield ("score_at",)
        elif isinstance(node, FieldCondition):
            yield ("attrs", node.field_)
        elif isinstance(node, BandCondition):
            yield from (("score",), ("score_at",), ("unsubscribed_at",), ("suppressed",))


def lead_paths(definitions: Sequence[SegmentDefinition], extra: Iterable[Path] = ()) -> list[Path]:
    """Every path the definitions' rules and the run read (``extra``: what settling the approaches
    reads, ``Enroller.reads``), without duplicates or paths inside another one; map keys collapse to
    their whole map past ``MAX_NESTED`` of them."""
    wanted = set(RUN_PATHS) | set(extra)
    for definition in definitions:
        wanted.update(condition_paths(definition.rule))
    if sum(len(p) > 1 for p in wanted) > MAX_NESTED:
        wanted = {p[:1] for p in wanted}
    whole = {p for p in wanted if len(p) == 1}
    return sorted(p for p in wanted if len(p) == 1 or p[:1] not in whole)


def scan_plan(definitions: Sequence[SegmentDefinition], extra: Iterable[Path] = ()) -> tuple[str, list[Path]]:
    """(index, paths): the leads index a run scans and the paths it projects."""
    paths = lead_paths(definitions, extra)
    index = FACTS_INDEX if all(p[0] in FACTS_ATTRS for p in paths) else WHOLE_INDEX
    return index, paths

