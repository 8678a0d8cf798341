"""Segment runs against the emulator: exact members, written once, the same over any shard count."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.core.store import Store
from reawake.segments.reads import FACTS_INDEX, WHOLE_INDEX, scan_plan
from reawake.segments.rules.compile import Context, compile_rule
from reawake.segments.rules.config import load_segment_files, load_segments
from reawake.segments.rules.model import SegmentDefinition
from reawake.segments.run import run_shard, summarize
from reawake.segments.store import SegmentStore
from tests.datagen import TOKYO, Dataset, generate
from tests.unit.test_segment_bruteforce import TEST_RULES, Reference, facts_by_kind, near_band_threshold

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


@pytest.fixture(scope="module")
def data(scoring: ScoringConfig) -> Dataset:
    return generate(scoring, leads=600, seed=7)


@pytest.fixture(scope="module")
def definitions(scoring: ScoringConfig) -> list[SegmentDefinition]:
    return load_segment_files([ROOT / "config" / "segments.yaml"], scoring)


def load(store: Store, leads: list[Lead]) -> None:
    for lead in leads:
        store.save_lead(lead, None)


def item_count() -> int:
    return int(boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"], Select="COUNT")["Count"])


def run(store: Store, definitions: list[SegmentDefinition], shards: int, now_ms: int,
        scoring: ScoringConfig) -> dict[str, Any]:
    parts = [run_shard(store, definitions, s, shards, now_ms, TOKYO, scoring).to_dict() for s in range(shards)]
    return summarize("test", now_ms, parts)


def members(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for lead in store.scan_leads():
        for segment_id in lead.segments:
            found.setdefault(segment_id, set()).add(lead.lead_id)
    return found


def part(data: Dataset, size: int = 150) -> list[Lead]:
    """The first leads of the data set and every deliberate edge case (cutoffs, JST midnights,
    leads without events, unsubscribed and bounced ones): for claims that do not need all 600."""
    edge_ids = set(data.edges.values())
    return [lead for number, lead in enumerate(data.leads) if number < size or lead.lead_id in edge_ids]


# The whole data set once, split over 4 shards; one shard on a part of it (with the edge cases).
@pytest.mark.parametrize("shards", [1, 4])
def test_members_match_the_brute_force_over_raw_events(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig, shards: int
) -> None:
    leads = data.leads if shards > 1 else part(data)
    store = Store(os.environ["TABLE_NAME"])
    load(store, leads)
    summary = run(store, definitions, shards, data.now_ms, scoring)
    reference = Reference(data, scoring, data.now_ms, facts_by_kind(data))
    got = members(store)
    for definition in definitions:
        expected = {lead.lead_id for lead in leads if reference.holds(definition.rule, lead)}
        assert got.get(definition.id, set()) == expected, definition.id
        assert summary["entered"].get(definition.id, 0) == len(expected)
    assert summary["scanned"] == len(leads)


def test_report_counts_every_entry_once_though_a_shard_writes_them_added_up(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    """A shard sums its leads' counts and writes one update per definition and day; each entry is
    still counted once, and a re-run adds nothing."""
    from reawake.core.counters import CounterStore
    from reawake.core.counting import def_scope

    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads)
    summary = run(store, definitions, 2, data.now_ms, scoring)
    run(store, definitions, 3, data.now_ms, scoring)

    def counted(segment_id: str) -> int:
        days = CounterStore(store.client, store.table_name).days(def_scope(segment_id), "19000101", "29991231")
        return sum(int(day.get("entered", 0)) for day in days.values())

    assert sum(summary["entered"].values()) > 0, "some leads entered (positive control)"
    assert {d.id: counted(d.id) for d in definitions} == {d.id: summary["entered"].get(d.id, 0) for d in definitions}


def test_every_kind_of_rule_reads_from_its_index_what_the_brute_force_computes(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    """Each rule of the language, read the way a run reads it (its index, its projection, 3 shards),
    against the reference over the raw events."""
    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads)
    reference = Reference(data, scoring, data.now_ms, facts_by_kind(data))
    ambiguous = {lead.lead_id for lead in data.leads if near_band_threshold(reference, scoring, lead)}
    indexes = set()
    for definition in definitions + load_segments(TEST_RULES, "test-rules.yaml", scoring):
        index, paths = scan_plan([definition])
        indexes.add(index)
        predicate = compile_rule(definition.rule, Context(data.now_ms, TOKYO, scoring))
        got = {lead.lead_id for shard in range(3) for lead in store.scan_leads(shard, 3, paths, index)
               if predicate(lead)}
        expected = {lead.lead_id for lead in data.leads if reference.holds(definition.rule, lead)}
        assert got - ambiguous == expected - ambiguous, definition.id
        assert expected, definition.id  # positive control: the dataset selects someone
    assert indexes == {FACTS_INDEX, WHOLE_INDEX}


def test_running_the_same_day_twice_changes_nothing(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    store = Store(os.environ["TABLE_NAME"])
    load(store, part(data))
    first = run(store, definitions, 2, data.now_ms, scoring)
    items = item_count()
    second = run(store, definitions, 3, data.now_ms, scoring)  # replayed: same moment, other shards
    assert second["entered"] == {} and second["left"] == {} and second["approaches"] == {}
    assert second["members"] == first["members"]
    assert item_count() == items, "a re-run writes nothing"


def test_each_entry_gets_one_approach_and_a_history(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads[:50])
    run(store, definitions, 1, data.now_ms, scoring)
    lead = next(lead for lead in store.scan_leads() if lead.segments)
    history = SegmentStore(store).history(lead.lead_id)
    kinds = {(i["sk"].split("#")[0], i["segment_id"]) for i in history}
    assert kinds == {(k, s) for s in lead.segments for k in ("MEMBER", "APPROACH")}
    by_id = {d.id: d for d in definitions}
    for item in history:
        if item["sk"].startswith("APPROACH#"):
            expected = "watching" if by_id[item["segment_id"]].approach.type == "watch" else "pending"
            assert item["status"] == expected, "nothing pretends to have been sent"
    assert lead.dormant_since == min(lead.segments.values())


def test_a_lead_changed_during_the_run_is_evaluated_again(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads[:20])
    original = SegmentStore.record_change
    interfered: list[str] = []

    def interfere(self: SegmentStore, change: Any, approaches: Any, now_ms: int, handovers: Any = None) -> None:
        if not interfered:  # tracking writes the lead between the scan and the segment write
            interfered.append(change.after.lead_id)
            current = store.get_lead(change.after.lead_id)
            assert current is not None
            store.save_lead(replace(current, name="更新された"), current.version)
        original(self, change, approaches, now_ms, handovers)

    monkeypatch.setattr(SegmentStore, "record_change", interfere)
    result = run_shard(store, definitions, 0, 1, data.now_ms, TOKYO, scoring)
    assert result.retries == 1
    lead = store.get_lead(interfered[0])
    assert lead is not None and lead.name == "更新された" and lead.segments, "both writes survive"
    approaches = [i for i in SegmentStore(store).history(lead.lead_id) if i["sk"].startswith("APPROACH#")]
    assert len(approaches) == len(lead.segments)


class RecordingEnroller:
    """Step mail as the segment run sees it: marks the approach enrolled, or fails (unreachable)."""

    def __init__(self, store: Store, failing: bool = False) -> None:
        self.store, self.failing, self.calls = store, failing, list[str]()

    def reads(self, sequence_ids: Any) -> list[tuple[str, ...]]:
        return []

    def hand_over(self, lead: Lead, approach: Any, now_ms: int, whole: bool) -> None:
        return None  # never settled in the membership transaction: the pending way, always

    def dispatch(self, lead: Lead, approach: Any, now_ms: int) -> str:
        from reawake.stepmail.store import StepmailStore

        self.calls.append(approach.key)
        if self.failing:
            raise ConnectionError("Step Functions is unreachable")
        StepmailStore(self.store).set_approach_status(lead.lead_id, approach.key, "enrolled", None, now_ms)
        return "enrolled"


def test_an_approach_whose_dispatch_failed_is_dispatched_by_the_next_run(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads[:40])
    down = RecordingEnroller(store, failing=True)
    run_shard(store, definitions, 0, 1, data.now_ms, TOKYO, scoring, down)
    waiting = {lead.lead_id: lead.pending_approaches for lead in store.scan_leads() if lead.pending_approaches}
    assert waiting and len(down.calls) == sum(len(keys) for keys in waiting.values())

    up = RecordingEnroller(store)
    next_day = run_shard(store, definitions, 0, 1, data.now_ms + 86_400_000, TOKYO, scoring, up)
    assert next_day.redispatched == len(down.calls), "every approach the failure left is dispatched"
    for lead_id, keys in waiting.items():
        lead = store.get_lead(lead_id)
        assert lead is not None and lead.pending_approaches == []
        assert all(SegmentStore(store).get_approach(lead_id, k).status == "enrolled" for k in keys)  # type: ignore[union-attr]

    again = RecordingEnroller(store)
    assert run_shard(store, definitions, 0, 1, data.now_ms + 2 * 86_400_000, TOKYO, scoring, again).redispatched == 0
    assert again.calls == [], "nothing is dispatched twice"


def test_a_run_reads_only_what_the_rules_read_and_leaves_the_rest_of_the_lead_as_it_was(
    aws: Any, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reawake.core.store import lead_from_item

    store = Store(os.environ["TABLE_NAME"])
    load(store, data.leads[:40])
    before = {lead.lead_id: lead for lead in store.scan_leads()}
    requests: list[dict[str, Any]] = []
    original = store.client.scan

    def recorded(**request: Any) -> Any:
        requests.append(request)
        return original(**request)

    monkeypatch.setattr(store.client, "scan", recorded)
    run_shard(store, definitions, 0, 1, data.now_ms, TOKYO, scoring)

    assert requests and all("ProjectionExpression" in r for r in requests)
    assert "days" not in requests[0]["ExpressionAttributeNames"].values()
    monkeypatch.setattr(store.client, "scan", original)
    changed = 0
    for lead in store.scan_leads():
        old = before[lead.lead_id]
        if lead.segments:
            changed += 1
            assert lead.version == old.version + 1
        # Everything the run does not own is as tracking left it (aggregates, profile, mail log).
        for name in ("last", "days", "attrs", "score", "score_at", "name", "company", "owner", "mail_log", "email"):
            assert getattr(lead, name) == getattr(old, name), name
        raw = store.client.get_item(TableName=store.table_name, Key={"pk": {"S": f"LEAD#{lead.lead_id}"},
                                                                      "sk": {"S": "PROFILE"}})["Item"]
        assert lead_from_item(raw) == lead
    assert changed > 0, "some leads entered a definition (positive control)"
