"""The emulator's index queries (reawake_tools.local.index_query) answer as moto's own Query does,
page by page, for every index the app queries, over a table changed by writes of every kind in
between: puts that add, remove or move an index key, updates of an index's hash or range key,
deletes, transactions (ours and moto's, a cancelled one included), batch writes and a restore of
saved state. And a write landing during a query does not break it."""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import random
import threading
from typing import Any

import boto3
import pytest

from reawake_tools.local import fast_scan, index_query, moto_patches, state

SHARDS = ["00", "01", "02"]
SEQUENCES = ["welcome", "webinar"]
DAYS = ["2026-11-24", "2026-11-25"]
LEADS = [f"lead{i:03d}" for i in range(60)]


def table() -> str:
    return os.environ["TABLE_NAME"]


def enrollment(rng: random.Random, lead: str, sequence: str) -> dict[str, Any]:
    """An active enrollment (in ``due`` and ``sequence_due``), or a finished one (in neither)."""
    item = {"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": f"ENROLL#{sequence}"}, "next_step": {"N": str(rng.randint(0, 3))},
            "enrolled_at": {"N": "1"}}
    if rng.random() < 0.8:
        shard = rng.choice(SHARDS)
        item |= {"due_shard": {"S": shard}, "sequence_shard": {"S": f"{sequence}#{shard}"},
                 "due_at": {"N": str(rng.randint(1, 40) * 1000)}}  # equal due times: order by table key
    return item


def task(rng: random.Random, lead: str) -> dict[str, Any]:
    item = {"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": f"TASK#{rng.randint(0, 2)}"}, "owner": {"S": "sato"}}
    if rng.random() < 0.8:
        item |= {"task_day": {"S": rng.choice(DAYS)}, "task_due": {"N": str(rng.randint(1, 20))}}
    return item


def profile(rng: random.Random, lead: str) -> dict[str, Any]:
    item = {"pk": {"S": f"LEAD#{lead}"}, "sk": {"S": "PROFILE"}, "email": {"S": f"{lead}@example.jp"},
            "note": {"S": "あ" * rng.randint(1, 50)}}
    if rng.random() < 0.9:
        item["lead_key"] = {"S": lead}
    return item


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def writes(rng: random.Random, rounds: int) -> None:
    """``rounds`` writes of every kind, chosen at random."""
    client = boto3.client("dynamodb")
    for _ in range(rounds):
        lead, sequence = rng.choice(LEADS), rng.choice(SEQUENCES)
        kind = rng.randrange(10)
        if kind == 0:
            client.put_item(TableName=table(), Item=task(rng, lead))
        elif kind == 1:
            client.put_item(TableName=table(), Item=profile(rng, lead))
        elif kind == 2:  # move the hash key of both step-mail indexes
            shard = rng.choice(SHARDS)
            client.update_item(TableName=table(), Key=key_of(enrollment(rng, lead, sequence)),
                               UpdateExpression="SET due_shard = :s, sequence_shard = :q, due_at = :t",
                               ExpressionAttributeValues={":s": {"S": shard}, ":q": {"S": f"{sequence}#{shard}"},
                                                          ":t": {"N": str(rng.randint(1, 40) * 1000)}})
        elif kind == 3:  # move the range key only, of an item that exists (a refused write changes nothing)
            with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
                client.update_item(TableName=table(), Key=key_of(enrollment(rng, lead, sequence)),
                                   UpdateExpression="SET due_at = :t, next_step = if_not_exists(next_step, :one)",
                                   ExpressionAttributeValues={":t": {"N": str(rng.randint(1, 40) * 1000)},
                                                              ":one": {"N": "1"}},
                                   ConditionExpression="attribute_exists(pk)")
        elif kind == 4:  # leave the indexes (the end of a sequence)
            client.update_item(TableName=table(), Key=key_of(enrollment(rng, lead, sequence)),
                               UpdateExpression="REMOVE due_shard, sequence_shard, due_at")
        elif kind == 5:
            client.delete_item(TableName=table(), Key=key_of(rng.choice([enrollment(rng, lead, sequence),
                                                                          task(rng, lead), profile(rng, lead)])))
        elif kind == 6:  # a transaction of a put, an update and a delete
            other = rng.choice([s for s in SEQUENCES if s != sequence])
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table(), "Item": enrollment(rng, lead, sequence)}},
                {"Update": {"TableName": table(), "Key": key_of(task(rng, lead)),
                            "UpdateExpression": "SET task_day = :d, task_due = :t",
                            "ExpressionAttributeValues": {":d": {"S": rng.choice(DAYS)}, ":t": {"N": "5"}}}},
                {"Delete": {"TableName": table(), "Key": key_of(enrollment(rng, lead, other))}},
            ])
        elif kind == 7:  # a cancelled transaction: nothing of it written
            with pytest.raises(client.exceptions.TransactionCanceledException):
                client.transact_write_items(TransactItems=[
                    {"Put": {"TableName": table(), "Item": enrollment(rng, lead, sequence)}},
                    {"ConditionCheck": {"TableName": table(), "Key": {"pk": {"S": "NONE"}, "sk": {"S": "NONE"}},
                                        "ConditionExpression": "attribute_exists(pk)"}},
                ])
        elif kind == 8:
            requests = [{"PutRequest": {"Item": enrollment(rng, rng.choice(LEADS), s)}} for s in SEQUENCES]
            requests.append({"DeleteRequest": {"Key": key_of(profile(rng, rng.choice(LEADS)))}})
            client.batch_write_item(RequestItems={table(): requests})
        else:
            client.put_item(TableName=table(), Item=enrollment(rng, lead, sequence))


