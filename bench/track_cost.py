"""Per-event cost of the track handler vs. the same DynamoDB calls made raw, and writes per event.

Both sides run against the same in-process emulator in the same run, interleaved, so the ratio
isolates what the handler adds (API Gateway event parsing, validation, aggregation, serialization).
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import SITE, emulated_stack, median, report, track_caller

ROUNDS = 300


def _event(n: int, visitor: str) -> dict[str, Any]:
    return {
        "id": f"bench-{n:010d}",
        "type": "page_view",
        "ts": int(time.time() * 1000),
        "visitor_id": visitor,
        "url": f"{SITE}/seminar/2026/tokyo",
        "props": {"topic": "dx"},
    }


class CallCounter:
    """Counts DynamoDB requests and the items they write, through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.calls: dict[str, int] = {}
        self.items_written = 0
        for op in ("GetItem", "PutItem", "UpdateItem", "TransactWriteItems", "Query"):
            client.meta.events.register(f"provide-client-params.dynamodb.{op}", self._count(op))

    def _count(self, op: str) -> Any:
        def hook(params: dict[str, Any], **_: Any) -> None:
            self.calls[op] = self.calls.get(op, 0) + 1
            if op == "TransactWriteItems":
                self.items_written += len(params["TransactItems"])
            elif op in ("PutItem", "UpdateItem"):
                self.items_written += 1

        return hook

    def reset(self) -> None:
        self.calls.clear()
        self.items_written = 0


def run() -> dict[str, float]:
    with emulated_stack():
        from reawake.core import aws
        from reawake.core.dynamo import serialize
        from reawake.core.store import Store

        call = track_caller()
        client = aws.client("dynamodb")
        table = Store(__import__("os").environ["TABLE_NAME"]).table_name
        assert call("POST", "/v1/identify", {"visitor_id": "bench-visitor", "email": "bench@example.co.jp"})[0] == 200
        counter = CallCounter(client)

        # Writes per event, as the handler issues them.
        call("POST", "/v1/events", {"events": [_event(0, "bench-visitor")]})
        single_calls = dict(counter.calls)
        single_items = counter.items_written
        counter.reset()
        call("POST", "/v1/events", {"events": [_event(i, "bench-visitor") for i in range(1, 11)]})
        batch_items = counter.items_written
        counter.reset()

        # The same calls, raw: link lookup, lead lookup, one transaction (id claim + event put + lead put).
        lead_item = client.get_item(TableName=table, Key={"pk": {"S": "VISITOR#bench-visitor"}, "sk": {"S": "LINK"}})
        lead_pk = "LEAD#" + lead_item["Item"]["lead_id"]["S"]
        profile = client.get_item(TableName=table, Key={"pk": {"S": lead_pk}, "sk": {"S": "PROFILE"}})["Item"]

        def raw(n: int) -> None:
            client.get_item(
                TableName=table, Key={"pk": {"S": "VISITOR#bench-visitor"}, "sk": {"S": "LINK"}}, ConsistentRead=True
            )
            client.get_item(TableName=table, Key={"pk": {"S": lead_pk}, "sk": {"S": "PROFILE"}}, ConsistentRead=True)
            item = serialize({"pk": lead_pk, "sk": f"EV#raw-{n}", **_event(n, "bench-visitor")})
            claim = serialize({"pk": f"EVENT#raw-{n}", "sk": "CLAIM", "expires_at": 0})
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": claim, "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Put": {"TableName": table, "Item": profile}},
                ]
            )

        handler_times: list[float] = []
        raw_times: list[float] = []
        for n in range(100, 100 + ROUNDS):
            start = time.perf_counter()
            status, _ = call("POST", "/v1/events", {"events": [_event(n, "bench-visitor")]})
            handler_times.append(time.perf_counter() - start)
            assert status == 202
            start = time.perf_counter()
            raw(n)
            raw_times.append(time.perf_counter() - start)

    handler_ms = median(handler_times) * 1000
    raw_ms = median(raw_times) * 1000
    ratio = handler_ms / raw_ms
    report(
        "Track handler: per-event cost vs. the same raw DynamoDB calls (in-process emulator)",
        [
            ("rounds", f"{ROUNDS} single-event requests, interleaved with the raw calls"),
            ("calls per single-event request", ", ".join(f"{k} {v}" for k, v in sorted(single_calls.items()))),
            ("handler, median per event", f"{handler_ms:.2f} ms"),
            ("raw calls, median", f"{raw_ms:.2f} ms"),
            ("ratio (goal <= 1.3)", f"{ratio:.2f}"),
        ],
    )
    report(
        "DynamoDB writes per event",
        [
            ("one event", f"{single_items} items ({single_items:.1f} per event)"),
            ("10-event beacon batch", f"{batch_items} items ({batch_items / 10:.1f} per event: the event, its id"
                                      " claim, a share of the lead; goal <= 2.2)"),
            (
                "WCU (<=1 KB items)",
                f"transactional writes cost 2 WCU per item, the lead's index entry 1 more: "
                f"{(2 * batch_items + 1) / 10:.1f} WCU per event in a 10-event batch, "
                f"{2 * single_items + 1} for a lone event",
            ),
        ],
    )
    return {"ratio": ratio, "single_writes": single_items, "batch_writes_per_event": batch_items / 10}


if __name__ == "__main__":
    run()
