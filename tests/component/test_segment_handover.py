"""A segment run settles its approaches in the membership transaction (one call per entering lead):
the same enrollments, approach records, run summary and report counts as the pending way (approach
``pending``, the pending marker, step mail's ``dispatch`` right after), and each lead enrolled in a
sequence once however the run is replayed, overlapped or retried."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.approaches import Approach
from reawake.core.counters import CounterStore
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.core.store import Store
from reawake.segments.rules.config import load_segment_files, load_segments
from reawake.segments.rules.model import SegmentDefinition
from reawake.segments.run import ShardResult, run_shard, summarize
from reawake.segments.store import SegmentStore
from reawake.stepmail.enroller import SequenceEnroller
from reawake.stepmail.enrollment import enroll
from reawake.stepmail.store import SequenceConfig, StepmailStore
from reawake_tools.local.template import function_environment
from tests.conftest import cfn_template
from tests.datagen import DAY, TOKYO, Dataset, generate

ROOT = Path(__file__).resolve().parents[2]
WEBINAR = "webinar-invite"


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


@pytest.fixture(scope="module")
def data(scoring: ScoringConfig) -> Dataset:
    return generate(scoring, leads=120, seed=11)


@pytest.fixture(scope="module")
def definitions(scoring: ScoringConfig) -> list[SegmentDefinition]:
    return load_segment_files([ROOT / "config" / "segments.yaml"], scoring)


@pytest.fixture
def config(aws: Any, monkeypatch: pytest.MonkeyPatch) -> SequenceConfig:
    """The segment function's environment; the sequences and step-mail settings in the bucket."""
    from reawake.segments.definitions import upload_config
    from reawake.stepmail.store import upload_sequences
    from reawake_tools.local.connect import reset_caches

    for key, value in function_environment(cfn_template(), aws, "SegmentFunction").items():
        monkeypatch.setenv(key, value)
    reset_caches()
    bucket = os.environ["CONFIG_BUCKET"]
    s3 = boto3.client("s3")
    upload_config(s3, bucket, ROOT / "config")
    upload_sequences(s3, bucket, ROOT / "config" / "sequences", ROOT / "config" / "stepmail.yaml",
                     ROOT / "config" / "scoring.yaml")
    return SequenceConfig(bucket)


class PendingWay(SequenceEnroller):
    """Step mail as the segment run used it before: never settled in the membership transaction."""

    def hand_over(self, lead: Lead, approach: Approach, now_ms: int, whole: bool) -> None:
        return None


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def special_leads(data: Dataset) -> list[Lead]:
    """Leads the in-transaction decision cannot take as scanned: a consent record refusing mail
    (not in the run's index), two mails in the frequency cap's window (the first mail deferred),
    and one already active in the webinar sequence (``already`` below enrolls it)."""
    base = Lead(lead_id="special", email="x@example.jp", registered_at=data.now_ms - 400 * DAY)
    return [
        replace(base, lead_id="refused", email="refused@example.jp", consent={"marketing_email": False, "text": "否"}),
        replace(base, lead_id="mailed", email="mailed@example.jp",
                mail_log={"repurchase:0:mailed:1": data.now_ms - DAY, "repurchase:1:mailed:1": data.now_ms - 2 * DAY}),
        replace(base, lead_id="already", email="already@example.jp"),
    ]


def load(leads: list[Lead], config: SequenceConfig, now_ms: int) -> list[str]:
    for lead in leads:
        store().save_lead(lead, None)
        if lead.lead_id == "already":  # `reawake sequences start` ten days before
            saved = store().get_lead(lead.lead_id)
            assert saved is not None
            outcome = enroll(StepmailStore(store()), config.sequences(), saved, WEBINAR, None, now_ms - 10 * DAY,
                             now_ms - 10 * DAY, config.settings())
            assert outcome.status == "enrolled"
    return [lead.lead_id for lead in leads]


