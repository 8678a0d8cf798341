"""The DynamoDB adapter: the only module of the tracking path that talks to boto3.

Single-table keys:
| item | pk | sk |
|---|---|---|
| lead profile + aggregates | ``LEAD#<lead_id>`` | ``PROFILE`` (carries ``lead_key`` for the sparse ``leads`` index) |
| event of a lead | ``LEAD#<lead_id>`` | ``EV#<event id>`` |
| event of an unidentified visitor | ``VISITOR#<visitor_id>`` | ``EV#<event id>`` |
| visitor -> lead link | ``VISITOR#<visitor_id>`` | ``LINK`` |
| lead -> its visitors | ``LEAD#<lead_id>`` | ``VISITOR#<visitor_id>`` |
| event id claim (dedup) | ``EVENT#<event id>`` | ``CLAIM`` |
| email -> lead (one lead per email) | ``EMAIL#<sha-256 of the email>`` | ``LEAD`` (carries ``lead_id``) |
| a lead moved to a new id (``reawake migrate lead-ids``) | ``LEAD#<old id>`` | ``MOVED`` (carries ``lead_id``) |

An event's item key depends on who it is attributed to (a visitor before ``identify``, the lead
after), so its id is claimed under a key of its own in the same transaction: an id re-sent after
identity stitching, or by a second visitor, is a duplicate and stored nowhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from reawake.core.dynamo import deserialize, projection_expression, serialize, value
from reawake.core.events import Event
from reawake.core.leads import DayBuckets, Lead, email_key, legacy_lead_id, new_lead_id, pack_days, split_last

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "PROFILE"
CLAIM = "CLAIM"
EMAIL_SK = "LEAD"
MOVED = "MOVED"
LAST_TAIL = "last_tail"  # the topic, path and campaign keys of ``Lead.last`` (reawake.core.leads.split_last)
# A transaction holds 100 items: each event is two (the event and its id claim), plus the lead.
EVENTS_PER_COMMIT = 49
TRANSACT_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
TRANSACT_BYTES = 3_500_000  # under its 4 MB per transaction, with room for the request's own keys
_LEAD_FIELDS = {f.name for f in dataclasses.fields(Lead)}


class CommitConflict(Exception):
    """A transaction was cancelled: some events were already stored, or the lead changed."""

    def __init__(self, duplicate_ids: set[str], stale_lead: bool) -> None:
        super().__init__(f"duplicates={len(duplicate_ids)} stale_lead={stale_lead}")
        self.duplicate_ids = duplicate_ids
        self.stale_lead = stale_lead


def lead_pk(lead_id: str) -> str:
    return f"LEAD#{lead_id}"


def email_pk(email: str) -> str:
    return f"EMAIL#{email_key(email)}"


def visitor_pk(visitor_id: str) -> str:
    return f"VISITOR#{visitor_id}"


def event_pk(event: Event) -> str:
    if event.lead_id:
        return lead_pk(event.lead_id)
    assert event.visitor_id, "an event belongs to a lead or a visitor"
    return visitor_pk(event.visitor_id)


def claim_to_item(event: Event, expires_at: int) -> dict[str, Any]:
    return {"pk": f"EVENT#{event.id}", "sk": CLAIM, "expires_at": expires_at}


def lead_to_item(lead: Lead) -> dict[str, Any]:
    item = {k: v for k, v in dataclasses.asdict(lead).items()}
    item.update(pk=lead_pk(lead.lead_id), sk=PROFILE, lead_key=lead.lead_id, days=pack_days(lead.days))
    item["last"], tail = split_last(lead.last)
    if tail:
        item[LAST_TAIL] = tail
    if not lead.pending_approaches:
        del item["pending_approaches"]  # most leads: keep the item small
    if not lead.report:
        del item["report"]
    return item


def lead_from_item(item: dict[str, Any]) -> Lead:
    data = deserialize(item)
    if "days" in data:
        data["days"] = DayBuckets(data["days"])
    if LAST_TAIL in data:  # items written before the split hold every key in ``last``
        data["last"] = {**data.get("last", {}), **data.pop(LAST_TAIL)}
    return Lead(**{k: v for k, v in data.items() if k in _LEAD_FIELDS})


def event_to_item(event: Event, expires_at: int) -> dict[str, Any]:
    item = dataclasses.asdict(event)
    item.update(pk=event_pk(event), sk=f"EV#{event.id}", expires_at=expires_at)
    if not item["props"]:
        del item["props"]
    return item


def event_from_item(item: dict[str, Any]) -> Event:
    data = deserialize(item)
    fields = {f.name for f in dataclasses.fields(Event)}
    return Event(**{k: v for k, v in data.items() if k in fields})


class Store:
    """The reawake table: leads, events, visitor links (and the base of every feature's adapter)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            from reawake.core.aws import client

            self._client = client("dynamodb")
        return self._client

    # --- reads -------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return response.get("Item")

    def get_lead(self, lead_id: str) -> Lead | None:
        """The lead with this id; for an id that ``reawake migrate lead-ids`` replaced (links in
        mail sent before carry it), the lead under its new id."""
        item = self._get(lead_pk(lead_id), PROFILE)
        if item is None:
            moved = self._get(lead_pk(lead_id), MOVED)
            item = self._get(lead_pk(moved["lead_id"]["S"]), PROFILE) if moved else None
        return lead_from_item(item) if item else None

    # --- email -> lead ---------------------------------------------------------------------------

    def lead_id_of(self, email: str) -> str | None:
        """The id of the lead with this (normalized) email, or None: the email item, else a lead
        not yet migrated from the id derived from the email."""
        item = self._get(email_pk(email), EMAIL_SK)
        if item is not None:
            return str(item["lead_id"]["S"])
        legacy = legacy_lead_id(email)
        return legacy if self._get(lead_pk(legacy), PROFILE) is not None else None

    def lead_by_email(self, email: str) -> Lead | None:
        lead_id = self.lead_id_of(email)
        return self.get_lead(lead_id) if lead_id else None

    def lead_ids_of(self, emails: list[str]) -> dict[str, str]:
        """``lead_id_of`` for many emails (batched reads); emails without a lead are absent."""
        unique = list(dict.fromkeys(emails))
        by_key = {email_pk(e): e for e in unique}
        found = {by_key[i["pk"]["S"]]: str(i["lead_id"]["S"]) for i in self.batch_get([(k, EMAIL_SK) for k in by_key])}
        legacy = {lead_pk(legacy_lead_id(e)): e for e in unique if e not in found}
        for item in self.batch_get([(pk, PROFILE) for pk in legacy]):
            email = legacy[item["pk"]["S"]]
            found[email] = legacy_lead_id(email)
        return found

    def claim_lead_id(self, email: str, looked_up: bool = False) -> str:
        """The id of the lead with this email; for a new email, a new random id claimed by a
        conditional write of the email item, so that concurrent first sightings of one email
        (two imports, an import and a form) agree on one lead. The caller creates the profile.
        ``looked_up``: the caller found no lead for it a moment ago (``lead_ids_of``)."""
        found = None if looked_up else self.lead_id_of(email)
        if found is not None:
            return found
        candidate = new_lead_id()
        item = {"pk": email_pk(email), "sk": EMAIL_SK, "lead_id": candidate}
        try:
            self.client.put_item(TableName=self.table_name, Item=serialize(item),
                                 ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            winner = self.lead_id_of(email)
            # None only if the claim that beat ours was removed again meanwhile: claim afresh.
            return winner if winner is not None else self.claim_lead_id(email, looked_up=True)
        return candidate

    def get_visitor_lead(self, visitor_id: str) -> str | None:
        item = self._get(visitor_pk(visitor_id), "LINK")
        return item["lead_id"]["S"] if item else None

    def query_items(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        """The items of a partition whose sk starts with prefix (all of them: an empty prefix)."""
        paginator = self.client.get_paginator("query")
        values = {":pk": {"S": pk}, ":prefix": {"S": prefix}} if prefix else {":pk": {"S": pk}}
        for page in paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk",
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        ):
            yield from page.get("Items", [])

    def visitor_events(self, visitor_id: str) -> list[Event]:
        return [event_from_item(i) for i in self.query_items(visitor_pk(visitor_id), "EV#")]

    def lead_events(self, lead_id: str) -> list[Event]:
        return [event_from_item(i) for i in self.query_items(lead_pk(lead_id), "EV#")]

    def lead_visitors(self, lead_id: str) -> list[str]:
        return [i["sk"]["S"].split("#", 1)[1] for i in self.query_items(lead_pk(lead_id), "VISITOR#")]

    def scan_leads(self, segment: int = 0, total_segments: int = 1,
                   paths: Sequence[tuple[str, ...]] | None = None, index: str = "leads") -> Iterator[Lead]:
        """Every lead of one parallel-scan segment; ``paths``: read only these document paths, the
        rest of each Lead left at its defaults; ``index``: ``leads`` (whole profiles) or
        ``lead_facts`` (the attributes that do not grow with the events)."""
        request: dict[str, Any] = {"TableName": self.table_name, "IndexName": index, "Segment": segment,
                                   "TotalSegments": total_segments}
        if paths:
            request["ProjectionExpression"], request["ExpressionAttributeNames"] = projection_expression(paths)
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(**request):
            for item in page.get("Items", []):
                yield lead_from_item(item)

    # --- writes ------------------------------------------------------------------------------

    def _lead_put(self, lead: Lead, expected_version: int | None) -> dict[str, Any]:
        """A put of the lead at version+1, on condition that it is still at expected_version
        (None: that it does not exist yet)."""
        saved = dataclasses.replace(lead, version=(expected_version or 0) + 1)
        put: dict[str, Any] = {"TableName": self.table_name, "Item": serialize(lead_to_item(saved))}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": value(expected_version)}
        return put

    def commit(
        self,
        events: list[Event],
        expires_at: int,
        lead: Lead | None = None,
        expected_version: int | None = None,
        extra_puts: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store new events (at most EVENTS_PER_COMMIT) and the lead's new state in one
        transaction: all or nothing. Each event id is claimed once for the whole table, whoever the
        event is attributed to.

        Raises CommitConflict naming the events that already exist and whether the lead changed.
        """
        if len(events) > EVENTS_PER_COMMIT:
            raise ValueError(f"at most {EVENTS_PER_COMMIT} events per commit")
        items = self.commit_items(events, expires_at, lead, expected_version)
        items.extend({"Put": p} for p in extra_puts or [])
        if not items:
            return
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
            failed += [False] * (len(items) - len(failed))
            duplicates = {e.id for i, e in enumerate(events) if failed[2 * i] or failed[2 * i + 1]}
            stale = lead is not None and failed[2 * len(events)]
            if not duplicates and not stale:
                raise
            raise CommitConflict(duplicates, stale) from exc

    def save_lead(self, lead: Lead, expected_version: int | None) -> None:
        """Raises CommitConflict(stale_lead=True) when someone else changed the lead first."""
        try:
            self.client.put_item(**self._lead_put(lead, expected_version))
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise CommitConflict(set(), True) from exc

    def link_visitor(self, visitor_id: str, lead_id: str, now_ms: int) -> str:
        """Link a visitor to a lead. Returns "new", "same" (already linked to this lead) or
        "relinked" (the browser now belongs to another lead; its earlier events stay where they are)."""
        current = self.get_visitor_lead(visitor_id)
        if current == lead_id:
            return "same"
        link = serialize({"pk": visitor_pk(visitor_id), "sk": "LINK", "lead_id": lead_id, "linked_at": now_ms})
        back = serialize({"pk": lead_pk(lead_id), "sk": f"VISITOR#{visitor_id}", "linked_at": now_ms})
        put_link: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": link,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if current is not None:
            put_link["ConditionExpression"] = "lead_id = :old"
            put_link["ExpressionAttributeValues"] = {":old": {"S": current}}
        try:
            self.client.transact_write_items(
                TransactItems=[{"Put": put_link}, {"Put": {"TableName": self.table_name, "Item": back}}]  # type: ignore[typeddict-item]
            )
        except self.client.exceptions.TransactionCanceledException:
            # Someone linked it concurrently: report what is there now.
            return "same" if self.get_visitor_lead(visitor_id) == lead_id else "relinked"
        return "new" if current is None else "relinked"

    # --- bulk reads for imports (added for `reawake leads|activities import`) ---------------------

    def batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The items that exist among (pk, sk) keys (consistent reads, 100 keys per request).
        Keys DynamoDB leaves unprocessed (throttling, 16 MB) are asked again after a backoff with
        full jitter, as AWS advises: an immediate re-ask would hammer a throttled table."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            chunk = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in unique[start : start + 100]]
            request: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": True}}
            for attempt in itertools.count():
                if attempt:
                    time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # jitter, not a secret
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(response.get("Responses", {}).get(self.table_name, []))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
        return found

    def get_leads(self, lead_ids: list[str]) -> dict[str, Lead]:
        """The profiles that exist among lead_ids."""
        leads = (lead_from_item(i) for i in self.batch_get([(lead_pk(i), PROFILE) for i in lead_ids]))
        return {lead.lead_id: lead for lead in leads}

    # --- bulk writes for imports: many leads per transaction -------------------------------------

    def lead_put(self, lead: Lead, expected_version: int | None) -> dict[str, Any]:
        """The conditional put of ``save_lead``, for a transaction of the caller's."""
        return self._lead_put(lead, expected_version)

    def email_claim_put(self, email: str, lead_id: str) -> dict[str, Any]:
        """The conditional write that makes ``lead_id`` the one lead of a new email (``claim_lead_id``)."""
        item = {"pk": email_pk(email), "sk": EMAIL_SK, "lead_id": lead_id}
        return {"TableName": self.table_name, "Item": serialize(item),
                "ConditionExpression": "attribute_not_exists(pk)"}

    def commit_items(self, events: list[Event], expires_at: int, lead: Lead | None,
                     expected_version: int | None) -> list[dict[str, Any]]:
        """The transaction items of ``commit``: each event with its id claim, then the lead."""
        condition = "attribute_not_exists(pk)"
        items: list[dict[str, Any]] = []
        for e in events:
            items.append({"Put": {"TableName": self.table_name, "Item": serialize(claim_to_item(e, expires_at)),
                                  "ConditionExpression": condition}})
            # Kept conditional too: events stored before claims existed have no claim item.
            items.append({"Put": {"TableName": self.table_name, "Item": serialize(event_to_item(e, expires_at)),
                                  "ConditionExpression": condition}})
        if lead is not None:
            items.append({"Put": self._lead_put(lead, expected_version)})
        return items

    def transact_groups(self, groups: Sequence[list[dict[str, Any]]]) -> set[int]:
        """Write groups of transaction items, each all or nothing, packing several groups into one
        TransactWriteItems (at most 100 items and ~4 MB): the cost of a request is shared by many
        leads. Returns the indexes of the groups that were refused (a condition failed, a
        concurrent transaction touched an item): nothing of those is written, and the caller
        handles each on its own. The other groups of a cancelled transaction are sent again."""
        refused: set[int] = set()
        pending = [i for i, group in enumerate(groups) if group]
        while pending:
            batch: list[int] = []
            size = count = 0
            for index in pending:
                group = groups[index]
                weight = len(json.dumps(group, separators=(",", ":")))
                if batch and (count + len(group) > TRANSACT_ITEMS or size + weight > TRANSACT_BYTES):
                    break
                batch.append(index)
                size, count = size + weight, count + len(group)
            pending = pending[len(batch):]
            failed = self._transact_batch([groups[i] for i in batch])
            refused.update(batch[i] for i in failed)
            if failed:  # the rest of a cancelled batch was not written: send it again
                pending = [index for i, index in enumerate(batch) if i not in failed] + pending
        return refused

    def _transact_batch(self, groups: list[list[dict[str, Any]]]) -> set[int]:
        """One transaction of whole groups; the positions (in ``groups``) of the groups at fault."""
        items = [item for group in groups for item in group]
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            owner = [g for g, group in enumerate(groups) for _ in group]
            failed = {owner[i] for i, r in enumerate(reasons[: len(items)])
                      if r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict")}
            if not failed:
                raise
            return failed
        return set()


class TableAdapter:
    """Base of the adapters that keep their own items in the reawake table (alerts, step mail,
    call lists, segments): the shared Store, its client and its table name."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def client(self) -> Any:
        return self.store.client

    @property
    def table(self) -> str:
        return self.store.table_name


def table_store() -> Store:
    """The table this function's settings name. Each entry module caches its own
    (``store = per_container(table_store)``): no feature shares another's cache."""
    from reawake.core.settings import get_settings

    return Store(get_settings().table_name)
