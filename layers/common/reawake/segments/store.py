"""DynamoDB adapter for segment runs: membership changes, approach records, run summaries.

| item | pk | sk |
|---|---|---|
| membership (history) | ``LEAD#<lead_id>`` | ``MEMBER#<segment>#<entered_at>`` (``left_at`` once left) |
| approach | ``LEAD#<lead_id>`` | ``APPROACH#<segment>#<entered_at>`` |
| reactivation (written by ``reawake.alerts.store``) | ``LEAD#<lead_id>`` | ``REACTIVATED#<segment>#<at>`` |
| run summary | ``RUN#segments`` | ``<run id>`` |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reawake.core.approaches import Approach, Handover
from reawake.core.dynamo import deserialize, serialize, value
from reawake.core.store import PROFILE, CommitConflict, TableAdapter, lead_pk
from reawake.segments.memberships import MembershipChange


def membership_item(lead_id: str, segment_id: str, entered_at: int, left_at: int | None = None) -> dict[str, Any]:
    return {
        "pk": lead_pk(lead_id),
        "sk": f"MEMBER#{segment_id}#{entered_at}",
        "segment_id": segment_id,
        "entered_at": entered_at,
        "left_at": left_at,
    }


def approach_item(approach: Approach) -> dict[str, Any]:
    return {
        "pk": lead_pk(approach.lead_id),
        "sk": f"APPROACH#{approach.key}",
        "segment_id": approach.segment_id,
        "entered_at": approach.entered_at,
        "type": approach.type,
        "sequence": approach.sequence,
        "status": approach.status,
    }


def settled_approach_item(approach: Approach, handover: Handover, now_ms: int) -> dict[str, Any]:
    """The approach as step mail's ``set_approach_status`` leaves a dispatched one."""
    return {**approach_item(approach), "status": handover.status, "reason": handover.reason or "",
            "dispatched_at": now_ms}