def outcome(lead_id: str) -> dict[str, Any]:
    """What a user sees of one lead after the run."""
    segments = SegmentStore(store())
    stepmail = StepmailStore(store())
    lead = store().get_lead(lead_id)
    assert lead is not None
    approaches = sorted((i["sk"], i["status"], i.get("reason"), i.get("dispatched_at"), i["type"], i.get("sequence"))
                        for i in segments.history(lead_id) if i["sk"].startswith("APPROACH#"))
    enrollments = sorted(stepmail.enrollments(lead_id), key=lambda e: e.sequence)
    deferred = sorted(i["sk"]["S"] for i in store().query_items(f"LEAD#{lead_id}", "DEFER#"))
    return {"segments": lead.segments, "pending": lead.pending_approaches, "approaches": approaches,
            "enrollments": enrollments, "deferred": deferred, "report": lead.report}


def counts() -> dict[str, int]:
    counters = CounterStore(store().client, store().table_name)
    found: Counter[str] = Counter()
    for scope in [f"STEP#{s}#0" for s in ("webinar-invite", "repurchase", "dm-then-call", "win-back")] + [
            f"DEF#{d}" for d in ("dormant-no-visit", "dormant-no-webinar", "dormant-no-followup",
                                 "dormant-no-purchase", "dormant-no-use")]:
        for day, fields in counters.days(scope, "19000101", "29991231").items():
            for name, number in fields.items():
                if isinstance(number, int | float) or hasattr(number, "as_integer_ratio"):
                    found[f"{scope} {day} {name}"] += int(number)
    return dict(found)


def run(definitions: list[SegmentDefinition], enroller: SequenceEnroller, now_ms: int, scoring: ScoringConfig,
        shards: int = 2) -> tuple[dict[str, Any], list[ShardResult]]:
    results = [run_shard(store(), definitions, s, shards, now_ms, TOKYO, scoring, enroller) for s in range(shards)]
    return summarize("test", now_ms, [r.to_dict() for r in results]), results


