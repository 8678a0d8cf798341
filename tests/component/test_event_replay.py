"""Replays across identity stitching: an event id is stored once in the table, whoever it is
attributed to (issue 9, "counting twice"). Through the real track handler, on moto."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import boto3

from reawake.core.store import Store
from tests.conftest import SITE

Api = Callable[..., tuple[int, dict[str, str], bytes]]
EMAIL = "replay.taro@example.co.jp"


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def view(event_id: str, visitor: str) -> dict[str, Any]:
    return {"id": event_id, "type": "page_view", "ts": int(time.time() * 1000), "visitor_id": visitor,
            "url": f"{SITE}/product/"}


def items_with_event(event_id: str) -> list[str]:
    """The pk of every stored event item with this id, anywhere in the table."""
    found = []
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"]):
        found += [i["pk"]["S"] for i in page["Items"] if i["sk"]["S"] == f"EV#{event_id}"]
    return found


def page_views_counted(lead_id: str) -> int:
    lead = store().get_lead(lead_id)
    assert lead is not None
    return sum(count for key, count in lead.days.items() if key.startswith("page_view#"))


def identify(api: Api, visitor: str) -> str:
    status, _, body = api("POST", "/v1/identify", {"visitor_id": visitor, "email": EMAIL})
    assert status == 200, body
    lead_id = store().lead_id_of(EMAIL)
    assert lead_id
    return lead_id


def test_an_event_resent_after_identify_is_stored_and_counted_once(api: Api) -> None:
    first = view("replay-0001", "visitor-a")
    assert json.loads(api("POST", "/v1/events", [first])[2]) == {"accepted": 1, "duplicates": 0}
    lead_id = identify(api, "visitor-a")
    assert page_views_counted(lead_id) == 1, "the anonymous view was folded into the lead"
    # The beacon is retried (the browser did not see the answer): same id, now attributed to the lead.
    status, _, body = api("POST", "/v1/events", [first])
    assert (status, json.loads(body)) == (202, {"accepted": 0, "duplicates": 1})
    assert items_with_event("replay-0001") == ["VISITOR#visitor-a"]
    assert page_views_counted(lead_id) == 1
    # Positive control: a new id after identify is stored under the lead and counted.
    api("POST", "/v1/events", [view("replay-0002", "visitor-a")])
    assert items_with_event("replay-0002") == [f"LEAD#{lead_id}"]
    assert page_views_counted(lead_id) == 2


def test_the_same_event_id_from_a_second_visitor_is_stored_once(api: Api) -> None:
    assert json.loads(api("POST", "/v1/events", [view("replay-0003", "visitor-a")])[2])["accepted"] == 1
    _, _, body = api("POST", "/v1/events", [view("replay-0003", "visitor-b")])
    assert json.loads(body) == {"accepted": 0, "duplicates": 1}
    assert items_with_event("replay-0003") == ["VISITOR#visitor-a"]
    assert store().visitor_events("visitor-b") == []


def test_a_replayed_batch_over_one_transaction_is_stored_once(api: Api) -> None:
    """50 events are two transactions (each event is two items: the event and its id claim)."""
    identify(api, "visitor-c")
    batch = [view(f"replay-b{n:04d}", "visitor-c") for n in range(50)]
    assert json.loads(api("POST", "/v1/events", batch)[2]) == {"accepted": 50, "duplicates": 0}
    assert json.loads(api("POST", "/v1/events", batch)[2]) == {"accepted": 0, "duplicates": 50}
    assert page_views_counted(store().lead_id_of(EMAIL) or "") == 50