class HandoverRefused(Exception):
    """Only the writes of these handovers (approach keys) were refused (the lead is already active in
    the sequence, or this entry was enrolled before): nothing was written; record the change again
    with those approaches pending (step mail's ``enroll`` says why)."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(f"handovers refused: {sorted(keys)}")
        self.keys = keys


class SegmentStore(TableAdapter):
    def record_change(self, change: MembershipChange, approaches: list[Approach], now_ms: int,
                      handovers: Mapping[str, Handover] | None = None) -> None:
        """The lead's new memberships, their history and the approaches, all or nothing; with
        ``handovers`` (approach key -> ``Handover``) those approaches written settled, with their
        writes (the enrollments) and on the condition of what they assumed of the lead.

        Raises CommitConflict(stale_lead=True) when the lead changed since it was read (or is not
        as a handover assumed); an approach that already exists (an overlapping run) cancels the
        whole change the same way. HandoverRefused when only handover writes were refused.
        ``change`` may carry a lead read with a projection (``reawake.segments.reads``): only the
        fields the run owns are written.
        """
        table = self.table
        settled = handovers or {}
        lead_id = change.after.lead_id
        items: list[dict[str, Any]] = [{"Update": self._membership_update(change, settled.values())}]
        for segment_id in change.entered:
            item = membership_item(lead_id, segment_id, change.after.segments[segment_id])
            items.append({"Put": {"TableName": table, "Item": serialize(item)}})
        for segment_id in change.left:
            item = membership_item(lead_id, segment_id, change.before.segments[segment_id], left_at=now_ms)
            items.append({"Put": {"TableName": table, "Item": serialize(item)}})
        for approach in approaches:
            handover = settled.get(approach.key)
            item = approach_item(approach) if handover is None else settled_approach_item(approach, handover, now_ms)
            items.append({"Put": {"TableName": table, "Item": serialize(item),
                                  "ConditionExpression": "attribute_not_exists(pk)"}})
        owners: list[str] = []  # the approach key of each handover write, after the items above
        for key, handover in settled.items():
            items += [{"Put": write} for write in handover.writes]
            owners += [key] * len(handover.writes)
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
            failed = {i: code for i, code in enumerate(reasons) if code != "None"}
            first = len(items) - len(owners)  # the handovers' writes come last
            if failed and all(i >= first and code == "ConditionalCheckFailed" for i, code in failed.items()):
                raise HandoverRefused({owners[i - first] for i in failed}) from exc
            raise CommitConflict(set(), True) from exc

    def _membership_update(self, change: MembershipChange, handovers: Iterable[Handover] = ()) -> dict[str, Any]:
        """The profile's memberships, dormancy, pending approaches and report marks, on condition that the lead
        is still at the version read: an update, so the run never writes back (or even reads) the
        rest of the item (aggregates, history) and its cost does not grow with the lead's events."""
        after = change.after
        sets = ["#segments = :segments", "#version = :next"]
        removes = []
        values: dict[str, Any] = {":segments": value(after.segments), ":next": value(change.before.version + 1),
                                  ":read": value(change.before.version)}
        if after.dormant_since is None:
            removes.append("#dormant")
        else:
            sets.append("#dormant = :dormant")
            values[":dormant"] = value(after.dormant_since)
        if after.pending_approaches:
            sets.append("#pending = :pending")
            values[":pending"] = value(after.pending_approaches)
        else:
            removes.append("#pending")
        if after.report:
            sets.append("#report = :report")
            values[":report"] = value(after.report)
        else:
            removes.append("#report")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        names = {"#segments": "segments", "#version": "version", "#dormant": "dormant_since",
                 "#pending": "pending_approaches", "#report": "report"}
        conditions = ["#version = :read"]
        for assumed in dict.fromkeys(h.assumes for h in handovers if h.assumes):
            conditions.append(f"({assumed})")
        for handover in handovers:
            if handover.assumes:
                names.update(handover.names)
                values.update(handover.values)
        return {
            "TableName": self.table,
            "Key": {"pk": {"S": lead_pk(after.lead_id)}, "sk": {"S": PROFILE}},
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def get_approach(self, lead_id: str, key: str) -> Approach | None:
        item = self.client.get_item(TableName=self.table, ConsistentRead=True,
                                          Key={"pk": {"S": lead_pk(lead_id)}, "sk": {"S": f"APPROACH#{key}"}})
        if "Item" not in item:
            return None
        data = deserialize(item["Item"])
        return Approach(lead_id, data["segment_id"], int(data["entered_at"]), data["type"], data.get("sequence"),
                        data["status"])

    def set_pending(self, lead_id: str, keys: list[str]) -> None:
        """The lead's approaches still to dispatch (the marker its next scan reads). Not versioned:
        a tracking write from an older read may bring settled keys back, and the next run clears
        them again after one read each."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": lead_pk(lead_id)}, "sk": {"S": "PROFILE"}},
            "UpdateExpression": "SET pending_approaches = :k" if keys else "REMOVE pending_approaches",
            "ConditionExpression": "attribute_exists(pk)",
        }
        if keys:
            request["ExpressionAttributeValues"] = {":k": value(keys)}
        self.client.update_item(**request)

    def history(self, lead_id: str) -> list[dict[str, Any]]:
        """Membership history and approaches of one lead, oldest first."""
        items = [
            deserialize(i)
            for prefix in ("MEMBER#", "APPROACH#", "REACTIVATED#")
            for i in self.store.query_items(lead_pk(lead_id), prefix)
        ]
        return sorted(items, key=lambda i: (i["entered_at"], i["sk"]))

    def save_run(self, run_id: str, summary: dict[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table, Item=serialize({"pk": "RUN#segments", "sk": run_id, **summary})
        )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": "RUN#segments"}, "sk": {"S": run_id}}
        ).get("Item")
        return deserialize(item) if item else None
