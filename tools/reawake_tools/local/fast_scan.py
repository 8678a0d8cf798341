"""A faster moto Scan for the local stack and the benchmarks (installed by ``moto_patches.apply``).

moto 5.2's Scan costs about 15 ms per item: its index scan re-sorts the whole table for every
page, deep-copies every item, and its response serializer walks the botocore shape of every
attribute. At 100,000 leads a segment run would spend about 25 minutes in it. This serves the
scans Reawake makes (a table, or an index projecting ALL or INCLUDE attributes; parallel-scan
segments; top-level or map-key ``ProjectionExpression``) straight from moto's stored items, with the contract boto3 sees
from DynamoDB:

- segments split by moto's own hash of the partition key (an item always falls in the same one);
- pages of at most 1 MB of item size (DynamoDB counts the whole item, before projection; of an
  index, the index's item: the table and index keys and the attributes the index projects);
- ``LastEvaluatedKey`` with the table key (and the index key), resumed in key order, so items
  written during a scan are seen or not, as on DynamoDB, and none is returned twice.

Anything else (filters, ``Limit``, ``Select``, ``ConsistentRead`` on an index, list paths in a
projection, ...) goes to moto's own Scan, unchanged, with its validation and errors.
"""

from __future__ import annotations

import json
import threading
import time
from bisect import bisect_right
from typing import Any

from reawake_tools.local import index_query

PAGE_BYTES = 1024 * 1024
HANDLED = frozenset({"TableName", "IndexName", "Segment", "TotalSegments", "ExclusiveStartKey",
                     "ProjectionExpression", "ExpressionAttributeNames", "ConsistentRead"})
MAX_LISTS = 512  # cached per-segment key lists (one per segment of a scan in progress)

Members = tuple[list[tuple[str, str]], list[tuple[Any, Any]]]


class Stats:
    """What the fast path served (the benchmarks report the emulator's share of a scan)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.pages = 0
        self.items = 0


stats = Stats()
_lists: dict[tuple[str, str, int, int], Members] = {}
_segment_of: dict[str, int] = {}  # partition key -> md5's first byte (moto's segment hash)
_lock = threading.Lock()


def install() -> None:
    """Route the scans this module handles past moto's own (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.scan, "_reawake_fast", False):
        return
    original = DynamoHandler.scan

    def scan(handler: Any) -> Any:
        began = time.perf_counter()
        try:
            plan = _plan(handler)
            if plan is None:
                return original(handler)
            return _page(*plan)
        finally:
            stats.seconds += time.perf_counter() - began

    scan._reawake_fast = True  # type: ignore[attr-defined]
    scan._reawake_original = original  # type: ignore[attr-defined]  # moto_patches.stock()
    DynamoHandler.scan = scan  # type: ignore[method-assign]


Plan = tuple[Any, str | None, int, int, dict[str, Any] | None, list[list[str]] | None, frozenset[str] | None]


def _plan(handler: Any) -> Plan | None:
    """(table, index key, segment, total, start key, projection, what an INCLUDE index holds) when
    the fast path applies."""
    body = handler.body
    if set(body) - HANDLED:
        return None
    segment, total = body.get("Segment"), body.get("TotalSegments")
    if (segment is None) != (total is None):
        return None
    if total is not None and not (isinstance(segment, int) and isinstance(total, int) and 0 <= segment < total):
        return None
    try:
        table = handler.dynamodb_backend.get_table(body["TableName"])
    except Exception:
        return None  # moto's own path answers with the right error
    if table.range_key_attr is None:
        return None
    index_key = None
    included = None
    if body.get("IndexName"):
        if body.get("ConsistentRead"):
            return None
        index = next((i for i in table.global_indexes if i.name == body["IndexName"]), None)
        if index is None or len(index.schema) != 1:  # a HASH-only index (``leads``): the key is one attribute
            return None
        index_key = index.schema[0]["AttributeName"]
        projection_type = (index.projection or {}).get("ProjectionType", "ALL")
        if projection_type == "INCLUDE":
            included = frozenset([table.hash_key_attr, table.range_key_attr, index_key,
                                  *index.projection.get("NonKeyAttributes", [])])
        elif projection_type != "ALL":
            return None
    projection = None
    if body.get("ProjectionExpression"):
        projection = _projection(body["ProjectionExpression"], body.get("ExpressionAttributeNames") or {})
        if projection is None:
            return None
    elif body.get("ExpressionAttributeNames"):
        return None  # unused names: moto's path reports the validation error
    return table, index_key, segment or 0, total or 1, body.get("ExclusiveStartKey"), projection, included


def _projection(text: str, names: dict[str, str]) -> list[list[str]] | None:
    """``#a, #b.#c`` -> [["a"], ["b", "c"]]: attribute names and map keys only (else None)."""
    used = set()
    paths = []
    for part in text.split(","):
        path = []
        for token in part.strip().split("."):
            token = token.strip()
            if not token or "[" in token or " " in token:
                return None
            if token.startswith("#"):
                if token not in names:
                    return None
                used.add(token)
                token = names[token]
            path.append(token)
        paths.append(path)
    if used != set(names):
        return None
    return paths


