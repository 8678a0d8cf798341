"""Where moto differs from AWS in ways that matter to us, and the local fix.

DynamoDB TransactWriteItems: moto deep-copies every table it touches before applying the
operations one by one, and rolls back by swapping the copy in. That costs O(table size) per
transaction (hundreds of ms once a table holds a few thousand items) and leaves stream records
of cancelled writes behind. Real DynamoDB checks every condition first and then writes all or
nothing. This patch does the same: check phase, then apply phase; no copy, no stray records.

DynamoDB Scan (``fast_scan``): moto's costs ~15 ms per item; the scans Reawake makes (a segment
run's parallel scan of the leads index, projected) are served from the stored items instead.

Lambda (``route_lambda``): moto would start a Docker container in ``LambdaFunction._invoke_lambda``,
the one place that direct invokes, Step Functions Lambda tasks and event source mappings all pass
through. The local stack routes it to the template's handlers, called in-process.

DynamoDB Query (``_fast_query``): moto answers a query by sorting the whole table (with its slow
typed comparisons) and then filtering it: about a second per query once a table holds 50,000
items, for the one partition or index key it wants. Patched, a query starts from that partition
(base table) or from the items carrying that index key (a GSI: ``index_query`` keeps which items
carry which value), and moto sorts and filters only those, as DynamoDB reads only them. The send
slots' due-index queries depend on it.

Memory (``_untracked_models``, ``_atomic_stream_shards``): moto's ``BaseModel`` keeps every instance
it ever made in a class-wide list (for its dashboard), so no DynamoDB item, stream record or shard
iterator is ever freed: an item replaced by a write, a query's projected copy, the poller's iterator of
every poll. Those three classes are not registered. moto's ``StreamShard.add`` numbers a record from
the list's length before building it and appends it after, so two writes at once could carry the same
or a stale number (the poller read a record twice, and once read records were trimmed, its iterator
fell behind the shard's start: moto's ``assert start >= 0``). Patched, numbering and appending, reading
and ``trim_stream`` hold one lock, so a record's number is always its position. An item's key
attributes share the key values moto keeps beside them (``_shared_key_values``): two objects fewer
per item. Every attribute value is a ``DynamoType`` of two fields with an instance dict: the same class
with ``__slots__`` (``_slim_values``) is 48 bytes instead of 88. A table's partitions and the keys its
items hold: ``partitions``.

Step Functions ``Wait`` states (``follow_clock``): moto's engine sleeps the wall-clock interval
(and compares a ``Timestamp`` with the machine's naive local time). Patched, a wait lasts until the
stack clock (``reawake_tools.local.clock.current()``) reaches its moment: ``seconds / speed`` of wall
time, cut short when the clock jumps. Retry intervals still sleep on the wall clock.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_applied = False
_stock: dict[str, Any] = {}  # what apply() replaced, for stock()
_waits_follow_clock = False

# (function name, event) -> (payload JSON, errored, logs): what _invoke_lambda returns.
LambdaInvoker = Callable[[str, Any], tuple[str, bool, str]]


def apply() -> None:
    """Install the patches (idempotent). Call before the emulator serves requests."""
    global _applied
    if _applied:
        return
    _slim_values()  # first: what the other patches import must be the slim class
    from moto.dynamodb.models import DynamoDBBackend

    _stock["transact_write_items"] = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    from reawake_tools.local import fast_scan

    fast_scan.install()
    _plain_json_results()
    _fast_query()
    _known_modules()
    _untracked_models()
    _atomic_stream_shards()
    _shared_key_values()
    from reawake_tools.local import partitions

    partitions.install()
    _applied = True


def _known_modules() -> None:
    """moto's server lists its package directory (``os.listdir`` and an ``isdir`` per entry, under a
    lock) on every request to find the service; the list does not change while it runs."""
    from moto import backends

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


# DynamoDB operations whose results are plain DynamoDB JSON (items, keys, counts): moto's generic
# response serializer walks the botocore shape of every attribute of every item (milliseconds per
# lead item, and the imports and segment runs read and write thousands); json.dumps is the same
# bytes for these.
PLAIN_JSON_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
                                   "TransactWriteItems", "TransactGetItems", "BatchWriteItem"})


def _plain_json_results() -> None:
    import datetime
    import json

    from moto.dynamodb.responses import DynamoResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in PLAIN_JSON_OPERATIONS and isinstance(self.result, dict):
            try:
                body = json.dumps(self.result, separators=(",", ":"))
            except (TypeError, ValueError):
                return original(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]

    original_records = DynamoDBStreamsHandler.get_records

    def when(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        raise TypeError(type(value).__name__)

    def get_records(self: Any) -> Any:
        # The stream poller reads every write's old and new image 20 times a second.
        try:
            result = self.backend.get_records(self._get_param("ShardIterator"), self._get_param("Limit") or 1000)
            return json.dumps(result, separators=(",", ":"), default=when)
        except Exception:
            return original_records(self)  # its own error answers

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]


UNTRACKED_MODELS = (("moto.dynamodb.models.dynamo_type", "Item"), ("moto.dynamodb.models.table", "StreamRecord"),
                    ("moto.dynamodbstreams.models", "ShardIterator"),
                    # every sent mail (~15 KB each): the outbox's file is the copy (observe_sent_mail)
                    ("moto.ses.models", "RawMessage"), ("moto.ses.models", "Message"))


def _untracked_models() -> None:
    """moto's ``BaseModel.__new__`` appends every instance to ``cls.instances_tracked`` (its
    dashboard's data, never emptied but by a reset): the classes made per write, per read and per
    poll are made without it, so they are freed when nothing else holds them."""
    import importlib

    from moto.core.common_models import BaseModel

    untracked = frozenset(getattr(importlib.import_module(module), name) for module, name in UNTRACKED_MODELS)
    original = _stock["BaseModel.__new__"] = BaseModel.__new__

    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if cls in untracked:
            return super(BaseModel, cls).__new__(cls)
        return original(cls, *args, **kwargs)

    BaseModel.__new__ = staticmethod(__new__)  # type: ignore[method-assign]


STREAM_LOCK = threading.RLock()  # moto's stream shards: numbering + appending, reading, trimming


def _atomic_stream_shards() -> None:
    """A stream record's sequence number is its position: ``StreamShard.add`` (numbered from the
    list's length, appended after the record is built), ``StreamShard.get`` (position from the
    number) and a new ``ShardIterator`` (LATEST: start + length) each run under ``STREAM_LOCK``, as
    ``trim_stream`` does. Reentrant: moto's own event source mappings may write from ``add``."""
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import ShardIterator

    original_add, original_get, original_init = StreamShard.add, StreamShard.get, ShardIterator.__init__
    _stock.update({"StreamShard.add": original_add, "StreamShard.get": original_get,
                   "ShardIterator.__init__": original_init})

    def add(self: Any, old: Any, new: Any) -> None:
        with STREAM_LOCK:
            original_add(self, old, new)

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        with STREAM_LOCK:
            records: list[dict[str, Any]] = original_get(self, start, quantity)
            return records

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        with STREAM_LOCK:
            original_init(self, *args, **kwargs)

    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]
    ShardIterator.__init__ = init  # type: ignore[method-assign]


