"""The DynamoDB adapter: the only module of the tracking path that talks to boto3.

Single-table keys:
| item | pk | sk |
|---|---|---|
| lead profile + aggregates | ``LEAD#<lead_id>`` | ``PROFILE`` (carries ``lead_key`` for the sparse ``leads`` index) |
| event of a lead | ``LEAD#<lead_id>`` | ``EV#<event id>`` |
| event of an unidentified visitor | ``VISITOR#<visitor_id>`` | ``EV#<event id>`` |
| visitor -> lead link | ``VISITOR#<visitor_id>`` | ``LINK`` |
| lead -> its visitors | ``LEAD#<lead_id>`` | ``VISITOR#<visitor_id>`` |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reawake.dynamo import deserialize, serialize, value
from reawake.events import Event
from reawake.leads import DayBuckets, Lead, pack_days

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "PROFILE"
_LEAD_FIELDS = {f.name for f in dataclasses.fields(Lead)}


class CommitConflict(Exception):
    """A transaction was cancelled: some events were already stored, or the lead changed."""

    def __init__(self, duplicate_ids: set[str], stale_lead: bool) -> None:
        super().__init__(f"duplicates={len(duplicate_ids)} stale_lead={stale_lead}")
        self.duplicate_ids = duplicate_ids
        self.stale_lead = stale_lead


def lead_pk(lead_id: str) -> str:
    return f"LEAD#{lead_id}"


def visitor_pk(visitor_id: str) -> str:
    return f"VISITOR#{visitor_id}"


def event_pk(event: Event) -> str:
    if event.lead_id:
        return lead_pk(event.lead_id)
    assert event.visitor_id, "an event belongs to a lead or a visitor"
    return visitor_pk(event.visitor_id)


def lead_to_item(lead: Lead) -> dict[str, Any]:
    item = {k: v for k, v in dataclasses.asdict(lead).items()}
    item.update(pk=lead_pk(lead.lead_id), sk=PROFILE, lead_key=lead.lead_id, days=pack_days(lead.days))
    if not lead.pending_approaches:
        del item["pending_approaches"]  # most leads: keep the item small
    if not lead.report:
        del item["report"]
    return item


def lead_from_item(item: dict[str, Any]) -> Lead:
    data = deserialize(item)
    if "days" in data:
        data["days"] = DayBuckets(data["days"])
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
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            from reawake.aws import client

            self._client = client("dynamodb")
        return self._client

    # --- reads -------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return response.get("Item")

    def get_lead(self, lead_id: str) -> Lead | None:
        item = self._get(lead_pk(lead_id), PROFILE)
        return lead_from_item(item) if item else None

    def get_visitor_lead(self, visitor_id: str) -> str | None:
        item = self._get(visitor_pk(visitor_id), "LINK")
        return item["lead_id"]["S"] if item else None

    def query_items(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        ):
            yield from page.get("Items", [])

    def visitor_events(self, visitor_id: str) -> list[Event]:
        return [event_from_item(i) for i in self.query_items(visitor_pk(visitor_id), "EV#")]

    def lead_events(self, lead_id: str) -> list[Event]:
        return [event_from_item(i) for i in self.query_items(lead_pk(lead_id), "EV#")]

    def lead_visitors(self, lead_id: str) -> list[str]:
        return [i["sk"]["S"].split("#", 1)[1] for i in self.query_items(lead_pk(lead_id), "VISITOR#")]

    def scan_leads(self, segment: int = 0, total_segments: int = 1) -> Iterator[Lead]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table_name, IndexName="leads", Segment=segment, TotalSegments=total_segments
        ):
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
        """Store new events and the lead's new state in one transaction: all or nothing.

        Raises CommitConflict naming the events that already exist and whether the lead changed.
        """
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": serialize(event_to_item(e, expires_at)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for e in events
        ]
        if lead is not None:
            items.append({"Put": self._lead_put(lead, expected_version)})
        items.extend({"Put": p} for p in extra_puts or [])
        if not items:
            return
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
            duplicates = {e.id for e, bad in zip(events, failed, strict=False) if bad}
            stale = lead is not None and len(failed) > len(events) and failed[len(events)]
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

    def get_leads(self, lead_ids: list[str]) -> dict[str, Lead]:
        """The profiles that exist among lead_ids (consistent reads, 100 keys per request)."""
        found: dict[str, Lead] = {}
        unique = list(dict.fromkeys(lead_ids))
        for start in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [
                {"pk": {"S": lead_pk(i)}, "sk": {"S": PROFILE}} for i in unique[start : start + 100]
            ]
            request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    lead = lead_from_item(item)
                    found[lead.lead_id] = lead
                request = dict(response.get("UnprocessedKeys") or {})
        return found


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

