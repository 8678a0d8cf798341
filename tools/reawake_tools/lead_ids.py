"""`reawake migrate lead-ids`: leads whose id is the old unsalted hash of their email get a random id.

Per lead, with the table live (tracking keeps working throughout):
1. the email -> lead item is written for the old id (unless it exists), so lookups agree;
2. every item of ``LEAD#<old>`` but the profile is copied to ``LEAD#<new>`` (attribute values equal
   to the old id become the new one; copied events are marked ``moved_from`` so that the revisit
   alert, which listens for new events, ignores them);
3. one transaction switches: the profile is put under the new id, deleted under the old one on
   condition that its version did not change (an event recorded meanwhile: copy again and retry),
   the email item is pointed at the new id, and ``LEAD#<old> / MOVED`` is left behind;
4. the browsers linked to the lead are relinked, and what is left under the old id is copied
   (written between 2 and 3) and deleted.

``LEAD#<old> / MOVED`` stays: links in mail sent before carry the old id in their signed tokens,
and ``Store.get_lead`` follows it, so a click, an open or an unsubscribe from an old mail still
lands on the lead. Re-running finishes a lead left half-moved (4) and changes nothing else.
Message ids (``sequence:step:<lead id>:...``) keep the old id: they name mail already sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reawake.core.leads import Lead, legacy_lead_id, new_lead_id
from reawake.core.store import EMAIL_SK, MOVED, PROFILE, Store, email_pk, lead_pk, visitor_pk

MAX_ATTEMPTS = 8
WORKERS = 8
CHUNK = 100  # leads in flight per round


@dataclass
class Migration:
    moved: int = 0  # given a random id now
    finished: int = 0  # moved by an earlier, interrupted run; its leftovers moved now
    unchanged: int = 0  # already had a random id
    conflicts: int = 0  # the email item names another lead: left alone, to look at

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def migrate(store: Store, progress: Callable[[Migration], None] | None = None) -> Migration:
    """Give every lead still carrying an email-derived id a random one (idempotent)."""
    report = Migration()
    leads = store.scan_leads()
    with ThreadPoolExecutor(WORKERS) as pool:
        while chunk := [lead for _, lead in zip(range(CHUNK), leads, strict=False)]:
            for outcome in pool.map(lambda lead: migrate_lead(store, lead), chunk):
                report.add(outcome)
            if progress:
                progress(report)
    return report


def migrate_lead(store: Store, lead: Lead) -> str:
    legacy = legacy_lead_id(lead.email)
    if lead.lead_id != legacy:
        return "finished" if _finish(store, legacy, lead.lead_id) else "unchanged"
    new = _switch(store, lead)
    if new is None:
        return "conflicts"
    _finish(store, legacy, new)
    return "moved"


def _switch(store: Store, lead: Lead) -> str | None:
    old, client, table = lead.lead_id, store.client, store.table_name
    try:
        client.put_item(TableName=table, Item={"pk": {"S": email_pk(lead.email)}, "sk": {"S": EMAIL_SK},
                                               "lead_id": {"S": old}},
                        ConditionExpression="attribute_not_exists(pk) OR lead_id = :old",
                        ExpressionAttributeValues={":old": {"S": old}})
    except client.exceptions.ConditionalCheckFailedException:
        return None
    new = new_lead_id()
    for _ in range(MAX_ATTEMPTS):
        items = list(store.query_items(lead_pk(old), ""))
        profile = next((i for i in items if i["sk"]["S"] == PROFILE), None)
        if profile is None:  # moved by a run alongside this one
            moved = next((i for i in items if i["sk"]["S"] == MOVED), None)
            return str(moved["lead_id"]["S"]) if moved else None
        _put_all(store, (_rewritten(i, old, new) for i in items if i["sk"]["S"] not in (PROFILE, MOVED)))
        try:
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": _rewritten(profile, old, new),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Delete": {"TableName": table, "Key": {"pk": profile["pk"], "sk": profile["sk"]},
                            "ConditionExpression": "version = :v",
                            "ExpressionAttributeValues": {":v": profile["version"]}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": email_pk(lead.email)}, "sk": {"S": EMAIL_SK},
                                                      "lead_id": {"S": new}},
                         "ConditionExpression": "lead_id = :old", "ExpressionAttributeValues": {":old": {"S": old}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": lead_pk(old)}, "sk": {"S": MOVED},
                                                      "lead_id": {"S": new}}}},
            ])
        except client.exceptions.TransactionCanceledException:
            continue  # the lead changed while its items were copied: copy what is new, try again
        return new
    raise RuntimeError(f"lead {old} kept changing; run the migration again")


def _finish(store: Store, old: str, new: str) -> bool:
    """Move what is still under the old id and relink its browsers; False when there was nothing."""
    leftovers = [i for i in store.query_items(lead_pk(old), "") if i["sk"]["S"] not in (MOVED, PROFILE)]
    if not leftovers:
        return False
    _put_all(store, (_rewritten(i, old, new) for i in leftovers))
    for visitor in store.lead_visitors(new):
        # Fails when relinked before, or linked to another lead since: both fine.
        with contextlib.suppress(store.client.exceptions.ConditionalCheckFailedException):
            store.client.update_item(
                TableName=store.table_name, Key={"pk": {"S": visitor_pk(visitor)}, "sk": {"S": "LINK"}},
                UpdateExpression="SET lead_id = :new", ConditionExpression="lead_id = :old",
                ExpressionAttributeValues={":new": {"S": new}, ":old": {"S": old}},
            )
    _write_all(store, [{"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in leftovers])
    return True


def _rewritten(item: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The item under the new id: its pk, and every attribute value that is exactly the old id."""

    def swap(value: dict[str, Any]) -> dict[str, Any]:
        if value.get("S") == old:
            return {"S": new}
        if "M" in value:
            return {"M": {k: swap(v) for k, v in value["M"].items()}}
        if "L" in value:
            return {"L": [swap(v) for v in value["L"]]}
        return value

    copy = {k: swap(v) for k, v in item.items()}
    copy["pk"] = {"S": lead_pk(new)}
    if copy["sk"]["S"].startswith("EV#"):
        copy["moved_from"] = {"S": old}
    return copy


def _put_all(store: Store, items: Iterable[dict[str, Any]]) -> None:
    _write_all(store, [{"PutRequest": {"Item": i}} for i in items])


def _write_all(store: Store, requests: list[dict[str, Any]]) -> None:
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {store.table_name: requests[start : start + 25]}
        while pending:
            pending = dict(store.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {})
