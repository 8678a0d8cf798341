"""DynamoDB adapter of the call lists: open tasks by day (the sparse ``tasks`` index), and one
claim per owner and day so a list is mailed once however often the run is repeated.

| item | pk | sk |
|---|---|---|
| owner task (by step mail) | ``LEAD#<lead_id>`` | ``TASK#<message id>``: ``task_day``, ``task_due`` while open |
| a day's list for one owner | ``CALLLIST#<YYYY-MM-DD>`` | ``OWNER#<owner email or team>``: ``status`` claimed / sent |

**Once per day**: a list is claimed by a conditional put before its mail goes out, and marked
``sent`` after. A run that finds it ``sent`` skips it; one that finds a claim older than
``STALE_CLAIM_MS`` (the run that claimed it died before sending) sends it again, with the same
Message-ID. Closing a task removes ``task_day``, which takes it out of the index for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from reawake.calllists.domain import CallTask
from reawake.core import counters
from reawake.core.dynamo import deserialize, value
from reawake.core.leads import Lead
from reawake.core.store import TableAdapter, lead_pk

STALE_CLAIM_MS = 15 * 60_000
CLAIM_TTL_DAYS = 90


def task_of(item: dict[str, Any]) -> CallTask:
    data = deserialize(item)
    listed = data.get("listed_at")
    return CallTask(
        lead_id=data["lead_id"],
        task_id=data["task_id"],
        sequence=data.get("sequence", ""),
        segment_id=data.get("segment_id"),
        kind=data.get("kind", "call"),
        note=data.get("note"),
        owner=data.get("owner"),
        due_at=int(data["due_at"]),
        created_at=int(data.get("created_at", data["due_at"])),
        listed_at=int(listed) if listed is not None else None,
    )


class CallListStore(TableAdapter):
    """``reawake.calllists.run.CallListTable`` on the reawake table."""

    def get_leads(self, lead_ids: list[str]) -> dict[str, Lead]:
        return self.store.get_leads(lead_ids)

    def count_task(self, owner: str | None, outcome: str, at_ms: int, tz: ZoneInfo) -> None:
        counters.call_task(self.store, owner, outcome, at_ms, tz)

    def open_tasks(self, days: Iterable[date], until_ms: int) -> Iterator[CallTask]:
        """Open tasks that came due on these local days, at or before ``until_ms`` (a closed task has
        left the index: ``close`` removes its ``task_day``)."""
        paginator = self.client.get_paginator("query")
        for day in days:
            for page in paginator.paginate(
                TableName=self.table,
                IndexName="tasks",
                KeyConditionExpression="task_day = :d AND task_due <= :until",
                ExpressionAttributeValues={":d": value(day.isoformat()), ":until": value(until_ms)},
            ):
                for item in page.get("Items", []):
                    yield task_of(item)

    def _task_key(self, task: CallTask) -> dict[str, Any]:
        return {"pk": {"S": lead_pk(task.lead_id)}, "sk": {"S": f"TASK#{task.task_id}"}}

    def mark_listed(self, task: CallTask, day: date, now_ms: int) -> None:
        """First listed (kept) and last listed day: "new" on the first list, "carried over" after."""
        self.client.update_item(
            TableName=self.table,
            Key=self._task_key(task),
            UpdateExpression="SET listed_at = if_not_exists(listed_at, :now), last_listed = :day",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": value(now_ms), ":day": value(day.isoformat())},
        )

    def close(self, task: CallTask, reason: str, now_ms: int, status: str = "done") -> bool:
        """Done (followed up) or expired (off the lists unanswered): off the lists for good (out of
        the index). False when it was closed before (a re-run): the report counts a task once."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._task_key(task),
                UpdateExpression="SET #s = :done, done_reason = :r, done_at = :now REMOVE task_day",
                ConditionExpression="attribute_exists(pk) AND #s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":done": value(status), ":r": value(reason), ":now": value(now_ms),
                                           ":open": value("open")},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- once per owner and day -----------------------------------------------------------------

    def _list_key(self, day: date, owner_key: str) -> dict[str, Any]:
        return {"pk": {"S": f"CALLLIST#{day.isoformat()}"}, "sk": {"S": f"OWNER#{owner_key}"}}

    def claim(self, day: date, owner_key: str, list_id: str, count: int, now_ms: int) -> bool:
        """True when this run is to mail the list (nobody sent it, and no live claim on it)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._list_key(day, owner_key),
                UpdateExpression="SET #s = :claimed, claimed_at = :now, list_id = :id, entries = :n, "
                "expires_at = :exp",
                ConditionExpression="attribute_not_exists(pk) OR (#s = :claimed AND claimed_at < :stale)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":claimed": value("claimed"), ":now": value(now_ms), ":id": value(list_id),
                                           ":n": value(count), ":stale": value(now_ms - STALE_CLAIM_MS),
                                           ":exp": value(now_ms // 1000 + CLAIM_TTL_DAYS * 86_400)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_sent(self, day: date, owner_key: str, provider_id: str, now_ms: int) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._list_key(day, owner_key),
            UpdateExpression="SET #s = :sent, sent_at = :now, ses_message_id = :mid",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":sent": value("sent"), ":now": value(now_ms), ":mid": value(provider_id)},
        )

    def day_lists(self, day: date) -> list[dict[str, Any]]:
        """What was mailed for a day (one item per owner)."""
        return [deserialize(i) for i in self.store.query_items(f"CALLLIST#{day.isoformat()}", "OWNER#")]
