"""Store.batch_get: keys DynamoDB leaves unprocessed are asked again, after a backoff."""

from __future__ import annotations

from typing import Any

import pytest

from reawake.core import store as store_module
from reawake.core.store import Store


class ThrottledClient:
    """Answers the first request with half its keys unprocessed (as a throttled table does)."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = RequestItems["t"]["Keys"]
        self.requests.append(keys)
        if len(self.requests) == 1:
            done, left = keys[: len(keys) // 2], keys[len(keys) // 2 :]
            return {"Responses": {"t": done}, "UnprocessedKeys": {"t": {"Keys": left, "ConsistentRead": True}}}
        return {"Responses": {"t": keys}, "UnprocessedKeys": {}}


def test_unprocessed_keys_are_read_after_a_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(store_module.time, "sleep", waits.append)
    client = ThrottledClient()
    keys = [(f"LEAD#{i}", "PROFILE") for i in range(10)]

    found = Store("t", client).batch_get(keys)  # type: ignore[arg-type]

    assert sorted(item["pk"]["S"] for item in found) == sorted(pk for pk, _ in keys)  # every item, once
    assert [len(r) for r in client.requests] == [10, 5]  # the second request asks only what was left
    assert len(waits) == 1 and 0 <= waits[0] <= 1.0  # one backoff before it, none before the first