SCALARS = frozenset({"S", "N", "B"})
SHAREABLE = frozenset({"S", "N", "B", "BOOL", "NULL"})  # never changed in place (sets, lists, maps are)
SHARED_PER_NAME = 4096  # distinct values remembered for one attribute name; past it, the name is not shared
SHARED_NAMES = 512  # attribute names remembered at most


class SharedValues:
    """One ``DynamoType`` object for each (attribute name, type, value) that items repeat: a kind, a
    source, a URL, a segment or a sequence name, a status, a shard, a run's time, a TTL... (an
    event item repeats 4 of its 10 values; a claim 1 of 3; an enrollment 10 of 14). An attribute
    whose values do not repeat (ids, timestamps) passes ``SHARED_PER_NAME`` distinct values and is
    not looked up again: what this keeps is bounded (names x values), and an item keeps
    each value it shares only once. Safe for the same reason as the key values: scalar values are
    never changed in place. Races between threads only make two equal objects instead of one."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[tuple[str, Any], Any]] = {}
        self.unique: set[str] = set()

    def shared(self, name: str, typed: Any) -> Any:
        if typed.type not in SHAREABLE or name in self.unique:
            return typed
        values = self.by_name.get(name)
        if values is None:
            if len(self.by_name) >= SHARED_NAMES:
                return typed
            values = self.by_name.setdefault(name, {})
        key = (typed.type, typed.value)
        found = values.get(key)
        if found is not None:
            return found
        if len(values) >= SHARED_PER_NAME:
            self.unique.add(name)
            self.by_name.pop(name, None)
            return typed
        values[key] = typed
        return typed


SHARED_VALUES = SharedValues()


def _shared_key_values() -> None:
    """moto's ``Item`` holds its key twice: ``hash_key`` / ``range_key`` (also the table's dict keys)
    and, built again from the same request, the key attributes in ``attrs``. Patched, an attribute
    equal to a key value is that same object (88 bytes each fewer per item), and any other scalar
    value an earlier item had under the same name is that item's object (``SharedValues``). Safe
    because scalar values are never changed in place (moto replaces them; only lists, sets and maps
    are mutated), and DynamoDB forbids updating a key attribute."""
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    _stock["Item.__init__"] = Item.__init__

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        DynamoType = dynamo_type.DynamoType
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        keys = [k for k in (hash_key, range_key) if type(k) is DynamoType and k.type in SCALARS]
        for name, value in attrs.items():
            self.attrs[name] = shared_value(name, DynamoType(value), keys)  # LimitedSizeDict: the 400 KB check

    Item.__init__ = __init__  # type: ignore[method-assign]


def shared_value(name: str, typed: Any, keys: list[Any]) -> Any:
    """The object an item keeps for attribute ``name``: the item's key value when equal (``keys``: its
    scalar hash and range key), else the one ``SHARED_VALUES`` has for it, else ``typed``."""
    for key in keys:
        if typed.type == key.type and typed.value == key.value:
            return key
    return SHARED_VALUES.shared(name, typed)


def _slim_values() -> None:
    """moto's ``DynamoType`` (every attribute value of every item, nested ones included) again, with
    ``__slots__ = ("type", "value")``: the same methods, 40 bytes fewer each; and its ``Item`` with
    ``__slots__ = ("hash_key", "range_key", "attrs")`` (40 bytes fewer an item; not a ``BaseModel``
    any more: that base only added the instance registry, which items are left out of anyway). Each
    new class takes the old one's place in every moto module that names it (moto compares
    ``type(x) is DynamoType`` and ``isinstance(x, Item)``), so it must be installed before the first
    value is made. A value or item pickled before (a saved state, state dict) still loads
    (``__setstate__``)."""
    from moto.dynamodb.models import dynamo_type

    _stock["DynamoType"] = _slimmed(dynamo_type.DynamoType, ("type", "value"))
    _stock["Item"] = _slimmed(dynamo_type.Item, ("hash_key", "range_key", "attrs"), base=object)


def _slimmed(old: type, slots: tuple[str, ...], base: type | None = None) -> type:
    """``old`` rebuilt with ``slots`` (on ``base`` instead of its own bases when given), put in its
    place in every moto module; returns ``old``."""
    import sys

    namespace = {k: v for k, v in vars(old).items() if k not in ("__dict__", "__weakref__", "__slotnames__")}

    def __setstate__(self: Any, state: Any) -> None:
        fields = state[1] if isinstance(state, tuple) else state  # (None, slots) now; a dict before
        for name in slots:
            setattr(self, name, fields[name])

    namespace.update(__slots__=slots, __setstate__=__setstate__)
    slim = type(old.__name__, old.__bases__ if base is None else (base,), namespace)
    slim.__qualname__ = old.__qualname__
    for name, module in list(sys.modules.items()):
        if (name == "moto" or name.startswith("moto.")) and module is not None:
            for attribute, value in list(vars(module).items()):
                if value is old:
                    setattr(module, attribute, slim)
    return old


def trim_stream(shard: Any, position: int) -> int:
    """Drop the records of moto's ``shard`` before sequence number ``position`` (every reader is
    past them); how many. moto numbers records from ``starting_sequence_number``: moving it by the
    records dropped keeps every later record's number and every open iterator's position."""
    with STREAM_LOCK:
        done = min(position - int(shard.starting_sequence_number), len(shard.items))
        if done <= 0:
            return 0
        del shard.items[:done]
        shard.starting_sequence_number += done
        return done


@contextmanager
def stock() -> Iterator[None]:
    """moto as shipped for the duration (the tests run one file so: our TransactWriteItems must not
    be the only witness of the conditional writes)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    # moto's TransactWriteItems, Query and Scan (index_query's bookkeeping of writes stays: it
    # changes no answer).
    swapped = [(owner, name, getattr(owner, name)) for owner, name in
               ((DynamoDBBackend, "transact_write_items"), (Table, "query"), (DynamoHandler, "scan"))]
    for owner, name, patched in swapped:
        setattr(owner, name, _stock.get(name, getattr(patched, "_reawake_original", patched)))
    try:
        yield
    finally:
        for owner, name, patched in swapped:
            setattr(owner, name, patched)


