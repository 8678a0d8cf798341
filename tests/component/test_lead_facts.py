"""Tracking's write keeps what a segment run scans the same size whatever a lead's history: topics,
page paths and campaigns go to the profile's ``last_tail``, day buckets stay in ``days``, and the
run's ``lead_facts`` index holds neither; a rule that reads them scans the whole profiles instead."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

from reawake.core.store import Store
from reawake.segments.reads import FACTS_INDEX
from reawake.segments.rules.model import SegmentDefinition
from reawake.segments.run import run_shard
from tests.conftest import SITE
from tests.datagen import TOKYO


def post_views(api: Any, first: int, count: int, now: int) -> None:
    events = [{"id": f"view{n:06d}", "type": "page_view", "ts": now - n, "visitor_id": "visitor-0001",
               "url": f"{SITE}/seminar/s{n}/page?utm_campaign=c{n}", "props": {"topic": f"t{n % 7}"}}
              for n in range(first, first + count)]
    status, _, _ = api("POST", "/v1/events", events)
    assert status == 202


def facts_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"], IndexName=FACTS_INDEX)["Items"]


def definition(id_: str, rule: dict[str, Any]) -> SegmentDefinition:
    return SegmentDefinition.model_validate({"id": id_, "name": id_, "approach": {"type": "watch"}, "rule": rule})


def test_paths_and_campaigns_are_kept_out_of_the_runs_index(api: Any) -> None:
    now = int(time.time() * 1000)
    status, _, _ = api("POST", "/v1/identify", {"visitor_id": "visitor-0001", "email": "taro@example.co.jp"})
    assert status == 200
    store = Store(os.environ["TABLE_NAME"])
    lead_id = store.lead_id_of("taro@example.co.jp")
    assert lead_id
    post_views(api, 0, 1, now)
    (small,) = facts_items()
    post_views(api, 1, 40, now)  # 40 more paths and campaigns and 6 more topics, the same kind and site
    (after,) = facts_items()

    profile = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"], Key={
        "pk": {"S": f"LEAD#{lead_id}"}, "sk": {"S": "PROFILE"}})["Item"]
    assert len(profile["last_tail"]["M"]) > 80 and "days" in profile, "the profile holds the whole history"
    assert not any("@" in k and "@site:" not in k for k in profile["last"]["M"])
    assert set(after["last"]["M"]) == set(small["last"]["M"]) == {"page_view", f"page_view@site:{SITE}"}
    assert "last_tail" not in after and "days" not in after and "consent" not in after
    assert int(after["version"]["N"]) > int(small["version"]["N"])
    lead = store.get_lead(lead_id)
    assert lead is not None and lead.last["page_view@path:/seminar/s40/"] == now - 40
    assert lead.last["page_view@campaign:c7"] == now - 7 and lead.last["page_view@topic:t3"] == now - 3

    # The run finds the lead both ways: by a site rule from the index, by path, campaign and topic rules
    # from the whole profiles; and not by a path never visited (the negative, with the positives as controls).
    rules = {"site": {"event": "page_view", "site": SITE, "within": "1d"},
             "path": {"event": "page_view", "path": "/seminar/s33/", "within": "1d"},
             "campaign": {"event": "page_view", "campaign": "c40", "ever": True},
             "topic": {"event": "page_view", "topic": "t5", "within": "1d"},
             "other-path": {"event": "page_view", "path": "/other/", "ever": True}}
    for name, rule in rules.items():
        result = run_shard(store, [definition(name, rule)], 0, 1, now, TOKYO)
        assert result.entered[name] == (name != "other-path"), name
