"""The local stack's stream poller drops what it has read, and moto frees what nothing holds
(reawake_tools.local.moto_patches: ``_untracked_models``, ``_atomic_stream_shards``; streams.py's trim),
without a change a stream consumer could see: every change still reaches it, once, in order."""

from __future__ import annotations

import gc
import inspect
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from reawake.core.settings import get_settings
from reawake_tools.local.streams import StreamConsumer, StreamMapping, mappings_of
from reawake_tools.local.template import load_template
from tests.component import test_alert_function as alerts
from tests.component.test_alert_function import env  # noqa: F401  (the alert tests' fixture)


def table() -> Any:
    from reawake_tools.local.state import moto_table

    return moto_table(get_settings().table_name)


def put(pk: str, **more: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "X"}, **{k: {"S": v} for k, v in more.items()}}
    boto3.client("dynamodb").put_item(TableName=get_settings().table_name, Item=item)


def consumer_of_every_record(aws: Any, trim: bool = True) -> tuple[StreamConsumer, StreamMapping, list[str]]:
    """A poller of the table's stream that hands every record (no filter) to a recorder."""
    (mapping,) = mappings_of(load_template(), aws)
    mapping.filters = []
    seen: list[str] = []

    def invoke(_: str, event: Any) -> Any:
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])
        return {"batchItemFailures": []}

    consumer = StreamConsumer([mapping], invoke, boto3.client, trim=trim)
    consumer._open(mapping)
    return consumer, mapping, seen


def drain(consumer: StreamConsumer, mapping: StreamMapping) -> None:
    while consumer.poll(mapping):
        pass


def test_a_write_numbered_while_others_land_and_are_trimmed_is_delivered_once(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cause of the poller falling behind moto's shard start: moto numbered a record from the
    list's length, built it (both images: slow), then appended it. A write paused in between while
    two others landed and were read and trimmed came out with a number before the shard's start,
    and the poller's next iterator (after that number) pointed into the trimmed records (moto's
    ``assert start >= 0``; without trimming, the record after it was delivered twice)."""
    from moto.dynamodb.models import table as moto_table_module

    consumer, mapping, seen = consumer_of_every_record(aws)
    paused, resume = threading.Event(), threading.Event()
    stock_record = moto_table_module.StreamRecord

    class SlowRecord(stock_record):  # type: ignore[misc, valid-type]
        def __init__(self, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
            if new is not None and new.hash_key.value == "slow":
                paused.set()
                resume.wait(10)
            super().__init__(table, stream_type, event_name, old, new, seq)

    monkeypatch.setattr(moto_table_module, "StreamRecord", SlowRecord)
    slow = threading.Thread(target=put, args=("slow",))
    slow.start()
    assert paused.wait(10)

    def others() -> None:
        put("fast-1")
        put("fast-2")
        drain(consumer, mapping)  # read and trimmed while the slow write is being numbered

    fast = threading.Thread(target=others)
    fast.start()
    fast.join(0.5)  # patched, the other writes wait for the slow one; stock moto lets them through
    resume.set()
    slow.join(10)
    fast.join(10)
    drain(consumer, mapping)

    assert sorted(seen) == ["fast-1", "fast-2", "slow"], "every change delivered once"
    shard = table().stream_shard
    assert consumer.trimmed == 3 and shard.items == [], "and the records read were dropped"
    put("after")
    drain(consumer, mapping)
    assert seen[-1] == "after"


def test_every_change_of_concurrent_writers_reaches_the_poller_once_while_records_are_trimmed(aws: Any) -> None:
    consumer, mapping, seen = consumer_of_every_record(aws)
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            while not stop.is_set():
                consumer.poll(mapping)
        except BaseException as exc:
            errors.append(exc)

    def write(writer: int) -> None:
        for number in range(60):
            put(f"w{writer}-{number:02d}", note="書き込み" * 20)

    poller = threading.Thread(target=poll)
    poller.start()
    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    poller.join()
    drain(consumer, mapping)

    assert errors == []
    assert sorted(seen) == sorted(f"w{w}-{n:02d}" for w in range(4) for n in range(60)), "each once"
    for writer in range(4):  # one writer's changes arrive in the order they were made
        mine = [key for key in seen if key.startswith(f"w{writer}-")]
        assert mine == sorted(mine)
    assert consumer.trimmed == 240 and table().stream_shard.items == []


def test_without_trim_the_records_stay(aws: Any) -> None:
    """The positive control: the records dropped above are the poller's doing."""
    consumer, mapping, seen = consumer_of_every_record(aws, trim=False)
    put("kept")
    drain(consumer, mapping)
    assert seen == ["kept"] and consumer.trimmed == 0 and len(table().stream_shard.items) == 1