_query_candidates = threading.local()  # the items the running query may answer with, per thread


def _fast_query() -> None:
    from moto.dynamodb.models.table import Table

    from reawake_tools.local import index_query

    index_query.install()

    original_all_items = Table.all_items
    original_query = Table.query

    def all_items(self: Any) -> list[Any]:
        pick = getattr(_query_candidates, "pick", None)
        return original_all_items(self) if pick is None else list(pick(self))

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []

        if index_name is None and hash_key is not None:
            def pick(table: Any) -> Any:
                partition = table.items.get(hash_key, {})
                return list(partition.values()) if table.range_key_attr else [partition]
        elif index_name is not None and len(conditions) == 1 and conditions[0][0] != self.hash_key_attr:
            name, wanted = conditions[0][0], conditions[0][1]

            def pick(table: Any) -> Any:
                return index_query.as_they_are(index_query.items_with(table, name, wanted, index_name))
        else:
            return original_query(self, hash_key, *args, **kwargs)
        _query_candidates.pick = pick
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_candidates.pick = None

    _stock["query"] = original_query
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[Any] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        marker = (op["TableName"], str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        failed = False
        if condition is not None:
            values = op.get("ExpressionAttributeValues")
            names = op.get("ExpressionAttributeNames")
            check = (_parsed_condition(condition, tuple(sorted((names or {}).items()))) if not values
                     else get_filter_expression(condition, names, values))
            failed = not check.expr(current)
        if failed:
            old = (
                current.to_json()["Attributes"]
                if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                else None
            )
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, key in planned:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(
                op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
            )
        elif op_type == "Delete":
            self.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
        elif op_type == "Update":
            self.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )


