"""botocore's JSON request serializer, planned per shape, in the local stack's process (installed with
the in-process route, ``reawake_tools.local.inprocess.install``; the functions' clients run here).

Every DynamoDB call's parameters are turned into the request body by ``JSONSerializer._serialize``,
which looks up the method for the shape's type by name and, for each structure member, the member's
shape and serialization again, for every attribute value of every item: after the emulator's own
costs were cut, the largest share of a segment run's CPU in the stack. Here the same walk goes
through a function made once per shape: the same dict (members in the order the caller gave them,
their serialized names, maps and lists as they are), so the same body bytes. What is not a plain
structure, list, map or scalar (blobs, timestamps, floats, documents) is left to botocore's own
method.

Parameter validation walked the same shapes once more, with a method call, a type check and a
range check per value (about as much CPU as the serialization). Here a checker planned per shape
answers first whether botocore's validator would find nothing to report: it applies each of
botocore's rules (container and scalar types, required and unknown members, unions, minimum
lengths and values, host labels) and answers "valid" only when every value passes them all. Any
other answer — a value that fails, a shape it does not plan (timestamps, documents, JSON-value
headers) — runs botocore's validator, whose report and ``ParamValidationError`` are what the caller
gets, as before. ``tests/component/test_botocore_overheads.py`` compares the bodies with botocore's and
the checker with botocore's validator over valid and broken parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

_applied = False
_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, botocore's, ours)
KEPT = 4096  # shapes planned (a service model has a few hundred)

Convert = Callable[[Any, Any], Any] | None  # (serializer, value) -> serialized; None: the value as it is


def apply() -> None:
    """Install (idempotent)."""
    global _applied
    if _applied:
        return
    _planned_json_serializer()
    _planned_validation()
    _applied = True


def stock() -> AbstractContextManager[None]:
    """botocore's own code for the duration (the tests' reference)."""
    from reawake_tools.local.moto_overheads import originals_of

    return originals_of(_replaced)


def _planned_json_serializer() -> None:
    from botocore import serialize

    JSONSerializer: Any = serialize.JSONSerializer  # botocore's stubs leave its internals out

    serialize_as_botocore: Callable[..., None] = JSONSerializer._serialize
    structure = JSONSerializer._serialize_type_structure
    mapping, listing = JSONSerializer._serialize_type_map, JSONSerializer._serialize_type_list
    # id(shape) -> (shape, how it serializes); the shapes live as long as the client's service model
    kept: dict[int, tuple[Any, Convert]] = {}

    def converter(shape: Any) -> Convert:
        found = kept.get(id(shape))
        if found is not None and found[0] is shape:
            return found[1]
        method = getattr(JSONSerializer, f"_serialize_type_{shape.type_name}", None)
        convert: Convert = functools.partial(as_botocore, shape)
        if method is None:
            convert = None  # _default_serialize: the value as it is
        elif method is structure and not shape.is_document_type:
            convert = structure_of(shape)
        elif method is mapping:
            convert = map_of(shape)
        elif method is listing:
            convert = list_of(shape)
        if len(kept) >= KEPT:
            kept.clear()
        kept[id(shape)] = (shape, convert)
        return convert

    def as_botocore(shape: Any, serializer: Any, value: Any) -> Any:
        wrapper: dict[str, Any] = {}
        serialize_as_botocore(serializer, wrapper, value, shape, "__current__")
        return wrapper["__current__"]

    def structure_of(shape: Any) -> Convert:
        members = shape.members
        rows: dict[str, tuple[str, Convert]] = {}  # member -> (its serialized name, converter), at first use

        def row(member_key: str) -> tuple[str, Convert]:
            found = rows.get(member_key)
            if found is None:
                member_shape = members[member_key]  # an unknown member: botocore's KeyError
                found = rows[member_key] = (member_shape.serialization.get("name", member_key),
                                            converter(member_shape))
            return found

        def convert(serializer: Any, value: Any) -> Any:
            serialized = {}
            for member_key, member_value in value.items():
                name, inner = row(member_key)
                serialized[name] = member_value if inner is None else inner(serializer, member_value)
            return serialized

        return convert

    def map_of(shape: Any) -> Convert:
        def convert(serializer: Any, value: Any) -> Any:
            inner = converter(shape.value)
            if inner is None:
                return {sub_key: sub_value for sub_key, sub_value in value.items()}
            return {sub_key: inner(serializer, sub_value) for sub_key, sub_value in value.items()}

        return convert

    def list_of(shape: Any) -> Convert:
        def convert(serializer: Any, value: Any) -> Any:
            inner = converter(shape.member)
            return [item for item in value] if inner is None else [inner(serializer, item) for item in value]

        return convert

    def _serialize(self: Any, serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        if type(self) is not JSONSerializer or self.MAP_TYPE is not dict:
            serialize_as_botocore(self, serialized, value, shape, key)
            return
        if key is None:  # the input structure: botocore writes its members into the body it was given
            if shape.type_name == "structure" and not shape.is_document_type:
                serialized.update(converter(shape)(self, value))  # type: ignore[misc]
            else:
                serialize_as_botocore(self, serialized, value, shape, key)
            return
        convert = converter(shape)
        serialized[key] = value if convert is None else convert(self, value)

    _replaced.append((JSONSerializer, "_serialize", serialize_as_botocore, _serialize))
    JSONSerializer._serialize = _serialize


Check = Callable[[Any], bool]  # a value -> whether botocore's validator would report nothing for it


def _planned_validation() -> None:
    import decimal

    from botocore import validate
    from botocore.utils import is_json_value_header

    Validator: Any = validate.ParamValidator
    validate_as_botocore = Validator.validate
    numbers = (float, decimal.Decimal, int)
    scalars: dict[str, tuple[type, ...]] = {"float": numbers, "double": numbers, "integer": (int,), "long": (int,),
                                            "string": (str,)}  # ParamValidator.SCALAR_TYPES
    kept: dict[int, tuple[Any, Check]] = {}  # id(shape) -> (shape, its check)

    def unsure(_: Any) -> bool:
        return False

    def check_of(shape: Any) -> Check:
        found = kept.get(id(shape))
        if found is not None and found[0] is shape:
            return found[1]
        kind = shape.type_name
        check: Check = unsure
        if is_json_value_header(shape) or (kind == "structure" and shape.is_document_type):
            check = unsure
        elif kind == "structure":
            check = structure_check(shape)
        elif kind == "list":
            check = list_check(shape)
        elif kind == "map":
            check = map_check(shape)
        elif kind in ("string", "integer", "long", "float", "double"):
            check = scalar_check(shape, scalars[kind], sized=kind == "string")
        elif kind == "boolean":
            check = functools.partial(_is_instance, (bool,))
        elif kind == "blob":
            check = _blob
        if len(kept) >= KEPT:
            kept.clear()
        kept[id(shape)] = (shape, check)
        return check

    def least(shape: Any) -> Any:
        """range_check's minimum: the shape's min, else 1 for a host label, else none."""
        if "min" in shape.metadata:
            return shape.metadata["min"]
        if hasattr(shape, "serialization") and shape.serialization.get("hostLabel"):
            return 1
        return None

    def scalar_check(shape: Any, types: tuple[type, ...], sized: bool) -> Check:
        minimum = least(shape)

        def check(value: Any) -> bool:
            if not isinstance(value, types):
                return False
            measured: Any = len(value) if sized else value  # type: ignore[arg-type]
            return minimum is None or not measured < minimum

        return check

    def structure_check(shape: Any) -> Check:
        members = shape.members
        required = list(shape.metadata.get("required", []))
        union = bool(shape.is_tagged_union)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            if union and len(value) != 1:
                return False
            for name in required:
                if name not in value:
                    return False
            for name, member_value in value.items():
                member = members.get(name)
                if member is None or not check_of(member)(member_value):
                    return False
            return True

        return check

    def list_check(shape: Any) -> Check:
        minimum = least(shape)

        def check(value: Any) -> bool:
            if not isinstance(value, (list, tuple)):
                return False
            if minimum is not None and len(value) < minimum:
                return False
            inner = check_of(shape.member)
            return all(inner(item) for item in value)

        return check

    def map_check(shape: Any) -> Check:
        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            keys, values = check_of(shape.key), check_of(shape.value)
            return all(keys(k) and values(v) for k, v in value.items())

        return check

    def validate_planned(self: Any, params: Any, shape: Any) -> Any:
        if type(self) is validate.ParamValidator and check_of(shape)(params):
            return validate.ValidationErrors()  # what botocore's walk returns when it finds nothing
        return validate_as_botocore(self, params, shape)

    _replaced.append((Validator, "validate", validate_as_botocore, validate_planned))
    Validator.validate = validate_planned


def _is_instance(types: tuple[type, ...], value: Any) -> bool:
    return isinstance(value, types)


def _blob(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, str)) or hasattr(value, "read")
