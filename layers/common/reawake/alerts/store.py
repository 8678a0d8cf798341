"""DynamoDB adapter of the alert function: the per-lead throttle, suppression notes, the lead's
recent events and the reactivation write.

| item | pk | sk |
|---|---|---|
| the lead's alert throttle (one item) | ``LEAD#<lead_id>`` | ``ALERT`` (see below) |
| a revisit that did not alert | ``LEAD#<lead_id>`` | ``ALERT_SUPPRESSED#<event id>`` (``reason``, ``detail``) |
| the lead came back (one per segment it is in) | ``LEAD#<lead_id>`` | ``REACTIVATED#<segment>#<at>`` |

**One alert per window**: an alert is *claimed* by a conditional update of the ``ALERT`` item
(``last_alert_at`` before the window's start, or no item yet), so concurrent shards and duplicate
deliveries of the stream cannot both win. The claim names the event that won it; a retry of that
event (its mail failed) resumes the same alert, and ``mailed_at`` / ``published_at`` mark each
side effect done, so a retry never mails or publishes twice.
The throttle item's attributes: ``last_alert_at``, ``claim_event``, ``alert_id``, ``mailed_at``,
``published_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core import counters
from reawake.core.dynamo import deserialize, serialize
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.store import CommitConflict, TableAdapter, event_from_item, lead_pk

ALERT_SK = "ALERT"
MAX_ATTEMPTS = 8


def reactivation_item(lead_id: str, segment_id: str, entered_at: int, at_ms: int) -> dict[str, Any]:
    """The note that a member of ``segment_id`` came back at ``at_ms`` (the segments' history reads it)."""
    return {
        "pk": lead_pk(lead_id),
        "sk": f"REACTIVATED#{segment_id}#{at_ms}",
        "segment_id": segment_id,
        "entered_at": entered_at,
        "reactivated_at": at_ms,
    }


@dataclass(frozen=True)
class Claim:
    alert_id: str
    claimed_at: int
    mailed: bool = False
    published: bool = False
    new: bool = False  # claimed by this call (not a retry resuming its own unfinished alert)

    @property
    def done(self) -> bool:
        return self.mailed and self.published


class AlertStore(TableAdapter):
    """``reawake.alerts.alerting.AlertTable`` on the reawake table."""

    def get_lead(self, lead_id: str) -> Lead | None:
        return self.store.get_lead(lead_id)

    def count_reactivated(self, lead: Lead, at_ms: int, tz: ZoneInfo) -> None:
        counters.reactivated(self.store, lead, at_ms, tz)

    def count_alert(self, lead: Lead, claimed_at: int, tz: ZoneInfo) -> None:
        counters.alert_sent(self.store, lead, claimed_at, tz)

    def _key(self, lead_id: str, sk: str = ALERT_SK) -> dict[str, Any]:
        return {"pk": {"S": lead_pk(lead_id)}, "sk": {"S": sk}}

    # --- the throttle ------------------------------------------------------------------------

    def claim(self, lead_id: str, event_id: str, alert_id: str, now_ms: int, window_start: int) -> Claim | None:
        """The alert this event may send (a new one, or its own unfinished one on a retry), or None
        when the lead was alerted within the window (or this event's alert is complete)."""
        try:
            # One call in the usual case; the same event never claims twice (a late duplicate
            # delivery after the window resumes or skips its own alert below).
            self.client.update_item(
                TableName=self.table,
                Key=self._key(lead_id),
                UpdateExpression="SET last_alert_at = :now, claim_event = :eid, alert_id = :aid, lead_id = :lid "
                "REMOVE mailed_at, published_at",
                ConditionExpression="(attribute_not_exists(pk) OR last_alert_at < :ws) AND "
                "(attribute_not_exists(claim_event) OR claim_event <> :eid)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now_ms)},
                    ":eid": {"S": event_id},
                    ":aid": {"S": alert_id},
                    ":lid": {"S": lead_id},
                    ":ws": {"N": str(window_start)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            again = self._current(lead_id)  # this event's own claim (a retry, a duplicate delivery)?
            if again is not None and again.get("claim_event") == event_id:
                claim = self._claim_of(again)
                return None if claim.done else claim
            return None
        return Claim(alert_id, now_ms, new=True)

    def _current(self, lead_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(lead_id), ConsistentRead=True).get("Item")
        return deserialize(item) if item else None

    @staticmethod
    def _claim_of(item: dict[str, Any]) -> Claim:
        return Claim(str(item["alert_id"]), int(item["last_alert_at"]), "mailed_at" in item, "published_at" in item)

    def mark(self, lead_id: str, claim: Claim, what: tuple[str, ...], now_ms: int) -> None:
        """Record that the claim's mail (``mailed_at``) and/or SNS message (``published_at``) went out."""
        if not what or any(w not in ("mailed_at", "published_at") for w in what):
            raise ValueError(f"not side effects: {what!r}")
        self.client.update_item(
            TableName=self.table,
            Key=self._key(lead_id),
            UpdateExpression="SET " + ", ".join(f"{w} = :now" for w in what),
            ConditionExpression="alert_id = :aid",
            ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":aid": {"S": claim.alert_id}},
        )

    def last_alert(self, lead_id: str) -> dict[str, Any] | None:
        return self._current(lead_id)

    # --- notes and reads --------------------------------------------------------------------------

    def record_suppressed(self, event: Event, reason: str, detail: str, expires_at: int) -> None:
        """A revisit that did not alert, with why (idempotent: keyed by the event)."""
        assert event.lead_id
        item = {
            "pk": lead_pk(event.lead_id),
            "sk": f"ALERT_SUPPRESSED#{event.id}",
            "event_id": event.id,
            "kind": event.kind,
            "ts": event.ts,
            "reason": reason,
            "detail": detail,
            "expires_at": expires_at,
        }
        self.client.put_item(TableName=self.table, Item=serialize(item))

    def suppressed(self, lead_id: str) -> list[dict[str, Any]]:
        return [deserialize(i) for i in self.store.query_items(lead_pk(lead_id), "ALERT_SUPPRESSED#")]

    def recent_events(self, lead_id: str, since_ms: int) -> list[Event]:
        """The lead's events at or after since_ms (its partition is read; the filter drops the rest).
        Dormant leads have few events, and this runs only for clicks and for the alert itself."""
        paginator = self.client.get_paginator("query")
        found: list[Event] = []
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
            FilterExpression="ts >= :since",
            ExpressionAttributeValues={
                ":pk": {"S": lead_pk(lead_id)},
                ":ev": {"S": "EV#"},
                ":since": {"N": str(since_ms)},
            },
            ConsistentRead=True,
        ):
            found.extend(event_from_item(i) for i in page.get("Items", []))
        return sorted(found, key=lambda e: e.ts)

    # --- the return ends dormancy -----------------------------------------------------------------

    def reactivate(self, lead: Lead, at_ms: int) -> Lead | None:
        """Mark the lead reactivated at ``at_ms`` with a ``REACTIVATED#`` note per segment it is in,
        in one transaction (optimistic version). Memberships stay: the next segment run decides
        whether it is still dormant. None when there is nothing to do (not dormant, or already
        reactivated since it went dormant)."""
        for _ in range(MAX_ATTEMPTS):
            if lead.dormant_since is None or (
                lead.reactivated_at is not None and lead.reactivated_at >= lead.dormant_since
            ):
                return None
            after = replace(lead, reactivated_at=at_ms)
            notes = [
                {"TableName": self.table, "Item": serialize(reactivation_item(lead.lead_id, s, entered, at_ms))}
                for s, entered in sorted(lead.segments.items())
            ]
            try:
                self.store.commit([], 0, after, lead.version, extra_puts=notes)
                return replace(after, version=lead.version + 1)
            except CommitConflict:
                fresh = self.store.get_lead(lead.lead_id)
                if fresh is None:
                    return None
                lead = fresh
        raise RuntimeError("the lead kept changing; giving up after retries")