def test_a_returning_dormant_lead_still_alerts_its_owner_with_trimming(env: Any) -> None:  # noqa: F811
    """The stack's one stream consumer, end to end: a revisit alerts once, and what the poller read
    is gone from moto's shard."""
    app = alerts.load_function("alert")
    (mapping,) = mappings_of(load_template(), env)
    consumer = StreamConsumer([mapping], lambda _, event: app.handler(event, alerts.LambdaContext()), boto3.client,
                              trim=True)
    consumer._open(mapping)
    lead = alerts.dormant_lead("kaeri.tanaka@example.jp", owner="suzuki.misaki@example.co.jp")
    alerts.visit(lead, 2)
    drain(consumer, mapping)

    assert len(alerts.mail_to("suzuki.misaki@example.co.jp")) == 1
    assert consumer.trimmed > 0 and table().stream_shard.items == []
    alerts.visit(lead, 1, prefix="again")
    drain(consumer, mapping)
    assert len(alerts.mail_to("suzuki.misaki@example.co.jp")) == 1, "the same return alerts once"


def test_a_replaced_item_is_freed(aws: Any) -> None:
    """moto's registry of every model instance held every item a write replaced (and every stream
    record and shard iterator): no longer."""
    from moto.dynamodb.models.dynamo_type import Item

    def versions_in_memory() -> list[str]:  # items are slim (no weak references): found by the collector
        gc.collect()
        return [o.attrs["version"].value for o in gc.get_objects()
                if type(o) is Item and o.hash_key.value == "replaced"]

    put("replaced", version="1")
    assert versions_in_memory() == ["1"], "held while it is the table's"
    put("replaced", version="2")
    assert versions_in_memory() == ["2"]


def test_other_models_are_still_registered(aws: Any) -> None:
    """The positive control: moto's registry (its dashboard's data) still lists the rest."""
    from moto.sqs.models import Queue

    before = len(Queue.instances_tracked)  # type: ignore[attr-defined]
    boto3.client("sqs").create_queue(QueueName="still-listed")
    assert len(Queue.instances_tracked) == before + 1  # type: ignore[attr-defined]


def source_of(fn: Callable[..., Any]) -> str:
    return inspect.getsource(fn)


def test_moto_internals_the_memory_patches_rely_on(aws: Any) -> None:
    """Fails loudly when a moto upgrade changes what the patches assume (moto 5.2.5): then read
    moto's new code and adapt moto_patches' ``_untracked_models`` / ``_atomic_stream_shards``."""
    import moto
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import ShardIterator

    from reawake_tools.local import moto_patches

    assert moto.__version__ == "5.2.5", "moto changed: check the assumptions below, then this version"
    stock = moto_patches._stock
    assert "cls.instances_tracked.append(instance)" in source_of(stock["BaseModel.__new__"])
    add, get = source_of(stock["StreamShard.add"]), source_of(stock["StreamShard.get"])
    assert "seq = len(self.items) + self.starting_sequence_number" in add and "self.items.append(" in add
    assert "start -= self.starting_sequence_number" in get and "self.items[start:end]" in get
    assert "starting_sequence_number + len(" in source_of(stock["ShardIterator.__init__"])
    assert StreamShard.add is not stock["StreamShard.add"] and ShardIterator.__init__ is not stock[
        "ShardIterator.__init__"], "the patches are on"
    assert BaseModel.__new__ is not stock["BaseModel.__new__"]
    item_init = source_of(stock["Item.__init__"])
    assert "self.hash_key = hash_key" in item_init and "self.attrs[key] = DynamoType(value)" in item_init


