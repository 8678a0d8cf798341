"""Which items of a moto table carry a given value of an attribute: the emulator's index of a GSI's
hash key (installed by ``moto_patches.apply``).

moto keeps no index: a Query on a GSI walks every item of the table for the ones whose hash
attribute matches, and an index Scan walks them all for the ones that have it (half a second per
query at 745,000 items; the step-mail due probe makes 16 of them per look). Here each table keeps,
per GSI hash attribute, ``(type, value) -> {(hash key, range key)}``: the stored items' own key
objects (references, no copy of an item). A query then starts from the keys of its hash value, a
scan from the keys that have the attribute, and moto's own code does the rest (range condition,
order, pages, filter, projection), so the answers stay moto's; ``tests/component/test_index_query``
runs every query the app makes both ways.

- Sparse as DynamoDB: an item without the attribute is in no set. Indexes sharing a hash attribute
  (``leads`` and ``lead_facts``) share its sets.
- Built at the first query of an attribute (one walk of the table), then kept by every write path:
  ``Table.put_item`` (PutItem, BatchWriteItem, the transactions' puts, and UpdateItem creating an
  item), ``Table.delete_item`` (DeleteItem, BatchWriteItem, transactions) and
  ``DynamoDBBackend.update_item`` (which changes the stored item in place). Each records the key's
  values before the write and moves the key after it, in ``finally`` (a failed update may have
  written part). A table whose ``items`` dict was replaced (the saved state's restore, a stock
  transaction's rollback swaps in a copied table) is seen by identity and built again.
- Threads: the sets change under one lock, and an index query copies its set under it, then each item's
  attribute dict (``as_they_are``: an update changes an item in place, and moto reads it several
  times per query). A key may be left
  in a set its item has since left (two writers racing on one key): moto's query checks each
  candidate's value again, and a scan checks the item, so an extra key is never an extra answer; a
  missing one could be, and none can be: a key is added after its write, under the lock the build
  holds.
- moto has no TTL deletion, and the local stack runs none; anything else writing ``Table.items``
  directly must call ``forget``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import weakref
from collections.abc import Iterable
from typing import Any

Key = tuple[Any, Any]  # (hash key, range key or None) as moto stores them
Value = tuple[str, Any]  # (DynamoDB type, moto's cast value): immutable, equal where moto's DynamoType is

_lock = threading.Lock()
_tables: weakref.WeakKeyDictionary[Any, _Sets] = weakref.WeakKeyDictionary()
_installed = False
_originals: dict[str, Any] = {}  # moto's write methods, as found (the internals test reads them)


class Stats:
    served = 0  # index queries answered from the sets


stats = Stats()


class _Sets:
    __slots__ = ("by_attr", "source")

    def __init__(self, source: int) -> None:
        self.source = source  # id(table.items) the sets describe
        self.by_attr: dict[str, dict[Value, set[Key]]] = {}


def install() -> None:
    """Keep the sets on moto's write paths (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item
    _originals.update(put_item=put, delete_item=delete, update_item=update)

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            key = (DynamoType(item_attrs[self.hash_key_attr]),
                   DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr else None)
        except Exception:
            return put(self, item_attrs, *args, **kwargs)  # moto's own validation error
        with _writing(self, key):
            return put(self, item_attrs, *args, **kwargs)

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        with _writing(self, (hash_key, range_key if self.range_key_attr else None)):
            return delete(self, hash_key, range_key)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            table = self.get_table(table_name)
            typed = (DynamoType(key[table.hash_key_attr]),
                     DynamoType(key[table.range_key_attr]) if table.range_key_attr else None)
        except Exception:
            return update(self, table_name, key, *args, **kwargs)
        with _writing(table, typed):
            return update(self, table_name, key, *args, **kwargs)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _installed = True