def _wire(value: Any) -> Any:
    """A moto DynamoType as DynamoDB JSON."""
    kind = value.type
    if kind == "M":
        return {"M": {k: _wire(v) for k, v in value.value.items()}}
    if kind == "L":
        return {"L": [_wire(v) for v in value.value]}
    return value.to_json()


def _projected(attrs: dict[str, Any], projection: list[list[str]] | None) -> dict[str, Any]:
    if projection is None:
        return {name: _wire(v) for name, v in attrs.items()}
    out: dict[str, Any] = {}
    for path in projection:
        found = attrs.get(path[0])
        if found is None:
            continue
        if len(path) == 1:
            out[path[0]] = _wire(found)
            continue
        # A map key path: keep the enclosing maps, only what exists.
        chain = [found]
        for key in path[1:]:
            if chain[-1].type != "M" or key not in chain[-1].value:
                chain = []
                break
            chain.append(chain[-1].value[key])
        if not chain:
            continue
        target = out.setdefault(path[0], {"M": {}})
        for key in path[1:-1]:
            target = target["M"].setdefault(key, {"M": {}})
        target["M"][path[-1]] = _wire(chain[-1])
    return out


def _segment(hash_value: str, total: int) -> int:
    found = _segment_of.get(hash_value)
    if found is None:
        from moto.utilities.utils import md5_hash

        found = _segment_of[hash_value] = md5_hash(hash_value.encode("utf8")).digest()[0]
    return found % total


def _members(table: Any, index_key: str | None, segment: int, total: int) -> Members:
    """The segment's items the scan returns: their keys in key order (as text, for resuming) and
    the keys as moto stores them (for the lookup)."""
    found: list[tuple[str, str, Any, Any]] = []
    if index_key is not None:  # the items the index holds (index_query), not the table's
        for hash_key, range_key in index_query.keys_having(table, index_key):
            if _segment(str(hash_key.value), total) == segment:
                found.append((str(hash_key.value), str(range_key.value), hash_key, range_key))
    for hash_key, by_range in list(table.items.items()) if index_key is None else ():  # a copy: writes land
        if _segment(str(hash_key.value), total) != segment:
            continue
        for range_key, _item in list(by_range.items()):
            found.append((str(hash_key.value), str(range_key.value), hash_key, range_key))
    found.sort(key=lambda k: (k[0], k[1]))
    return [(h, r) for h, r, _, _ in found], [(h, r) for _, _, h, r in found]


def _page(table: Any, index_key: str | None, segment: int, total: int, start: dict[str, Any] | None,
          projection: list[list[str]] | None, included: frozenset[str] | None) -> str:
    cache_key = (table.name, index_key or "", segment, total)
    with _lock:
        members = _lists.pop(cache_key, None) if start is not None else None
    if members is None:  # a new scan of the segment (or one whose list was evicted): list it now
        members = _members(table, index_key, segment, total)
    keys, stored = members
    position = 0
    if start is not None:
        position = bisect_right(keys, (_scalar(start.get(table.hash_key_attr)),
                                       _scalar(start.get(table.range_key_attr))))
    parts: list[str] = []
    used = 0
    last = None
    while position < len(keys):
        hash_key, range_key = stored[position]
        item = table.items.get(hash_key, {}).get(range_key)
        position += 1
        if item is None or (index_key is not None and index_key not in item.attrs):
            continue  # deleted, or left the index, since the scan began
        attrs = item.attrs
        if included is None:
            size = item.size()
        else:  # the index's own item
            attrs = {name: v for name, v in attrs.items() if name in included}
            size = sum(len(name.encode("utf-8")) + v.size() for name, v in attrs.items())
        if parts and used + size > PAGE_BYTES:
            position -= 1
            break
        parts.append(json.dumps(_projected(attrs, projection), ensure_ascii=False))
        used += size
        last = item
    out = f'{{"Count":{len(parts)},"ScannedCount":{len(parts)},"Items":[{",".join(parts)}]'
    if position < len(keys) and last is not None:
        key = {table.hash_key_attr: last.hash_key.to_json(), table.range_key_attr: last.range_key.to_json()}
        if index_key is not None:
            key[index_key] = last.attrs[index_key].to_json()
        out += ',"LastEvaluatedKey":' + json.dumps(key, ensure_ascii=False)
        with _lock:  # kept for the next page of this scan
            while len(_lists) >= MAX_LISTS:
                _lists.pop(next(iter(_lists)))
            _lists[cache_key] = members
    stats.pages += 1
    stats.items += len(parts)
    return out + "}"


def _scalar(value: Any) -> str:
    if not isinstance(value, dict) or len(value) != 1:
        return ""
    return str(next(iter(value.values())))
