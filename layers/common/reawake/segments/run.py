"""A segment run: evaluate every definition over every lead, once per lead, and record changes.

The run is split into shards (DynamoDB parallel-scan segments of the sparse ``leads`` index);
each shard is one Lambda invocation under a Step Functions Map. Each lead is read once, every
definition evaluated on it, and only a change of membership is written, so running the same
day twice writes nothing and enrolls no one twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from reawake.core import counters
from reawake.core.approaches import HOLDOUT, PENDING, Approach, Handover
from reawake.core.counting import Bump
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig
from reawake.core.store import TRANSACT_ITEMS, CommitConflict, Store
from reawake.segments.approaches import approach_for
from reawake.segments.memberships import reconcile
from reawake.segments.reads import scan_plan
from reawake.segments.rules.compile import Context, Predicate, compile_definitions
from reawake.segments.rules.model import SegmentDefinition
from reawake.segments.store import HandoverRefused, SegmentStore

MAX_ATTEMPTS = 5
# A shard's report counts are summed in memory and written once per COUNTS_EVERY leads (one update
# per definition and day, not one per entering lead): still only after the change they count was
# written, so never twice; a shard that dies loses at most that many leads' counts.
COUNTS_EVERY = 200
logger = Logger(child=True)


class Enroller(Protocol):
    def dispatch(self, lead: Lead, approach: Approach, now_ms: int) -> str:
        """Start a pending approach (enroll the lead in its sequence); the approach's new status."""

    def reads(self, sequence_ids: Iterable[str]) -> list[tuple[str, ...]]:
        """What ``hand_over`` reads of a lead for these sequences (added to the run's projection)."""

    def hand_over(self, lead: Lead, approach: Approach, now_ms: int, whole: bool) -> Handover | None:
        """The approach settled in the membership transaction, or None (then it goes ``pending``
        and ``dispatch`` starts it). ``whole``: the lead was read whole, not as the run's projection."""


@dataclass
class ShardResult:
    shard: int
    scanned: int = 0
    members: Counter[str] = field(default_factory=Counter)
    entered: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)
    approaches: Counter[str] = field(default_factory=Counter)
    redispatched: int = 0  # approaches an earlier run left pending, dispatched again
    handed_over: int = 0  # approaches settled in the membership transaction (no pending marker)
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "scanned": self.scanned,
            "members": dict(self.members),
            "entered": dict(self.entered),
            "left": dict(self.left),
            "approaches": dict(self.approaches),
            "retries": self.retries,
            "redispatched": self.redispatched,
            "handed_over": self.handed_over,
        }


