"""moto's per-request overheads the local stack does not need, cut (moto 5.2.5; installed with the
in-process route, ``reawake_tools.local.inprocess.install``). Each patch keeps moto's answers and
errors; ``tests/component/test_moto_overheads.py`` checks each against the moto internal it replaces
and fails loudly if moto changes it. Measured per call: ``python -m bench.emulator_calls``.

- ``BaseResponse.call_action`` listed the handler class's methods (``inspect.getmembers``: every
  attribute of a class with hundreds) on every request to see whether the action is one of them:
  the list is kept per class.
- Every answer gets a 52-character request id, drawn one ``random.choice`` at a time (52 calls, twice
  for DynamoDB): drawn with one ``choices`` call, same alphabet and length, from moto's own
  (seedable) random source.
- ``Item.__init__`` put each attribute into a ``LimitedSizeDict`` that sums the sizes of all the
  attributes already there before each insert (quadratic in the attributes: a lead item has dozens,
  and every put, update and stream record builds items). Here it sums as it goes and refuses at the
  same attribute, with the same ``ItemSizeTooLarge``.
- ``DynamoType.size`` of a map wrapped every value in a new ``DynamoType`` before sizing it, and
  wrapping a map copies its whole subtree: sizing a lead (put, update, query and batch-get page
  limits, stream records) rebuilt its nested maps once per level. The values already are
  ``DynamoType``: sized as they are, in one walk, the same number.
- An ``UpdateExpression`` was tokenized and parsed twice per update (the handler reads its
  placeholders, the backend validates it), and again for every update of a transaction: the parse is
  kept per expression text. Every consumer of the tree reads it (``find_clauses``) or works on its own
  deep copy (``UpdateExpressionValidator`` copies it before resolving names and values); an
  expression that does not parse raises each time, as before (nothing is kept for it).
- The server's lookup of the service for a host runs moto's list of URL patterns (hundreds of
  regexes) for every request: kept per host (``cache_backend_lookup``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_applied = False
_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, moto's, ours)


def _replace(owner: Any, name: str, ours: Any) -> None:
    _replaced.append((owner, name, getattr(owner, name), ours))
    setattr(owner, name, ours)


def apply() -> None:
    """Install the patches (idempotent), after ``moto_patches``'s: this ``Item.__init__`` replaces (and
    keeps the key sharing of) theirs, and their slim ``DynamoType`` must be in place first."""
    global _applied
    if _applied:
        return
    from reawake_tools.local import moto_patches

    moto_patches.apply()
    _method_names_per_class()
    _request_ids_in_one_draw()
    _items_sized_once()
    _maps_sized_in_place()
    _update_expressions_parsed_once()
    _applied = True


@contextmanager
def stock() -> Iterator[None]:
    """moto's own code for the duration (the benchmark's baseline, the tests' reference)."""
    for owner, name, original, _ in _replaced:
        setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, _, ours in _replaced:
            setattr(owner, name, ours)


def _method_names_per_class() -> None:
    from moto.core import responses, utils

    # Our own patches replace methods of handler classes (never add or remove one), so a class's
    # method names do not change once it has served.
    _replace(responses, "method_names_from_class", functools.cache(utils.method_names_from_class))


def _request_ids_in_one_draw() -> None:
    import string

    from moto.moto_api._internal.moto_random import MotoRandom

    def get_random_string(self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        random_str = "".join(self.choices(pool, k=length))
        return random_str.lower() if lower_case else random_str

    _replace(MotoRandom, "get_random_string", get_random_string)


def _items_sized_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    from reawake_tools.local.moto_patches import SCALARS, shared_value

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        DynamoType = dynamo_type.DynamoType  # at call time: moto_patches may swap the class
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        # moto_patches._shared_key_values' memory saving, kept (this replaces the same __init__): an
        # attribute equal to a scalar key value, or to a value items repeat, is that same object.
        keys = [k for k in (hash_key, range_key) if type(k) is DynamoType and k.type in SCALARS]
        size = 0
        for key, value in attrs.items():
            typed = shared_value(key, DynamoType(value), keys)
            # LimitedSizeDict.__setitem__'s test, with the sum of the attributes before kept.
            size += bytesize(key) + typed.size()
            if size > 405000:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    _replace(Item, "__init__", __init__)


def _maps_sized_in_place() -> None:
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    original = dynamo_type.DynamoType.size

    def sized(value: Any) -> int:
        # DynamoType.size's rules in one walk, without a method call per test: N by its digits, L and
        # M by their members (M's keys too), BOOL and NULL 1, S and B their bytes; sets as moto does.
        kind, inner = value.type, value.value
        if kind == "N":
            return len(str(inner))
        if kind == "M":
            DynamoType = dynamo_type.DynamoType  # at call time: moto_patches may swap the class
            return sum(bytesize(k) + sized(v if type(v) is DynamoType else DynamoType(v)) for k, v in inner.items())
        if kind == "L":
            return sum(sized(v) for v in inner)
        if kind in ("SS", "NS", "BS"):
            return int(original(value))
        if isinstance(inner, bool):
            return 1
        return bytesize(inner)

    def size(self: Any) -> int:
        return sized(self)

    _replace(dynamo_type.DynamoType, "size", size)


def _update_expressions_parsed_once() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    parse = functools.lru_cache(maxsize=1024)(UpdateExpressionParser.make)
    _replace(UpdateExpressionParser, "make", staticmethod(parse))


def cache_backend_lookup(app: Any) -> None:
    """The server's host -> service lookup, kept per host (a pure function of the host: moto's
    module list and URL patterns are fixed for the process)."""
    lookup = getattr(app, "get_backend_for_host", None)
    if lookup is not None and not hasattr(lookup, "cache_info"):
        app.get_backend_for_host = functools.lru_cache(maxsize=512)(lookup)