def test_an_item_shares_its_key_values_and_reads_and_writes_as_before(aws: Any) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    client = boto3.client("dynamodb")
    name = get_settings().table_name
    put("LEAD#k1", lead_key="k1")
    client.update_item(TableName=name, Key={"pk": {"S": "LEAD#k1"}, "sk": {"S": "X"}},
                       UpdateExpression="SET lead_key = :v, n = :n", ExpressionAttributeValues={
                           ":v": {"S": "k2"}, ":n": {"N": "1"}})
    stored = table().items[DynamoType({"S": "LEAD#k1"})][DynamoType({"S": "X"})]
    assert stored.attrs["pk"] is stored.hash_key and stored.attrs["sk"] is stored.range_key
    assert client.get_item(TableName=name, Key={"pk": {"S": "LEAD#k1"}, "sk": {"S": "X"}})["Item"] == {
        "pk": {"S": "LEAD#k1"}, "sk": {"S": "X"}, "lead_key": {"S": "k2"}, "n": {"N": "1"}}
    found = client.query(TableName=name, IndexName="leads", KeyConditionExpression="lead_key = :k",
                         ExpressionAttributeValues={":k": {"S": "k2"}})["Items"]
    assert [i["pk"]["S"] for i in found] == ["LEAD#k1"]
    with pytest.raises(client.exceptions.ClientError, match="key"):
        client.update_item(TableName=name, Key={"pk": {"S": "LEAD#k1"}, "sk": {"S": "X"}},
                           UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": {"S": "other"}})
    with pytest.raises(client.exceptions.ClientError, match="size"):  # moto's 400 KB check still runs
        put("LEAD#big", note="x" * 410_000)


def test_items_share_the_values_they_repeat_and_one_items_change_leaves_the_others_as_they_were(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto_patches.SharedValues: one value object for what items repeat (memory), none kept for an
    attribute whose values do not repeat (bounded), and nothing shared that is changed in place."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    from reawake_tools.local import moto_patches

    monkeypatch.setattr(moto_patches, "SHARED_VALUES", moto_patches.SharedValues())
    monkeypatch.setattr(moto_patches, "SHARED_PER_NAME", 3)
    client, name = boto3.client("dynamodb"), get_settings().table_name
    for n in range(5):
        client.put_item(TableName=name, Item={"pk": {"S": f"EV#{n}"}, "sk": {"S": "X"}, "kind": {"S": "page_view"},
                                              "note": {"S": f"n{n}"}, "m": {"M": {"a": {"S": "1"}}}})
    stored = [table().items[DynamoType({"S": f"EV#{n}"})][DynamoType({"S": "X"})] for n in range(5)]
    assert len({id(s.attrs["kind"]) for s in stored}) == 1, "one object for the value every item repeats"
    assert len({id(s.attrs["note"]) for s in stored}) == 5  # positive control: distinct values, distinct objects
    assert len({id(s.attrs["m"]) for s in stored}) == 5, "a map is changed in place: never shared"
    shared = moto_patches.SHARED_VALUES
    assert set(shared.by_name) == {"kind"} and shared.unique == {"note"}, "past 3 distinct values: not kept"

    client.update_item(TableName=name, Key={"pk": {"S": "EV#0"}, "sk": {"S": "X"}},
                       UpdateExpression="SET kind = :k, m.a = :a",
                       ExpressionAttributeValues={":k": {"S": "purchase"}, ":a": {"S": "2"}})
    read = [client.get_item(TableName=name, Key={"pk": {"S": f"EV#{n}"}, "sk": {"S": "X"}})["Item"] for n in range(5)]
    assert [(i["kind"]["S"], i["m"]["M"]["a"]["S"]) for i in read] == [("purchase", "2")] + [("page_view", "1")] * 4
    found = client.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={
        ":p": {"S": "EV#3"}})["Items"]
    assert [(i["kind"]["S"], i["note"]["S"]) for i in found] == [("page_view", "n3")]


# A map value pickled by moto 5.2.5 as shipped (its DynamoType had an instance dict): what a state
# saved before the slim values holds.
STOCK_PICKLED_MAP = (
    b"\x80\x05\x95\x8b\x00\x00\x00\x00\x00\x00\x00\x8c moto.dynamodb.models.dynamo_type\x94\x8c\nDynamoType\x94"
    b"\x93\x94)\x81\x94}\x94(\x8c\x04type\x94\x8c\x01M\x94\x8c\x05value\x94}\x94(\x8c\x01a\x94h\x02)\x81\x94}\x94"
    b"(h\x05\x8c\x01S\x94h\x07\x8c\x06\xe4\xbf\x9d\xe5\xad\x98\x94ub\x8c\x01n\x94h\x02)\x81\x94}\x94(h\x05\x8c\x01N"
    b"\x94h\x07\x8c\x011\x94ubuub."
)


@pytest.mark.parametrize(("name", "slots"), [("DynamoType", ("type", "value")),
                                              ("Item", ("hash_key", "range_key", "attrs"))])
def test_values_and_items_are_slim_everywhere_moto_names_them(aws: Any, name: str, slots: tuple[str, ...]) -> None:
    import sys

    from moto.dynamodb.models import dynamo_type

    from reawake_tools.local import moto_patches

    stock, slim = moto_patches._stock[name], getattr(dynamo_type, name)
    assert slim is not stock and slim.__slots__ == slots
    left = [module_name for module_name, module in list(sys.modules.items()) if module_name.startswith("moto")
            and module is not None and any(value is stock for value in vars(module).values())]
    assert left == [], "no moto module still names the old class"
    put("LEAD#slim", note="値")
    stored = table().items[dynamo_type.DynamoType({"S": "LEAD#slim"})][dynamo_type.DynamoType({"S": "X"})]
    assert type(stored) is dynamo_type.Item and not hasattr(stored, "__dict__")
    assert all(type(v) is dynamo_type.DynamoType and not hasattr(v, "__dict__") for v in stored.attrs.values())
    assert [name for name in vars(stock) if not name.startswith("__")] == [
        name for name in vars(slim) if not name.startswith("__") and name not in slots], "every method of moto's class"


def test_a_value_pickled_by_stock_moto_loads_as_a_slim_one(aws: Any) -> None:
    import pickle

    from moto.dynamodb.models.dynamo_type import DynamoType

    loaded = pickle.loads(STOCK_PICKLED_MAP)  # noqa: S301 - a constant of this test
    assert type(loaded) is DynamoType and type(loaded.value["a"]) is DynamoType
    assert loaded == DynamoType({"M": {"a": {"S": "保存"}, "n": {"N": "1"}}})
    assert pickle.loads(pickle.dumps(loaded)) == loaded  # noqa: S301


# An event item pickled by moto 5.2.5 as shipped (its Item had an instance dict): what a state saved
# before the slim items holds.
STOCK_PICKLED_ITEM = (
    b'\x80\x05\x95\x03\x01\x00\x00\x00\x00\x00\x00\x8c moto.dynamodb.models.dynamo'
    b'_type\x94\x8c\x04Item\x94\x93\x94)\x81\x94}\x94(\x8c\x08hash_key\x94h\x00\x8c\nDyna'
    b'moType\x94\x93\x94)\x81\x94}\x94(\x8c\x04type\x94\x8c\x01S\x94\x8c\x05value\x94\x8c\x06LEAD'
    b'#o\x94ub\x8c\trange_key\x94h\x07)\x81\x94}\x94(h\nh\x0bh\x0c\x8c\x04EV#1\x94ub'
    b'\x8c\x05attrs\x94h\x00\x8c\x0fLimitedSizeDict\x94\x93\x94)\x81\x94(\x8c\x02pk\x94h'
    b'\x07)\x81\x94}\x94(h\nh\x0bh\x0ch\rub\x8c\x02sk\x94h\x07)\x81\x94}\x94(h\nh\x0bh\x0ch\x11ub'
    b'\x8c\x01n\x94h\x07)\x81\x94}\x94(h\n\x8c\x01N\x94h\x0c\x8c\x011\x94ubuub.'
)


def test_an_item_pickled_by_stock_moto_loads_as_a_slim_one(aws: Any) -> None:
    import pickle

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    loaded = pickle.loads(STOCK_PICKLED_ITEM)  # noqa: S301 - a constant of this test
    assert type(loaded) is Item and loaded.hash_key == DynamoType({"S": "LEAD#o"})
    assert loaded.to_json() == {"Attributes": {"pk": {"S": "LEAD#o"}, "sk": {"S": "EV#1"}, "n": {"N": "1"}}}
    assert pickle.loads(pickle.dumps(loaded)) == loaded  # noqa: S301


def test_nested_values_update_in_place_as_before(aws: Any) -> None:
    """The operations that change a value in place (a map's key, a list append, a set's ADD/DELETE)."""
    client = boto3.client("dynamodb")
    name = get_settings().table_name
    key = {"pk": {"S": "LEAD#nest"}, "sk": {"S": "X"}}
    client.put_item(TableName=name, Item={**key, "m": {"M": {"a": {"N": "1"}}}, "l": {"L": [{"S": "x"}]},
                                          "s": {"SS": ["p", "q"]}, "c": {"N": "5"}})
    client.update_item(TableName=name, Key=key,
                       UpdateExpression="SET m.b = :b, m.a = m.a + :one, l = list_append(l, :more) "
                                        "ADD s :add, c :one REMOVE m.gone",
                       ExpressionAttributeValues={":b": {"S": "新"}, ":one": {"N": "1"}, ":more": {"L": [{"S": "y"}]},
                                                  ":add": {"SS": ["r"]}})
    client.update_item(TableName=name, Key=key, UpdateExpression="DELETE s :del",
                       ExpressionAttributeValues={":del": {"SS": ["p"]}})
    item = client.get_item(TableName=name, Key=key)["Item"]
    assert item["m"] == {"M": {"a": {"N": "2"}, "b": {"S": "新"}}}
    assert item["l"] == {"L": [{"S": "x"}, {"S": "y"}]} and sorted(item["s"]["SS"]) == ["q", "r"]
    assert item["c"] == {"N": "6"}
    found = client.scan(TableName=name, FilterExpression="m.a > :one AND contains(s, :r)",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":r": {"S": "r"}})["Items"]
    assert [i["pk"]["S"] for i in found] == ["LEAD#nest"]