def emptied() -> None:
    """Every item of the table deleted: the next run starts from the same table as the first."""
    client = store().client
    for page in client.get_paginator("scan").paginate(TableName=store().table_name, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            client.delete_item(TableName=store().table_name, Key=item)


def one_way(enroller: SequenceEnroller, leads: list[Lead], definitions: list[SegmentDefinition],
            config: SequenceConfig, scoring: ScoringConfig, now_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the run's summary and what each lead shows after it, the report counts)."""
    ids = load(leads, config, now_ms)
    summary, results = run(definitions, enroller, now_ms, scoring)
    seen = {"summary": {k: summary[k] for k in ("entered", "left", "approaches", "members", "scanned")},
            "leads": {lead_id: outcome(lead_id) for lead_id in ids},
            "handed_over": sum(r.handed_over for r in results)}
    return seen, counts()


def the_same_both_ways(data: Dataset, definitions: list[SegmentDefinition], config: SequenceConfig,
                       scoring: ScoringConfig) -> dict[str, Any]:
    leads = data.leads[:60] + special_leads(data)
    old, old_counts = one_way(PendingWay(StepmailStore(store()), config), leads, definitions, config, scoring,
                              data.now_ms)
    emptied()
    new, new_counts = one_way(SequenceEnroller(StepmailStore(store()), config), leads, definitions, config, scoring,
                              data.now_ms)
    assert old.pop("handed_over") == 0
    assert new.pop("handed_over") > 0, "approaches settled in the transaction (positive control)"
    assert sum(new["summary"]["entered"].values()) > 0
    for lead_id, seen in new["leads"].items():
        assert seen == old["leads"][lead_id], lead_id
        assert seen["pending"] == [], "no approach left for the next run"
    assert new == old
    assert new_counts == old_counts
    assert any(k.endswith(" enrolled") for k in old_counts), "enrollments were counted (positive control)"
    return new["leads"]


def test_the_transaction_way_gives_what_the_pending_way_gave(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    seen = the_same_both_ways(data, definitions, config, scoring)
    assert [a[1:3] for a in seen["refused"]["approaches"] if a[5] == WEBINAR] == [("skipped", "no_consent")]
    assert seen["mailed"]["deferred"], "the deferred first mail is noted (by the pending way)"
    already = seen["already"]
    assert [a[1] for a in already["approaches"] if a[5] == WEBINAR] == ["skipped"]
    assert [e.enrolled_at for e in already["enrollments"]] == [data.now_ms - 10 * DAY], "the first one stays"


def test_two_definitions_naming_one_sequence_give_what_the_pending_way_gave(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    twin = load_segments(
        "segments:\n  - id: also-no-webinar\n    name: 二つ目\n"
        "    approach: {type: sequence, sequence: webinar-invite}\n"
        "    rule: {not: {event: [webinar_view, webinar_application], within: 3mo}}\n", "twin.yaml", scoring)
    the_same_both_ways(data, [*definitions, *twin], config, scoring)


def enrollments_by_lead() -> Counter[tuple[str, str]]:
    """(lead, sequence) -> enrollment items with a new ``enrolled_at`` (one per entry)."""
    found: Counter[tuple[str, str]] = Counter()
    for page in store().client.get_paginator("scan").paginate(
            TableName=store().table_name, FilterExpression="begins_with(sk, :e)",
            ExpressionAttributeValues={":e": {"S": "ENROLL#"}}):
        for item in page["Items"]:
            found[(item["lead_id"]["S"], item["sequence"]["S"])] += 1
    return found


def enrolled_counted() -> int:
    return sum(v for k, v in counts().items() if k.endswith(" enrolled"))


def item_count() -> int:
    return int(store().client.scan(TableName=store().table_name, Select="COUNT")["Count"])


def test_a_replayed_run_enrolls_no_one_twice_and_writes_nothing(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    load(data.leads[:60], config, data.now_ms)
    enroller = SequenceEnroller(StepmailStore(store()), config)
    run(definitions, enroller, data.now_ms, scoring)
    enrolled, items, counted = enrollments_by_lead(), item_count(), enrolled_counted()
    assert enrolled and counted == len(enrolled), "each enrollment counted once (positive control)"
    again, results = run(definitions, enroller, data.now_ms, scoring, shards=3)  # replayed: same moment, other shards
    assert again["entered"] == {} and sum(r.handed_over for r in results) == 0
    assert enrollments_by_lead() == enrolled and item_count() == items and enrolled_counted() == counted


def test_an_overlapping_run_enrolls_each_lead_once(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second run over the same shard starts while the first is at its first lead, and finishes
    first: the first run finds every lead changed and records nothing again."""
    load(data.leads[:60], config, data.now_ms)
    enroller = SequenceEnroller(StepmailStore(store()), config)
    original = SegmentStore.record_change
    overlapped: list[ShardResult] = []

    def overlapping(self: SegmentStore, change: Any, approaches: Any, now_ms: int, handovers: Any = None) -> None:
        if not overlapped:
            overlapped.append(ShardResult(0))
            overlapped[0] = run_shard(store(), definitions, 0, 1, now_ms, TOKYO, scoring, enroller)
        original(self, change, approaches, now_ms, handovers)

    monkeypatch.setattr(SegmentStore, "record_change", overlapping)
    late = run_shard(store(), definitions, 0, 1, data.now_ms, TOKYO, scoring, enroller)
    assert overlapped[0].handed_over > 0 and sum(overlapped[0].entered.values()) > 0
    assert late.entered == Counter() and late.handed_over == 0 and late.retries > 0
    enrolled = enrollments_by_lead()
    assert enrolled and set(enrolled.values()) == {1}
    assert enrolled_counted() == len(enrolled)


def test_a_retried_shard_enrolls_each_lead_once(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shard's Lambda dies after its tenth enrolling membership write; Step Functions retries it."""
    load(data.leads[:60], config, data.now_ms)
    enroller = SequenceEnroller(StepmailStore(store()), config)
    original = SegmentStore.record_change
    written: list[str] = []

    def dying(self: SegmentStore, change: Any, approaches: Any, now_ms: int, handovers: Any = None) -> None:
        original(self, change, approaches, now_ms, handovers)
        if any(h.writes for h in (handovers or {}).values()):
            written.append(change.after.lead_id)
        if len(written) == 10:
            raise TimeoutError("the Lambda timed out")

    monkeypatch.setattr(SegmentStore, "record_change", dying)
    with pytest.raises(TimeoutError):
        run_shard(store(), definitions, 0, 1, data.now_ms, TOKYO, scoring, enroller)
    monkeypatch.setattr(SegmentStore, "record_change", original)
    retried = run_shard(store(), definitions, 0, 1, data.now_ms, TOKYO, scoring, enroller)
    assert retried.handed_over > 0, "the retry settles the leads the first try did not reach"
    enrolled = enrollments_by_lead()
    assert set(enrolled.values()) == {1}
    assert {lead_id for lead_id, _ in enrolled} >= set(written), "the first try's enrollments are kept"
    for lead in store().scan_leads():
        assert lead.pending_approaches == []


def test_a_lead_unsubscribed_between_scan_and_write_is_evaluated_again_and_not_enrolled(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leads = [lead for lead in data.leads[:60] if not lead.unsubscribed_at and not lead.suppressed]
    load(leads, config, data.now_ms)
    enroller = SequenceEnroller(StepmailStore(store()), config)
    original = SegmentStore.record_change
    interfered: list[str] = []

    def unsubscribe(self: SegmentStore, change: Any, approaches: Any, now_ms: int, handovers: Any = None) -> None:
        if not interfered and any(a.sequence == WEBINAR for a in approaches):
            interfered.append(change.after.lead_id)  # tracking records an unsubscribe meanwhile
            current = store().get_lead(change.after.lead_id)
            assert current is not None
            store().save_lead(replace(current, unsubscribed_at=now_ms - 1000, suppressed="unsubscribe"),
                              current.version)
        original(self, change, approaches, now_ms, handovers)

    monkeypatch.setattr(SegmentStore, "record_change", unsubscribe)
    result = run_shard(store(), definitions, 0, 1, data.now_ms, TOKYO, scoring, enroller)
    assert result.retries == 1 and result.handed_over > 0
    lead_id = interfered[0]
    lead = store().get_lead(lead_id)
    assert lead is not None and lead.suppressed == "unsubscribe" and lead.segments, "both writes survive"
    approaches = [i for i in SegmentStore(store()).history(lead_id) if i["sk"].startswith("APPROACH#")]
    assert [(i["status"], i["reason"]) for i in approaches if i.get("sequence") == WEBINAR] == [
        ("skipped", "unsubscribed")]
    assert all(e.sequence != WEBINAR for e in StepmailStore(store()).enrollments(lead_id))
    others = [e for e in enrollments_by_lead() if e[0] != lead_id and e[1] == WEBINAR]
    assert others, "the other leads were enrolled (positive control)"



class ConfigUnreadable(SequenceEnroller):
    def reads(self, sequence_ids: Any) -> list[tuple[str, ...]]:
        raise ConnectionError("the config bucket did not answer")


def test_when_step_mails_config_cannot_be_read_at_the_start_the_approaches_go_the_pending_way(
    aws: Any, config: SequenceConfig, data: Dataset, definitions: list[SegmentDefinition], scoring: ScoringConfig
) -> None:
    load(data.leads[:30], config, data.now_ms)
    summary, results = run(definitions, ConfigUnreadable(StepmailStore(store()), config), data.now_ms, scoring)
    assert sum(r.handed_over for r in results) == 0
    assert summary["approaches"].get("sequence"), "sequence approaches entered (positive control)"
    assert enrollments_by_lead(), "step mail enrolled them right after the membership write"
    assert all(lead.pending_approaches == [] for lead in store().scan_leads())
