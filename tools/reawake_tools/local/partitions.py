"""moto's table storage, leaner (issue 10: `reawake local` within 2 GB at 50,000 leads).

moto stores a table with a range key as ``defaultdict(dict)``: hash key -> {range key -> Item}. The
single-table design has a partition of one item per event id claim (``EVENT#<id>`` / ``CLAIM``) and
per email (``EMAIL#...`` / ``LEAD``): a dict of ~260 bytes beside each imported activity's claim.
And each item held key objects of its own where the dicts held others: a lead's events each carried
their own copy of the lead's hash key, a replaced item its own range key, every claim its own
``CLAIM``.

- ``Partitions`` (a table's ``items``): a dict whose missing partition is a ``Partition`` that joins
  it at its first write; a read of a missing key leaves nothing behind (moto's defaultdict kept an
  empty dict for every GetItem of a key that does not exist).
- ``Partition``: the mapping moto and our code use (``[]``, ``get``, ``pop``, ``values``, ``items``,
  ``keys``, ``len``, ``in``, iteration), holding its only item in a slot (the item's ``range_key`` is
  its key) and a dict from the second item on: 64 bytes instead of 264 for one item.
- A stored item's keys are the partition's: its hash key is the one its partition's other items
  (and the table's dict) hold; a replaced item takes the range key object of the one it replaces; a
  new range key value already seen (``CLAIM``, ``PROFILE``, ``LEAD``...) is that one object
  (``RANGE_KEYS``, bounded). The key attributes in ``attrs`` that were the item's key object follow.
  Safe for the reason ``moto_patches._shared_key_values`` gives: key values are never changed.

Writes to a partition hold one lock (``_WRITES``); reads take none: a reader reads the single item
before the dict and a writer sets the dict before it clears the single item, so a read sees either.
"""

from __future__ import annotations

import threading
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any

from reawake_tools.local.moto_patches import SCALARS

_WRITES = threading.Lock()
_MISSING: Any = object()
RANGE_KEY_VALUES = 4096  # distinct range key values kept; past it new ones are not (ids), kept ones still are


class KeyValues:
    """One object per range key value for the first ``limit`` values seen (the fixed sort keys of the
    single-table design come first; ids fill the rest and stop it growing)."""

    def __init__(self, limit: int = RANGE_KEY_VALUES) -> None:
        self.limit = limit
        self.kept: dict[tuple[str, Any], Any] = {}

    def shared(self, typed: Any) -> Any:
        if typed is None or typed.type not in SCALARS:
            return typed
        key = (typed.type, typed.value)
        found = self.kept.get(key)
        if found is None:
            if len(self.kept) >= self.limit:
                return typed
            found = self.kept.setdefault(key, typed)
        return found


RANGE_KEYS = KeyValues()