class _writing:
    """Around one write of ``key``: its index values before, the move after."""

    __slots__ = ("before", "key", "table")

    def __init__(self, table: Any, key: Key) -> None:
        self.table, self.key = table, key
        self.before: dict[str, Value] = {}

    def __enter__(self) -> None:
        if self.table in _tables:  # no query yet: nothing to keep
            self.before = _values(self.table, _stored(self.table, self.key))

    def __exit__(self, *exc: Any) -> None:
        sets = _tables.get(self.table)
        if sets is None:
            return
        item = _stored(self.table, self.key)
        after = _values(self.table, item)
        held = self.key if item is None else (item.hash_key, item.range_key if self.table.range_key_attr else None)
        with _lock:
            if _tables.get(self.table) is not sets or sets.source != id(self.table.items):
                return  # replaced meanwhile: built again at the next query
            for attr, by_value in sets.by_attr.items():
                old, new = self.before.get(attr), after.get(attr)
                if old is not None and old != new and (members := by_value.get(old)) is not None:
                    members.discard(self.key)
                    if not members:
                        del by_value[old]
                if new is not None:  # the stored item's own key objects, not the request's
                    by_value.setdefault(new, set()).add(held)


def _stored(table: Any, key: Key) -> Any:
    partition = table.items.get(key[0])
    if partition is None or not table.range_key_attr:
        return partition
    return partition.get(key[1])


def _values(table: Any, item: Any) -> dict[str, Value]:
    if item is None:
        return {}
    out = {}
    for attr in _hash_attrs(table):
        if (value := item.attrs.get(attr)) is not None:
            out[attr] = (value.type, value.cast_value)
    return out


def _hash_attrs(table: Any) -> list[str]:
    return [key["AttributeName"] for index in table.global_indexes for key in index.schema if key["KeyType"] == "HASH"]


def _built(table: Any, attr: str) -> dict[Value, set[Key]]:
    """The table's sets for ``attr`` (call with the lock held); the first call walks the table."""
    sets = _tables.get(table)
    if sets is None or sets.source != id(table.items):
        sets = _tables[table] = _Sets(id(table.items))
    by_value = sets.by_attr.get(attr)
    if by_value is None:
        by_value = sets.by_attr[attr] = {}
        for hash_key, partition in list(table.items.items()):  # copies: writes land meanwhile
            for item in list(partition.values()) if table.range_key_attr else [partition]:
                if (value := item.attrs.get(attr)) is not None:
                    by_value.setdefault((value.type, value.cast_value), set()).add(
                        (hash_key, item.range_key if table.range_key_attr else None))
    return by_value


def items_with(table: Any, attr: str, wanted: Any, index_name: str | None = None) -> list[Any]:
    """The stored items whose ``attr`` is ``wanted`` (a moto DynamoType), maybe with one that has
    just left (the caller checks the value); in the index's order when ``index_name`` is given:
    moto sorts them again, but a sorted list costs its sort n comparisons, not n log n (each
    comparison of moto's parses its numbers again: most of a query's time over 1,000 items)."""
    with _lock:
        keys = list(_built(table, attr).get((wanted.type, wanted.cast_value), ()))
        stats.served += 1
    found = [item for item in map(functools.partial(_stored, table), keys) if item is not None]
    index = next((i for i in table.global_indexes if i.name == index_name), None)
    if index is not None:
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        order = [*(ranges or [table.range_key_attr or table.hash_key_attr]), table.hash_key_attr,
                 table.range_key_attr]  # moto's Table._generate_attr_to_sort_by for a GSI
        with contextlib.suppress(TypeError, AttributeError):  # a mixed or missing key: moto's sort alone
            found.sort(key=lambda item: tuple(item.attrs[a].cast_value if a in item.attrs else None
                                              for a in order if a is not None))
    return found


def keys_having(table: Any, attr: str) -> list[Key]:
    """The keys of the stored items that carry ``attr`` (or did a moment ago: check the item)."""
    with _lock:
        return list({key for members in _built(table, attr).values() for key in members})


def as_they_are(items: Iterable[Any]) -> list[Any]:
    """Each item as it is now (its attribute dict copied, the values shared): moto's query reads an
    item's attributes several times (match, sort, page, copy) and an update in another thread
    changes them in place meanwhile; an answer missing its own index key would follow."""
    out = []
    for item in items:
        now = copy.copy(item)
        now.attrs = item.attrs.copy()
        out.append(now)
    return out


def original(name: str) -> Any:
    """moto's own ``put_item``, ``delete_item`` or ``update_item`` (before ``install``)."""
    return _originals[name]


def forget(table: Any) -> None:
    """Build the table's sets again at the next query (after writing ``table.items`` directly)."""
    with _lock:
        _tables.pop(table, None)
