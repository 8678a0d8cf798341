"""Adapters for step mail: DynamoDB items, the due index, the sequences in the config bucket.

| item | pk | sk |
|---|---|---|
| enrollment (the latest of a lead in a sequence) | ``LEAD#<lead_id>`` | ``ENROLL#<sequence>`` |
| mail claim (one per message id: sent at most once) | ``LEAD#<lead_id>`` | ``MAIL#<message id>`` |
| owner task (a call for the lead's salesperson) | ``LEAD#<lead_id>`` | ``TASK#<message id>`` |

An active enrollment also carries ``due_shard`` and ``due_at``: the sparse GSI ``due`` (HASH
``due_shard``, RANGE ``due_at``) holds only active enrollments, by the time their next step is
due. A send slot reads "everything due at or before now" with one query per shard (oldest first),
so a missed slot or an outage is caught up by the next one. ``DUE_SHARDS`` shards spread the
index's write load (a GSI partition takes about 1,000 writes/s; enrolling a few million leads in
one segment run is the burst).

It carries ``sequence_shard`` (``<sequence>#<shard>``) too: the sparse GSI ``sequence_due``
(HASH ``sequence_shard``, RANGE ``due_at``) holds the same entries by sequence, so `reawake
sequences status --sequence NAME` reads that sequence's entries alone, page by page, in the same
16 shards (one sequence can hold most of the enrollments).

Config objects: ``config/sequences/<id>.yaml`` and ``config/stepmail.yaml`` (uploaded by
``reawake sequences upload`` and by the local stack at start), read with ETag caching.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reawake.core import clock, counters
from reawake.core.config_store import ConfigStore
from reawake.core.counting import Bump, step_scope
from reawake.core.durations import local_day
from reawake.core.dynamo import deserialize, serialize, value
from reawake.core.leads import Lead, day_of
from reawake.core.settings import get_settings
from reawake.core.store import PROFILE, TableAdapter, lead_from_item, lead_pk
from reawake.stepmail.enrollment import ACTIVE, Claim, ClaimExists, Enrollment, Known, OwnerTask, StaleLead
from reawake.stepmail.sequences import Sequence, StepmailSettings, StepRecord

SEQUENCES_PREFIX = "config/sequences/"
STEPMAIL_KEY = "config/stepmail.yaml"


DUE_INDEX = "due"
SEQUENCE_INDEX = "sequence_due"
DUE_SHARDS = 16
PAGE = 1000  # entries per page of an index query (bounded memory however many are due)
FAR_FUTURE_MS = 2**53  # "due at any time"


def due_shard(lead_id: str) -> str:
    """The due-index shard of a lead's enrollments (all of one lead's in one shard)."""
    return f"{int(hashlib.sha256(lead_id.encode()).hexdigest()[:8], 16) % DUE_SHARDS:02d}"


@dataclass(frozen=True)
class Due:
    """An entry of the due index: which enrollment, and when its next step is due."""

    lead_id: str
    sequence: str
    due_at: int
    next_step: int = 0
    enrolled_at: int = 0


def enrollment_item(enrollment: Enrollment) -> dict[str, Any]:
    due = {}
    if enrollment.status == ACTIVE and enrollment.due_at is not None:
        shard = due_shard(enrollment.lead_id)
        due = {"due_shard": shard, "sequence_shard": f"{enrollment.sequence}#{shard}", "due_at": enrollment.due_at}
    return {**due,
        "pk": lead_pk(enrollment.lead_id),
        "sk": f"ENROLL#{enrollment.sequence}",
        "lead_id": enrollment.lead_id,
        "sequence": enrollment.sequence,
        "enrolled_at": enrollment.enrolled_at,
        "segment_id": enrollment.segment_id,
        "status": enrollment.status,
        "attempts": enrollment.attempts,
        "steps": [
            {"index": r.index, "outcome": r.outcome, "at_ms": r.at_ms, "message_id": r.message_id}
            for r in enrollment.steps
        ],
        "next_step": enrollment.next_step,
        "reason": enrollment.reason,
        "error": enrollment.error,
        "updated_at": enrollment.updated_at,
    }


def enrollment_from_item(item: dict[str, Any]) -> Enrollment:
    data = deserialize(item)
    steps = tuple(
        StepRecord(int(s["index"]), s["outcome"], int(s["at_ms"]), s.get("message_id")) for s in data.get("steps", [])
    )
    return Enrollment(
        lead_id=data["lead_id"],
        sequence=data["sequence"],
        enrolled_at=int(data["enrolled_at"]),
        segment_id=data.get("segment_id"),
        status=data["status"],
        steps=steps,
        reason=data.get("reason"),
        error=data.get("error"),
        updated_at=int(data.get("updated_at", 0)),
        due_at=int(data["due_at"]) if data.get("due_at") is not None else None,
        attempts=int(data.get("attempts") or 0),
    )


def claim_from_item(item: dict[str, Any]) -> Claim:
    data = deserialize(item)
    return Claim(data["lead_id"], data["message_id"], data["sequence"], int(data["step_index"]),
                 int(data["claimed_at"]), data.get("status", "claimed"), data.get("ses_message_id"))


class StepmailStore(TableAdapter):
    """The step-mail items in the reawake table (``EnrollmentStore`` of ``reawake.stepmail.enrollment``)."""

    _held: list[tuple[str, int, str, int, int]] | None = None  # report counts held by ``counts_held``

    def _count(self, sequence: str, step_index: int, name: str, at_ms: int, n: int = 1) -> None:
        """A report count (``counters.step_event``), written now or, inside ``counts_held``, with
        the others at its end."""
        if self._held is None:
            counters.step_event(self.store, sequence, step_index, name, at_ms, n)
        else:
            self._held.append((sequence, step_index, name, at_ms, n))

    @contextmanager
    def counts_held(self) -> Iterator[None]:
        """Hold the report counts of a batch and write them once at its end, summed: one counter
        update per step and day instead of one per mail (every mail of a slot bumps the same
        counter item, a hot key on AWS and a third of the counter writes locally). Each count is
        still made only after the write it counts succeeded; a batch cut short (a Lambda timeout)
        loses its counts, never doubles them."""
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            counters.step_events(self.store, held)

    def read_batch(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], Known]:
        """The enrollments of a batch and their leads in batched consistent reads (100 keys a
        request: 2 requests for a batch of 100, instead of 200 reads one at a time)."""
        leads = list(dict.fromkeys(lead_id for lead_id, _ in refs))
        keys = [(lead_pk(lead_id), f"ENROLL#{sequence}") for lead_id, sequence in refs]
        keys += [(lead_pk(lead_id), PROFILE) for lead_id in leads]
        enrollments: dict[tuple[str, str], Enrollment] = {}
        found_leads: dict[str, Lead] = {}
        for item in self.store.batch_get(keys):
            if item["sk"]["S"] == PROFILE:
                lead = lead_from_item(item)
                found_leads[lead.lead_id] = lead
            else:
                enrollment = enrollment_from_item(item)
                enrollments[(enrollment.lead_id, enrollment.sequence)] = enrollment
        return {(lead_id, sequence): Known(enrollments.get((lead_id, sequence)), found_leads.get(lead_id))
                for lead_id, sequence in refs}

    def _get(self, lead_id: str, sk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": lead_pk(lead_id)}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return found

    def get_lead(self, lead_id: str) -> Lead | None:
        return self.store.get_lead(lead_id)

    # --- enrollments -----------------------------------------------------------------------------

    def get_enrollment(self, lead_id: str, sequence: str) -> Enrollment | None:
        item = self._get(lead_id, f"ENROLL#{sequence}")
        return enrollment_from_item(item) if item else None

    def enrollments(self, lead_id: str) -> list[Enrollment]:
        return [enrollment_from_item(i) for i in self.store.query_items(lead_pk(lead_id), "ENROLL#")]

    def due(self, shard: str, until_ms: int, limit: int | None = None, page: int | None = None) -> Iterator[Due]:
        """The shard's active enrollments due at or before ``until_ms``, oldest first."""
        return self._due_entries(DUE_INDEX, "due_shard", shard, until_ms, limit, page)

    def due_in_sequence(self, sequence: str, until_ms: int = FAR_FUTURE_MS, page: int = PAGE) -> Iterator[Due]:
        """The sequence's active enrollments due at or before ``until_ms``, oldest first, read from
        the ``sequence_due`` index shard by shard and merged as they are read: at most one page
        per shard is held, whatever the number."""
        shards = [self._due_entries(SEQUENCE_INDEX, "sequence_shard", f"{sequence}#{number:02d}", until_ms,
                                    page=page) for number in range(DUE_SHARDS)]
        return heapq.merge(*shards, key=lambda d: d.due_at)

    def _due_entries(self, index: str, key: str, key_value: str, until_ms: int, limit: int | None = None,
                     page: int | None = None) -> Iterator[Due]:
        args: dict[str, Any] = {
            "TableName": self.table, "IndexName": index,
            "KeyConditionExpression": f"{key} = :s AND due_at <= :t",
            "ExpressionAttributeValues": {":s": {"S": key_value}, ":t": value(until_ms)},
        }
        if limit is not None or page is not None:
            args["Limit"] = min(n for n in (limit, page) if n is not None)
        found = 0
        while True:
            response = self.client.query(**args)
            for item in response.get("Items", []):
                yield Due(item["pk"]["S"].split("#", 1)[1], item["sk"]["S"].split("#", 1)[1], int(item["due_at"]["N"]),
                          int(item.get("next_step", {}).get("N", 0)), int(item.get("enrolled_at", {}).get("N", 0)))
                found += 1
            if "LastEvaluatedKey" not in response or (limit is not None and found >= limit):
                return
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def all_due(self, until_ms: int, limit: int | None = None) -> list[Due]:
        """Every shard's enrollments due at or before ``until_ms``, oldest first (at most ``limit``
        of them: the oldest). The shards are read page by page and merged as they are read, so a
        slot after an outage reads about ``limit`` entries, not ``limit`` from each shard."""
        shards = [self.due(f"{number:02d}", until_ms, limit, PAGE) for number in range(DUE_SHARDS)]
        return list(itertools.islice(heapq.merge(*shards, key=lambda d: d.due_at), limit))

    def due_counts(self) -> dict[str, tuple[int, int]]:
        """sequence -> (active enrollments with a due time, the earliest due time), read shard by
        shard without holding the entries."""
        counts: dict[str, tuple[int, int]] = {}
        for number in range(DUE_SHARDS):
            for d in self.due(f"{number:02d}", FAR_FUTURE_MS, page=PAGE):
                n, first = counts.get(d.sequence, (0, d.due_at))
                counts[d.sequence] = (n + 1, min(first, d.due_at))
        return counts

    def earliest_due(self, until_ms: int) -> int | None:
        """The earliest due time at or before ``until_ms`` over every shard (None: nothing due)."""
        firsts = [d.due_at for number in range(DUE_SHARDS) for d in self.due(f"{number:02d}", until_ms, 1)]
        return min(firsts, default=None)

    def scan_enrollments(self) -> Iterator[tuple[Enrollment, bool]]:
        """Every enrollment item of the table (a full scan: for migrations and small tables), each
        with whether its item is in the ``sequence_due`` index's shape (written since it exists)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, FilterExpression="begins_with(sk, :e)",
                                       ExpressionAttributeValues={":e": {"S": "ENROLL#"}}):
            for item in page.get("Items", []):
                yield enrollment_from_item(item), "sequence_shard" in item

    def new_enrollment_put(self, enrollment: Enrollment) -> dict[str, Any]:
        """The conditional put of a new enrollment (``create_enrollment``; also a ``Put`` of the
        segment run's membership transaction): refused when the lead is active in the sequence or
        this very entry (the same ``enrolled_at`` or an earlier one) was enrolled before."""
        return {
            "TableName": self.table,
            "Item": serialize(enrollment_item(enrollment)),
            "ConditionExpression": "attribute_not_exists(pk) OR (#s <> :active AND enrolled_at < :at)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":active": value(ACTIVE), ":at": value(enrollment.enrolled_at)},
        }

    @staticmethod
    def enrolled_count(enrollment: Enrollment) -> Bump:
        """The report's ``enrolled`` count of a new enrollment (on step 0, the day it was enrolled)."""
        return Bump(step_scope(enrollment.sequence, 0), day_of(enrollment.enrolled_at, get_settings().time_zone),
                    "enrolled")

    def create_enrollment(self, enrollment: Enrollment) -> bool:
        """A new enrollment unless the lead is active in the sequence or this very entry (the same
        ``enrolled_at`` or an earlier one) was enrolled before."""
        try:
            self.client.put_item(**self.new_enrollment_put(enrollment))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        self._count(enrollment.sequence, 0, "enrolled", enrollment.enrolled_at)
        return True

    def save_progress(self, enrollment: Enrollment, expected_steps: int) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=serialize(enrollment_item(enrollment)),
                ConditionExpression="#s = :active AND enrolled_at = :at AND next_step = :n",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":active": value(ACTIVE), ":at": value(enrollment.enrolled_at),
                                           ":n": value(expected_steps)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- mail claims -------------------------------------------------------------------------------

    def claim_mail(self, lead: Lead, claim: Claim) -> None:
        item = {
            "pk": lead_pk(claim.lead_id),
            "sk": f"MAIL#{claim.message_id}",
            "lead_id": claim.lead_id,
            "message_id": claim.message_id,
            "sequence": claim.sequence,
            "step_index": claim.step_index,
            "claimed_at": claim.claimed_at,
            "status": "claimed",
        }
        lead_put = self.store._lead_put(lead, lead.version)
        claim_put = {"TableName": self.table, "Item": serialize(item),
                     "ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self.client.transact_write_items(TransactItems=[{"Put": lead_put}, {"Put": claim_put}])
            self._count(claim.sequence, claim.step_index, "sent", claim.claimed_at)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                found = self._get(claim.lead_id, f"MAIL#{claim.message_id}")
                raise ClaimExists(claim_from_item(found) if found else None) from exc
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise StaleLead() from exc
            raise

    def mark_deferred(self, lead_id: str, sequence: str, step_index: int, message_id: str, at_ms: int) -> bool:
        """``LEAD#<id> / DEFER#<message id>``, written once (conditional): the report's ``deferred``
        counts the step when this write succeeds, never again for the same enrollment step."""
        item = {"pk": lead_pk(lead_id), "sk": f"DEFER#{message_id}", "lead_id": lead_id, "message_id": message_id,
                "sequence": sequence, "step_index": step_index, "deferred_at": at_ms}
        try:
            self.client.put_item(TableName=self.table, Item=serialize(item),
                                 ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        self._count(sequence, step_index, "deferred", at_ms)
        return True

    def get_claim(self, lead_id: str, message_id: str) -> Claim | None:
        item = self._get(lead_id, f"MAIL#{message_id}")
        return claim_from_item(item) if item else None

    def claims(self, lead_id: str) -> list[Claim]:
        return [claim_from_item(i) for i in self.store.query_items(lead_pk(lead_id), "MAIL#")]

    def mark_claim(self, claim: Claim, status: str, ses_message_id: str | None = None,
                   error: str | None = None) -> None:
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": value(status), ":t": value(clock.now_ms())}
        expression = "SET #s = :s, updated_at = :t"
        if ses_message_id is not None:
            expression += ", ses_message_id = :m"
            values[":m"] = value(ses_message_id)
        if error is not None:
            expression += ", #e = :e"
            names["#e"] = "error"
            values[":e"] = value(error)
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": lead_pk(claim.lead_id)}, "sk": {"S": f"MAIL#{claim.message_id}"}},
            UpdateExpression=expression, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )

    def release_claim(self, claim: Claim) -> None:
        """Nothing was sent: the claim goes, and the mail leaves the lead's log (with a new version,
        so a writer holding the older lead re-reads it)."""
        self.client.transact_write_items(TransactItems=[
            {"Delete": {
                "TableName": self.table,
                "Key": {"pk": {"S": lead_pk(claim.lead_id)}, "sk": {"S": f"MAIL#{claim.message_id}"}},
                "ConditionExpression": "#s = :claimed",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":claimed": value("claimed")},
            }},
            {"Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": lead_pk(claim.lead_id)}, "sk": {"S": "PROFILE"}},
                "UpdateExpression": "REMOVE mail_log.#m SET version = version + :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#m": claim.message_id},
                "ExpressionAttributeValues": {":one": value(1)},
            }},
        ])
        self._count(claim.sequence, claim.step_index, "sent", claim.claimed_at, -1)

    # --- segment approaches ----------------------------------------------------------------------

    def set_approach_status(self, lead_id: str, key: str, status: str, reason: str | None, now_ms: int) -> bool:
        """pending -> enrolled / skipped (with the reason), once."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": lead_pk(lead_id)}, "sk": {"S": f"APPROACH#{key}"}},
                UpdateExpression="SET #s = :s, reason = :r, dispatched_at = :t",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": value(status), ":r": value(reason or ""), ":t": value(now_ms),
                                           ":pending": value("pending")},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- owner tasks -------------------------------------------------------------------------------

    def put_task(self, task: OwnerTask) -> bool:
        item = {
            "pk": lead_pk(task.lead_id),
            "sk": f"TASK#{task.task_id}",
            "lead_id": task.lead_id,
            "task_id": task.task_id,
            "sequence": task.sequence,
            "step_index": task.step_index,
            "kind": task.kind,
            "due_at": task.due_at,
            "owner": task.owner,
            "note": task.note,
            "status": "open",
            "created_at": task.created_at,
            "segment_id": task.segment_id,
            # The `tasks` index (call lists): open tasks by the local day they came due.
            "task_day": local_day(task.due_at, get_settings().time_zone).isoformat(),
            "task_due": task.due_at,
        }
        try:
            self.client.put_item(TableName=self.table, Item=serialize(item),
                                 ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def tasks(self, lead_id: str) -> list[dict[str, Any]]:
        return [deserialize(i) for i in self.store.query_items(lead_pk(lead_id), "TASK#")]


# --- config in the bucket ------------------------------------------------------------------------------


class SequenceConfig(ConfigStore):
    """The sequences (``config/sequences/*.yaml``) and step-mail settings in the config bucket,
    re-listed and re-checked by ETag every few minutes."""

    def __init__(self, bucket: str, client: Any = None, refresh_seconds: float = 300) -> None:
        super().__init__(bucket, client, refresh_seconds)
        self._listed_at = -1e18
        self._keys: list[str] = []

    def settings(self) -> StepmailSettings:
        from reawake.stepmail.sequences import parse_stepmail_settings

        entry = self._entry(STEPMAIL_KEY)
        if entry is None:
            return StepmailSettings()
        if entry.parsed is None:
            entry.parsed = parse_stepmail_settings(entry.text, f"s3://{self.bucket}/{STEPMAIL_KEY}")
        parsed: StepmailSettings = entry.parsed
        return parsed

    def _list(self) -> list[str]:
        now = time.monotonic()
        if now - self._listed_at >= self.refresh_seconds:
            keys: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=SEQUENCES_PREFIX):
                keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith((".yaml", ".yml"))]
            self._keys, self._listed_at = sorted(keys), now
        return self._keys

    def sequences(self) -> dict[str, Sequence]:
        from reawake.stepmail.sequences import parse_sequence

        found: dict[str, Sequence] = {}
        for key in self._list():
            entry = self._entry(key)
            if entry is None:
                continue
            if entry.parsed is None:
                sequence_id = key[len(SEQUENCES_PREFIX):].rsplit(".", 1)[0]
                entry.parsed = parse_sequence(entry.text, f"s3://{self.bucket}/{key}", sequence_id)
            sequence: Sequence = entry.parsed
            found[sequence.id] = sequence
        return found


def upload_sequences(client: Any, bucket: str, sequences_dir: Path, settings_path: Path | None,
                     scoring_path: Path | None = None) -> list[str]:
    """Validate the sequences and settings, then upload them; nothing is uploaded when one is bad
    (ConfigError listing every problem). Sequences no longer in the folder are removed."""
    from reawake.core.scoring import load_scoring_file
    from reawake.stepmail.sequences import load_sequences, load_stepmail_settings
    from reawake.stepmail.sequences.config import sequence_files

    settings = load_stepmail_settings(settings_path) if settings_path and settings_path.exists() else None
    scoring = load_scoring_file(scoring_path) if scoring_path and scoring_path.exists() else None
    load_sequences([sequences_dir], settings, scoring, str(scoring_path or "scoring.yaml"))
    uploaded: list[str] = []
    if settings_path is not None and settings_path.exists():
        client.put_object(Bucket=bucket, Key=STEPMAIL_KEY, Body=settings_path.read_bytes(),
                          ContentType="text/yaml; charset=utf-8")
        uploaded.append(STEPMAIL_KEY)
    keys = set()
    for path in sequence_files([sequences_dir]):
        key = f"{SEQUENCES_PREFIX}{path.stem}.yaml"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="text/yaml; charset=utf-8")
        keys.add(key)
        uploaded.append(key)
    stale = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=SEQUENCES_PREFIX):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in keys]
    for key in stale:
        client.delete_object(Bucket=bucket, Key=key)
    return uploaded
