"""The local stack's Scan (reawake_tools.local.fast_scan) answers as moto's own Scan does: the same items
in each parallel-scan segment, the same projections, every item once across pages, and items
written during a scan never returned twice."""

from __future__ import annotations

import os
from typing import Any

import boto3

from reawake.core.dynamo import projection_expression
from reawake_tools.local import fast_scan

PATHS = [("lead_id",), ("email",), ("last", "page_view"), ("last", "purchase@site:https://x.jp"), ("days", "nope")]


def put_leads(count: int, big: int = 0) -> None:
    """``count`` lead profiles (in the ``leads`` index) with events beside them (not in it)."""
    client = boto3.client("dynamodb")
    for i in range(count):
        lead_id = f"lead{i:04d}"
        last = {"page_view": {"N": str(i)}, **({"purchase@site:https://x.jp": {"N": "7"}} if i % 3 == 0 else {})}
        item = {"pk": {"S": f"LEAD#{lead_id}"}, "sk": {"S": "PROFILE"}, "lead_key": {"S": lead_id},
                "lead_id": {"S": lead_id}, "email": {"S": f"{lead_id}@example.jp"}, "last": {"M": last},
                "note": {"S": "あ" * (big if i % 2 else 10)}}
        client.put_item(TableName=os.environ["TABLE_NAME"], Item=item)
        client.put_item(TableName=os.environ["TABLE_NAME"],
                        Item={"pk": {"S": f"LEAD#{lead_id}"}, "sk": {"S": "EV#1"}, "kind": {"S": "page_view"}})


def scan_all(**request: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a scan, following LastEvaluatedKey; and the number of pages."""
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = client.scan(TableName=os.environ["TABLE_NAME"], **request)
        pages += 1
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items, pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def key(item: dict[str, Any]) -> str:
    return str(item["pk"]["S"]) + "|" + str(item.get("sk", {}).get("S"))


def test_segments_and_projection_match_motos_own_scan(aws: Any) -> None:
    put_leads(120)
    expression, names = projection_expression(PATHS)
    served_before = fast_scan.stats.pages
    union: list[str] = []
    for segment in range(4):
        fast, _ = scan_all(IndexName="leads", Segment=segment, TotalSegments=4)
        # Select makes the request one the fast path leaves to moto (the reference).
        stock, _ = scan_all(IndexName="leads", Segment=segment, TotalSegments=4, Select="ALL_ATTRIBUTES")
        assert sorted(fast, key=key) == sorted(stock, key=key)
        projected, _ = scan_all(IndexName="leads", Segment=segment, TotalSegments=4, ProjectionExpression=expression,
                                ExpressionAttributeNames=names)
        stock_projected, _ = scan_all(IndexName="leads", Segment=segment, TotalSegments=4,
                                      ProjectionExpression=expression, ExpressionAttributeNames=names,
                                      Select="SPECIFIC_ATTRIBUTES")
        assert sorted(projected, key=lambda i: i["lead_id"]["S"]) == sorted(
            stock_projected, key=lambda i: i["lead_id"]["S"])
        union += [key(i) for i in fast]
    assert sorted(union) == sorted(f"LEAD#lead{i:04d}|PROFILE" for i in range(120)), "each lead once, no event"
    assert fast_scan.stats.pages > served_before, "the fast path served the plain scans (positive control)"
    sample = next(i for i in projected if "purchase@site:https://x.jp" in i.get("last", {}).get("M", {}))
    assert set(sample) == {"lead_id", "email", "last"} and set(sample["last"]["M"]) == {
        "page_view", "purchase@site:https://x.jp"}


def test_pages_hold_at_most_a_megabyte_and_writes_between_pages_return_nothing_twice(aws: Any) -> None:
    put_leads(60, big=30_000)  # 30 of ~90 KB: at least three pages
    client = boto3.client("dynamodb")
    first = client.scan(TableName=os.environ["TABLE_NAME"], IndexName="leads")
    assert "LastEvaluatedKey" in first and 0 < len(first["Items"]) < 60
    seen = [key(i) for i in first["Items"]]
    # Between pages: a lead already returned is rewritten, one not yet returned is deleted, one added.
    client.put_item(TableName=os.environ["TABLE_NAME"], Item={**first["Items"][0], "note": {"S": "rewritten"}})
    later = sorted(f"LEAD#lead{i:04d}" for i in range(60) if f"LEAD#lead{i:04d}|PROFILE" not in seen)[-1]
    client.delete_item(TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": later}, "sk": {"S": "PROFILE"}})
    rest, pages = scan_all(IndexName="leads", ExclusiveStartKey=first["LastEvaluatedKey"])
    seen += [key(i) for i in rest]
    assert pages >= 2
    assert len(seen) == len(set(seen)), "no item twice"
    assert f"{later}|PROFILE" not in seen
    assert len(seen) == 59


def test_what_the_fast_path_does_not_serve_is_motos_answer(aws: Any) -> None:
    put_leads(10)
    served = fast_scan.stats.pages
    items, _ = scan_all(IndexName="leads", Limit=3)
    assert len(items) == 10
    counted = boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"], Select="COUNT")["Count"]
    assert counted == 20
    assert fast_scan.stats.pages == served


def test_an_include_index_holds_its_attributes_only_and_pages_by_their_size(aws: Any) -> None:
    put_leads(60, big=30_000)  # ``note`` is not in lead_facts: its items stay small
    expression, names = projection_expression(PATHS)
    facts, facts_pages = scan_all(IndexName="lead_facts")
    whole, whole_pages = scan_all(IndexName="leads")
    stock, _ = scan_all(IndexName="lead_facts", Select="ALL_PROJECTED_ATTRIBUTES")  # moto's own path

    assert sorted(facts, key=key) == sorted(stock, key=key)
    assert len(facts) == len(whole) == 60 and all("note" not in i and "last" in i for i in facts)
    assert (facts_pages, whole_pages) == (1, 3), "pages fill with index items, not whole items"
    projected, _ = scan_all(IndexName="lead_facts", ProjectionExpression=expression, ExpressionAttributeNames=names)
    assert sorted(projected, key=lambda i: i["lead_id"]["S"]) == sorted(
        scan_all(IndexName="lead_facts", ProjectionExpression=expression, ExpressionAttributeNames=names,
                 Select="SPECIFIC_ATTRIBUTES")[0], key=lambda i: i["lead_id"]["S"])