def run_id_for(now_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def matching(compiled: list[tuple[SegmentDefinition, Predicate]], lead: Lead) -> list[str]:
    return [definition.id for definition, predicate in compiled if predicate(lead)]


def run_shard(
    store: Store,
    definitions: list[SegmentDefinition],
    shard: int,
    total_shards: int,
    now_ms: int,
    tz: ZoneInfo,
    scoring: ScoringConfig | None = None,
    enroller: Enroller | None = None,
) -> ShardResult:
    """enroller: settles ``sequence`` / ``owner_task`` approaches in the membership transaction when
    it can (``Enroller.hand_over``), else hands them to step mail right after it (None: they stay
    pending)."""
    compiled = compile_definitions(definitions, Context(now_ms, tz, scoring))
    by_id = {d.id: d for d in definitions}
    dormant_ids = set(by_id)  # every configured definition is a definition of dormancy
    segments = SegmentStore(store)
    result = ShardResult(shard)
    sequences = sorted({s for d in definitions if (s := getattr(d.approach, "sequence", None))})
    extra: list[tuple[str, ...]] = []
    settling = enroller if sequences else None  # what settles approaches in the membership transaction
    if settling is not None:
        try:
            extra = settling.reads(sequences)
        except Exception:  # step mail's config unreadable: every approach goes the pending way
            logger.exception("approaches not settled in the membership transaction: step mail's config")
            settling = None
    index, paths = scan_plan(definitions, extra)  # only what the rules and the run read (membership: by update)
    counts_due: list[Bump] = []  # added up and written every COUNTS_EVERY leads, and at the end
    for lead in store.scan_leads(shard, total_shards, paths, index):
        if result.scanned % COUNTS_EVERY == 0:
            counters.add(store, counts_due)
            counts_due = []
        result.scanned += 1
        approaches: list[Approach] = []
        change = None
        whole = False  # the lead as scanned (the run's projection) until a conflict reads it again
        refused: set[str] = set()  # handovers the table refused: those approaches go the pending way
        for _ in range(MAX_ATTEMPTS):
            matched = matching(compiled, lead)
            change = reconcile(lead, matched, dormant_ids, now_ms)
            if change is None:
                break
            approaches = [approach_for(by_id[s], lead.lead_id, change.after.segments[s]) for s in change.entered]
            room = TRANSACT_ITEMS - 1 - len(change.entered) - len(change.left) - len(approaches)
            handovers = handovers_of(settling, change.after, approaches, refused, now_ms, whole, room)
            waiting = [a.key for a in approaches if a.status == PENDING and a.key not in handovers]
            if waiting:  # marked with the membership, in the same transaction
                after = replace(change.after, pending_approaches=[*change.after.pending_approaches, *waiting])
                change = replace(change, after=after)
            held = [a.segment_id for a in approaches if a.status == HOLDOUT]
            after, counts = counters.on_membership(change.before, change.after, held, now_ms, tz)
            change = replace(change, after=after)
            try:
                segments.record_change(change, approaches, now_ms, handovers)
            except HandoverRefused as exc:
                refused |= exc.keys  # nothing was written: the same change again, those approaches pending
                continue
            except CommitConflict:
                # Tracking (or an overlapping run) changed the lead: evaluate it again as it is now.
                result.retries += 1
                fresh = store.get_lead(lead.lead_id)
                if fresh is None:
                    break
                lead, whole = fresh, True
                continue
            counts_due.extend(counts)
            for handover in handovers.values():
                counts_due.extend(handover.counts)
            result.handed_over += len(handovers)
            result.entered.update(change.entered)
            result.left.update(change.left)
            result.approaches.update(a.type for a in approaches)
            lead = change.after
            break
        if enroller is not None and lead.pending_approaches:
            whole_lead = store.get_lead(lead.lead_id)  # step mail reads more of the lead than the rules
            if whole_lead is not None:
                result.redispatched += dispatch(enroller, segments, whole_lead, {a.key: a for a in approaches}, now_ms)
        result.members.update(lead.segments.keys())
    counters.add(store, counts_due)
    return result


def handovers_of(enroller: Enroller | None, lead: Lead, approaches: list[Approach], refused: set[str], now_ms: int,
                 whole: bool, room: int) -> dict[str, Handover]:
    """The approaches step mail settles in the membership transaction (approach key -> handover):
    at most one per sequence (a transaction writes an item once; a second approach naming the
    same sequence goes the pending way and ``enroll`` answers it as before), and only as many
    writes as the transaction has ``room`` for. One that fails to decide goes the pending way."""
    if enroller is None:
        return {}
    found: dict[str, Handover] = {}
    writing: set[str | None] = set()
    for approach in approaches:
        if approach.status != PENDING or approach.key in refused or approach.sequence in writing:
            continue
        try:
            handover = enroller.hand_over(lead, approach, now_ms, whole)
        except Exception:
            logger.exception("approach not settled in the membership transaction",
                             extra={"lead_id": lead.lead_id, "segment_id": approach.segment_id})
            continue
        if handover is not None and len(handover.writes) <= room:
            found[approach.key] = handover
            writing.add(approach.sequence)
            room -= len(handover.writes)
    return found


def dispatch(enroller: Enroller, segments: SegmentStore, lead: Lead, fresh: dict[str, Approach],
             now_ms: int) -> int:
    """Hand the lead's pending approaches to step mail: this run's new ones (``fresh``) and any an
    earlier run could not dispatch (the lead's ``pending_approaches`` marker), then clear the marker
    of those no longer pending. A failed dispatch is logged and stays marked: the next run retries
    it (failing the shard would not: its retry sees no membership change). Returns the retries."""
    still: list[str] = []
    retried = 0
    for key in lead.pending_approaches:
        approach = fresh.get(key) or segments.get_approach(lead.lead_id, key)
        if approach is None or approach.status != PENDING:
            continue
        retried += key not in fresh
        try:
            if enroller.dispatch(lead, approach, now_ms) == PENDING:
                still.append(key)
        except Exception:
            still.append(key)
            logger.exception("approach not dispatched", extra={"lead_id": lead.lead_id,
                                                                "segment_id": approach.segment_id})
    if still != lead.pending_approaches:
        segments.set_pending(lead.lead_id, still)
    return retried


def summarize(run_id: str, now_ms: int, shard_results: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {
        "run_id": run_id,
        "now_ms": now_ms,
        "shards": len(shard_results),
        "scanned": 0,
        "members": Counter(),
        "entered": Counter(),
        "left": Counter(),
        "approaches": Counter(),
    }
    total["redispatched"] = 0
    for part in shard_results:
        total["scanned"] += part["scanned"]
        total["redispatched"] += part.get("redispatched", 0)
        for key in ("members", "entered", "left", "approaches"):
            total[key].update(part[key])
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in total.items()}