class Partition:
    """One partition of a table with a range key: range key -> Item, as moto's dict was."""

    __slots__ = ("_home", "_many", "_one")

    def __init__(self, home: tuple[Partitions, Any] | None = None) -> None:
        self._one: Any = None  # the only item (its key: its range_key) while _many is None
        self._many: dict[Any, Any] | None = None  # range key -> item, from the second item on
        self._home = home  # (the table's Partitions, hash key) until the first write puts it there

    @classmethod
    def of(cls, by_range: dict[Any, Any]) -> Partition:
        """A partition holding what moto's dict held (a saved state of the earlier format)."""
        partition = cls()
        if len(by_range) == 1 and _equal(next(iter(by_range)), next(iter(by_range.values())).range_key):
            partition._one = next(iter(by_range.values()))
        elif by_range:
            partition._many = dict(by_range)
        return partition

    def _dict(self) -> dict[Any, Any]:
        one, many = self._one, self._many  # in this order (see the module's docstring)
        if many is not None:
            return many
        return {} if one is None else {one.range_key: one}

    def get(self, key: Any, default: Any = None) -> Any:
        one, many = self._one, self._many
        if many is not None:
            return many.get(key, default)
        return one if one is not None and _equal(one.range_key, key) else default

    def __getitem__(self, key: Any) -> Any:
        found = self.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)
        return found

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __len__(self) -> int:
        one, many = self._one, self._many
        return len(many) if many is not None else int(one is not None)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._dict())

    def keys(self) -> KeysView[Any]:
        return self._dict().keys()

    def values(self) -> ValuesView[Any]:
        return self._dict().values()

    def items(self) -> ItemsView[Any, Any]:
        return self._dict().items()

    def __repr__(self) -> str:
        return f"Partition({self._dict()!r})"

    def __setitem__(self, key: Any, item: Any) -> None:
        with _WRITES:
            home, self._home = self._home, None
            if home is None:
                self._put(key, item, None)
                return
            partitions, hash_key = home  # its first write: into the table (unless one came meanwhile)
            dict.setdefault(partitions, hash_key, self)._put(key, item, hash_key)

    def _put(self, key: Any, item: Any, hash_key: Any) -> None:
        one, many = self._one, self._many
        current = many.get(key) if many is not None else one if one is not None and _equal(one.range_key, key) else None
        sibling = one if many is None else next(iter(many.values()), None)
        _same_key(item, "hash_key", hash_key if sibling is None else sibling.hash_key)
        if _equal(item.range_key, key):  # moto's way: an item under its own key
            _same_key(item, "range_key", RANGE_KEYS.shared(key) if current is None else current.range_key)
            key = item.range_key
        if many is not None:
            many[key] = item
        elif (one is None or current is not None) and key is item.range_key:
            self._one = item
        else:
            self._many = {key: item} if one is None or current is not None else {one.range_key: one, key: item}
            self._one = None  # after _many is set: a reader sees one or the other

    def pop(self, key: Any, *default: Any) -> Any:
        with _WRITES:
            one, many = self._one, self._many
            if many is not None:
                return many.pop(key, *default)
            if one is not None and _equal(one.range_key, key):
                self._one = None
                return one
        if default:
            return default[0]
        raise KeyError(key)

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def __getstate__(self) -> tuple[Any, Any]:
        return self._one, self._many

    def __setstate__(self, state: tuple[Any, Any]) -> None:
        self._one, self._many = state
        self._home = None


class Partitions(dict[Any, Any]):
    """A table's items: hash key -> Partition (or -> Item, for a table without a range key). A
    missing partition is made when written, not when read (moto's ``defaultdict(dict)`` did both)."""

    __slots__ = ()

    def __missing__(self, hash_key: Any) -> Partition:
        return Partition((self, hash_key))


def _equal(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)  # DynamoType's == reads the other's fields


def _same_key(item: Any, slot: str, canonical: Any) -> None:
    """``item``'s ``slot`` key (and the attributes that were that object) become ``canonical`` when equal."""
    own = getattr(item, slot)
    if canonical is None or canonical is own or not _equal(canonical, own):
        return
    setattr(item, slot, canonical)
    attrs = item.attrs
    for name in [name for name, value in attrs.items() if value is own]:
        dict.__setitem__(attrs, name, canonical)  # LimitedSizeDict: the size is unchanged


def install() -> None:
    """Every table made from now on stores its items in ``Partitions`` (idempotent)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.__init__, "_reawake_partitions", False):
        return
    original = Table.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.items = Partitions()

    __init__._reawake_partitions = True  # type: ignore[attr-defined]
    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    Table.__init__ = __init__  # type: ignore[method-assign]


def stored(partition: Any) -> Any:
    """A partition as a table keeps it: moto's dict (a state saved before ``Partitions``) as a ``Partition``."""
    return Partition.of(partition) if isinstance(partition, dict) else partition


def adopted(items: dict[Any, Any]) -> Partitions:
    """``items`` (a table's, as moto or an earlier saved state keeps them) as ``Partitions``."""
    if isinstance(items, Partitions):
        return items
    return Partitions({hash_key: stored(partition) for hash_key, partition in items.items()})
