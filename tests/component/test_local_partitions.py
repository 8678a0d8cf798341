"""The local stack's tables stored leaner (reawake_tools.local.partitions): a partition of one item
without a dict, keys shared between an item and its table, and nothing a DynamoDB client sees changed
(GetItem, Query, conditional writes, transactions, stream records, the saved state)."""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.settings import get_settings
from reawake_tools.local import partitions, state


def table() -> Any:
    return state.moto_table(get_settings().table_name)


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def claim(client: Any, event_id: str) -> None:
    client.put_item(TableName=get_settings().table_name, Item={**key(f"EVENT#{event_id}", "CLAIM"), "n": {"N": "1"}},
                    ConditionExpression="attribute_not_exists(pk)")


def stored(pk: str, sk: str) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return table().items[DynamoType({"S": pk})][DynamoType({"S": sk})]


def partition_bytes(items: dict[Any, Any]) -> int:
    """The bytes of a table's storage besides its items: the outer dict and its partitions."""
    return sys.getsizeof(items) + sum(sys.getsizeof(p) for p in items.values())


def test_a_claim_is_stored_without_a_dict_and_answers_as_before(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(200):
        claim(client, f"e{n}")
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        claim(client, "e7")  # a duplicate id is refused, as by DynamoDB
    assert client.get_item(TableName=name, Key=key("EVENT#e7", "CLAIM"))["Item"] == {
        **key("EVENT#e7", "CLAIM"), "n": {"N": "1"}}
    found = client.query(TableName=name, KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": "EVENT#e9"}})["Items"]
    assert [i["pk"]["S"] for i in found] == ["EVENT#e9"]
    lean = partition_bytes(table().items)
    stock: defaultdict[Any, Any] = defaultdict(dict)  # the same items as moto keeps them
    for hash_key, partition in table().items.items():
        for range_key, item in partition.items():
            stock[hash_key][range_key] = item
    assert partition_bytes(stock) > 200 * 200, "positive control: moto's dict per claim"
    assert lean < partition_bytes(stock) * 0.4, (lean, partition_bytes(stock))


def test_a_partition_grows_shrinks_and_is_read_in_key_order(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for sk in ("EV#3", "EV#1", "PROFILE", "EV#2"):
        client.put_item(TableName=name, Item={**key("LEAD#a", sk), "v": {"S": sk}})
    client.delete_item(TableName=name, Key=key("LEAD#a", "EV#2"))
    client.update_item(TableName=name, Key=key("LEAD#a", "EV#1"), UpdateExpression="SET v = :v",
                       ExpressionAttributeValues={":v": {"S": "changed"}})
    found = client.query(TableName=name, KeyConditionExpression="pk = :p AND begins_with(sk, :e)",
                         ExpressionAttributeValues={":p": {"S": "LEAD#a"}, ":e": {"S": "EV#"}})["Items"]
    assert [(i["sk"]["S"], i["v"]["S"]) for i in found] == [("EV#1", "changed"), ("EV#3", "EV#3")]
    client.delete_item(TableName=name, Key=key("LEAD#b", "ONLY"))  # nothing there: nothing happens
    client.put_item(TableName=name, Item={**key("LEAD#b", "ONLY"), "v": {"S": "1"}})
    client.put_item(TableName=name, Item={**key("LEAD#b", "ONLY"), "v": {"S": "2"}})
    client.delete_item(TableName=name, Key=key("LEAD#b", "ONLY"))
    assert "Item" not in client.get_item(TableName=name, Key=key("LEAD#b", "ONLY"))
    client.put_item(TableName=name, Item={**key("LEAD#b", "AGAIN"), "v": {"S": "3"}})
    every = client.scan(TableName=name)["Items"]
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in every) == [
        ("LEAD#a", "EV#1"), ("LEAD#a", "EV#3"), ("LEAD#a", "PROFILE"), ("LEAD#b", "AGAIN")]
    assert len(table()) == 4


def test_a_read_of_a_missing_key_leaves_nothing_behind(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(50):
        assert "Item" not in client.get_item(TableName=name, Key=key(f"EVENT#none{n}", "CLAIM"))
    assert len(table().items) == 0, "moto's defaultdict kept an empty dict per key read"
    claim(client, "x")
    assert len(table().items) == 1  # positive control: a write is kept


def test_items_hold_their_partitions_keys(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(3):
        client.put_item(TableName=name, Item={**key("LEAD#k", f"EV#{n}"), "n": {"N": str(n)}})
        claim(client, f"c{n}")
    client.put_item(TableName=name, Item={**key("LEAD#k", "EV#1"), "n": {"N": "9"}})  # replaced
    events = [stored("LEAD#k", f"EV#{n}") for n in range(3)]
    (table_key,) = [k for k in table().items if k.value == "LEAD#k"]
    assert all(e.hash_key is table_key and e.attrs["pk"] is table_key for e in events), "one hash key object"
    assert len({id(e.range_key) for e in events}) == 3, "positive control: distinct keys stay distinct"
    assert events[1].attrs["n"].value == "9" and events[1].attrs["sk"] is events[1].range_key
    claims = [stored(f"EVENT#c{n}", "CLAIM") for n in range(3)]
    assert len({id(c.range_key) for c in claims}) == 1 and all(c.attrs["sk"] is c.range_key for c in claims)
    assert len({id(c.hash_key) for c in claims}) == 3


def test_a_transaction_and_its_conditions_see_the_lean_partitions(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    claim(client, "t1")

    def put(pk: str, sk: str) -> dict[str, Any]:
        return {"Put": {"TableName": name, "Item": key(pk, sk), "ConditionExpression": "attribute_not_exists(pk)"}}

    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[put("LEAD#t", "EV#t1"), put("EVENT#t1", "CLAIM")])
    assert "Item" not in client.get_item(TableName=name, Key=key("LEAD#t", "EV#t1")), "all or nothing"
    client.transact_write_items(TransactItems=[put("LEAD#t", "EV#t2"), put("EVENT#t2", "CLAIM")])
    assert "Item" in client.get_item(TableName=name, Key=key("EVENT#t2", "CLAIM"))
    assert "Item" in client.get_item(TableName=name, Key=key("LEAD#t", "EV#t2"))


def test_the_stream_carries_each_change_with_its_images(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    claim(client, "s")
    client.put_item(TableName=name, Item={**key("EVENT#s", "CLAIM"), "n": {"N": "2"}})
    client.delete_item(TableName=name, Key=key("EVENT#s", "CLAIM"))
    records = streams.get_records(ShardIterator=iterator)["Records"]
    seen = [(r["eventName"], r["dynamodb"].get("OldImage", {}).get("n"), r["dynamodb"].get("NewImage", {}).get("n"))
            for r in records]
    assert seen == [("INSERT", None, {"N": "1"}), ("MODIFY", {"N": "1"}, {"N": "2"}), ("REMOVE", {"N": "2"}, None)]
    assert all(r["dynamodb"]["Keys"] == key("EVENT#s", "CLAIM") for r in records)


def test_writes_to_one_partition_from_threads_all_land(aws: Any) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        own = boto3.client("dynamodb")
        start.wait()
        for n in range(20):
            own.put_item(TableName=name, Item=key(f"LEAD#{n}", f"EV#{worker}"))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = [client.query(TableName=name, KeyConditionExpression="pk = :p",
                           ExpressionAttributeValues={":p": {"S": f"LEAD#{n}"}})["Count"] for n in range(20)]
    assert counts == [4] * 20


def test_the_saved_state_restores_lean_partitions_with_shared_keys(aws: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "CHUNK_ITEMS", 5)
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(12):
        client.put_item(TableName=name, Item={**key("LEAD#r", f"EV#{n:02d}"), "n": {"N": str(n)}})
        claim(client, f"r{n}")
    path = tmp_path / "stack.pickle"
    state.save(path, 1.0, {"Table": name}, {})
    table().items = partitions.Partitions()
    loaded = state.load(path)
    assert loaded is not None and loaded.counts() == {"Table": 24}
    state.restore(loaded, {"Table": name}, {}, boto3.client)
    assert isinstance(table().items, partitions.Partitions)
    events = [stored("LEAD#r", f"EV#{n:02d}") for n in range(12)]
    assert len({id(e.hash_key) for e in events}) == 1, "a partition's items still share their hash key"
    assert client.query(TableName=name, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "LEAD#r"}})["Count"] == 12
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        claim(client, "r3")
    claim(client, "new")
    assert len(table()) == 25


def test_a_state_saved_with_motos_dicts_is_read_into_partitions(aws: Any, tmp_path: Path) -> None:
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(3):
        client.put_item(TableName=name, Item=key("LEAD#o", f"EV#{n}"))
        claim(client, f"o{n}")
    as_moto_kept: defaultdict[Any, Any] = defaultdict(dict)
    for hash_key, partition in table().items.items():
        as_moto_kept[hash_key].update(partition.items())
    table().items = as_moto_kept
    path = tmp_path / "stack.pickle"
    state.save(path, 1.0, {"Table": name}, {})
    loaded = state.load(path)
    assert loaded is not None
    state.restore(loaded, {"Table": name}, {}, boto3.client)
    assert all(isinstance(p, partitions.Partition) for p in table().items.values())
    assert client.query(TableName=name, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "LEAD#o"}})["Count"] == 3
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        claim(client, "o1")



def test_moto_internals_the_partitions_rely_on() -> None:
    """moto 5.2.5 makes a table's ``defaultdict(dict)`` in ``Table.__init__``, stores an item under its
    own range key (``items[hash][range] = item``) and pops it to delete: if that changes, so must
    partitions.py."""
    import inspect

    from moto.dynamodb.models.table import Table

    from reawake_tools.local import index_query

    partitions.install()
    assert "self.items = defaultdict(dict)" in inspect.getsource(Table.__init__.__wrapped__)
    put = inspect.getsource(index_query.original("put_item"))
    assert "item = Item(hash_value, range_value, item_attrs)" in put
    assert "self.items[hash_value][range_value] = item" in put
    assert "item = self.items[hash_key].pop(range_key)" in inspect.getsource(index_query.original("delete_item"))