@functools.lru_cache(maxsize=256)
def _parsed_condition(condition: str, names: tuple[tuple[str, str], ...]) -> Any:
    """A condition without values, parsed once (an import's items all carry
    ``attribute_not_exists(pk)``: moto parsed it again for each, a fifth of a transaction's time)."""
    from moto.dynamodb.comparisons import get_filter_expression

    return get_filter_expression(condition, dict(names) or None, None)


_original_invoke: Any = None


def route_lambda(invoke: LambdaInvoker | None) -> None:
    """Every Lambda invocation moto handles (invoke API, Step Functions tasks, event source
    mappings) calls ``invoke(function_name, event)`` instead of starting a container; None puts
    moto's own back."""
    global _original_invoke
    import json

    from moto.awslambda.models import LambdaFunction

    if _original_invoke is None:
        _original_invoke = LambdaFunction._invoke_lambda
    if invoke is None:
        LambdaFunction._invoke_lambda = _original_invoke  # type: ignore[method-assign]
        return

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str | bytes):  # moto passes the string "{}" for an empty body
            event = json.loads(event or b"{}")
        return invoke(self.function_name, {} if event is None else event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


def follow_clock() -> None:
    """Step Functions Wait states follow ``reawake_tools.local.clock.current()`` (idempotent); without an
    installed clock they wait on the wall clock as before."""
    global _waits_follow_clock
    if _waits_follow_clock:
        return
    from datetime import UTC

    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    from reawake_tools.local import clock

    original_wait = WaitFunction._wait_interval
    original_seconds = Timestamp._get_wait_seconds

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        stack_clock = clock.current()
        if stack_clock is None:
            return original_wait(self, env, wait_seconds)
        target = getattr(env, "_reawake_wait_target", None) or stack_clock.time() + wait_seconds
        env._reawake_wait_target = None
        stack_clock.sleep_until(target, env.is_running)
        return None

    def _get_wait_seconds(self: Any, env: Any) -> int:
        stack_clock = clock.current()
        if stack_clock is None:
            return int(original_seconds(self, env))
        self.string.eval(env=env)
        text = env.stack.pop()
        moment = self._from_timestamp_string(timestamp=text)
        if moment is None:
            from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
                FailureEventException,
            )

            raise FailureEventException(self._create_failure_event(env, text))
        target = moment.replace(tzinfo=UTC).timestamp()
        env._reawake_wait_target = target  # exact, where the returned whole seconds would round
        return max(0, int(target - stack_clock.time()))

    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    Timestamp._get_wait_seconds = _get_wait_seconds  # type: ignore[method-assign]
    _waits_follow_clock = True


# (raw message text) -> None: called after moto's SES accepted a message (SES v1 raw, SESv2 raw).
MailObserver = Callable[[str], None]
_mail_observer: MailObserver | None = None
_mail_patched = False


def observe_sent_mail(observer: MailObserver | None) -> None:
    """Call ``observer(raw)`` for every raw message the emulator's SES accepts (the local stack's
    outbox); None stops it. The send itself is moto's (sender verification included).

    While an observer has the mail, moto does not keep its own copy: its SES backend appends every
    message to ``sent_messages`` for good (~22 KB a step mail, 590 MB over the 26,922 mails of two
    played days at 20,000 leads), and the outbox's file is the copy a person reads."""
    global _mail_observer, _mail_patched
    _mail_observer = observer
    if _mail_patched:
        return
    from moto.ses.models import SESBackend

    original = SESBackend.send_raw_email

    def send_raw_email(self: Any, source: str, destinations: list[str], raw_data: str) -> Any:
        message = original(self, source, destinations, raw_data)
        observer_now = _mail_observer
        if observer_now is not None:
            try:
                observer_now(raw_data)
            except Exception:  # the outbox must never fail a send
                import logging

                logging.getLogger("reawake_local").exception("the outbox could not write a mail")
            with contextlib.suppress(ValueError):  # by identity: map workers send side by side
                self.sent_messages.remove(message)
        return message

    SESBackend.send_raw_email = send_raw_email  # type: ignore[method-assign]
    _mail_patched = True