def queries() -> list[dict[str, Any]]:
    """The app's index queries (stepmail.store, calllists.store) and their variants."""
    out: list[dict[str, Any]] = []
    for shard in SHARDS:
        for index, attr, value in (("due", "due_shard", shard), ("sequence_due", "sequence_shard", f"welcome#{shard}")):
            for condition, values in ((f"{attr} = :s", {}), (f"{attr} = :s AND due_at <= :t", {":t": {"N": "20000"}}),
                                      (f"{attr} = :s AND due_at BETWEEN :a AND :b",
                                       {":a": {"N": "5000"}, ":b": {"N": "30000"}})):
                for limit in (None, 1, 4):
                    for forward in (True, False):
                        request = {"IndexName": index, "KeyConditionExpression": condition,
                                   "ExpressionAttributeValues": {":s": {"S": value}, **values},
                                   "ScanIndexForward": forward}
                        if limit:
                            request["Limit"] = limit
                        out.append(request)
        out.append({"IndexName": "due", "KeyConditionExpression": "due_shard = :s",
                    "FilterExpression": "next_step >= :n", "ProjectionExpression": "pk, sk, due_at, next_step",
                    "ExpressionAttributeValues": {":s": {"S": shard}, ":n": {"N": "2"}}, "Limit": 3})
    for day in DAYS:
        for limit in (None, 2):
            request = {"IndexName": "tasks", "KeyConditionExpression": "task_day = :d AND task_due <= :u",
                       "ExpressionAttributeValues": {":d": {"S": day}, ":u": {"N": "15"}}}
            out.append(request | ({"Limit": limit} if limit else {}))
    for lead in LEADS[:5]:
        for index in ("leads", "lead_facts"):
            out.append({"IndexName": index, "KeyConditionExpression": "lead_key = :k",
                        "ExpressionAttributeValues": {":k": {"S": lead}}})
    out.append({"IndexName": "due", "KeyConditionExpression": "due_shard = :s", "Select": "COUNT",
                "ExpressionAttributeValues": {":s": {"S": "00"}}})
    return out


def pages(request: dict[str, Any]) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    request = dict(request)
    out = []
    while True:
        page = client.query(TableName=table(), **request)
        page.pop("ResponseMetadata", None)
        out.append(page)
        if "LastEvaluatedKey" not in page:
            return out
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_same_answers() -> None:
    served = index_query.stats.served
    for request in queries():
        ours = pages(request)
        with moto_patches.stock():
            stock = pages(request)
        assert ours == stock, request
    assert index_query.stats.served > served, "the patched path answered (positive control)"


def test_index_queries_answer_as_motos_own_page_by_page(aws: Any) -> None:
    rng = random.Random(7)
    writes(rng, 300)
    found = sum(len(p.get("Items", [])) for p in pages(queries()[0]))
    assert found > 5, "the queries have answers to compare (positive control)"
    assert_same_answers()
    writes(rng, 300)
    with moto_patches.stock():  # moto's own transactions (a cancelled one swaps a copied table in)
        writes(rng, 100)
    assert_same_answers()
    moto = state.moto_table(table())
    moto.items = pickle.loads(pickle.dumps(moto.items))  # noqa: S301 - what state.restore does
    writes(rng, 100)
    assert_same_answers()


def test_index_scans_list_what_motos_own_scan_does(aws: Any) -> None:
    rng = random.Random(11)
    writes(rng, 400)
    client = boto3.client("dynamodb")
    served = fast_scan.stats.pages
    for index in ("leads", "lead_facts"):
        for segment in range(3):
            ours = client.scan(TableName=table(), IndexName=index, Segment=segment, TotalSegments=3)["Items"]
            with moto_patches.stock():
                stock = client.scan(TableName=table(), IndexName=index, Segment=segment, TotalSegments=3)["Items"]
            assert sorted(ours, key=str) == sorted(stock, key=str) and len(ours) > 0, (index, segment)
    assert fast_scan.stats.pages > served, "the fast scan answered (positive control)"


def test_a_write_during_a_query_breaks_nothing(aws: Any) -> None:
    rng = random.Random(3)
    writes(rng, 200)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            mover = random.Random(5)
            while not stop.is_set():
                writes(mover, 20)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        client = boto3.client("dynamodb")
        for _ in range(40):
            for shard in SHARDS:
                items = client.query(TableName=table(), IndexName="due", KeyConditionExpression="due_shard = :s",
                                     ExpressionAttributeValues={":s": {"S": shard}})["Items"]
                assert all(i["due_shard"]["S"] == shard for i in items)
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    assert_same_answers()  # and the sets still hold what the table does


def test_moto_internals_the_patch_rests_on() -> None:
    """Fails loudly when a moto upgrade moves what index_query and _fast_query depend on."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    moto_patches.apply()
    query = moto_patches._stock["query"]
    names = list(inspect.signature(query).parameters)
    assert names[:9] == ["self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key",
                         "scan_index_forward", "projection_expressions", "index_name"]
    assert "hash_key_conditions" in names and "self.all_items()" in inspect.getsource(query)
    assert list(inspect.signature(index_query.original("delete_item")).parameters) == [
        "self", "hash_key", "range_key"]
    assert list(inspect.signature(index_query.original("put_item")).parameters)[:2] == ["self", "item_attrs"]
    assert list(inspect.signature(index_query.original("update_item")).parameters)[:3] == [
        "self", "table_name", "key"]
    # Every write of moto's goes through the three (the stored dict is written nowhere else).
    for owner in (Table, DynamoDBBackend):
        for name, method in inspect.getmembers(owner, inspect.isfunction):
            if name in {"put_item", "delete_item", "update_item", "__init__", "_reawake_put"}:
                continue
            source = inspect.getsource(method)
            assert ".items[hash_value]" not in source and ".items.pop(" not in source, name
