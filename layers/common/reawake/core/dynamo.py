"""DynamoDB item conversion: Python values <-> attribute values (floats as Decimal)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, DecimalException
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeSerializer

_serializer = TypeSerializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def storable_number(number: int | float) -> bool:
    """Whether DynamoDB holds this number exactly, as ``serialize`` writes it: finite, at most 38
    significant digits (an integer counts all its digits), magnitude 1E-130 to 9.99...E+125.
    boto3's serializer raises on anything else, and rounding a customer's figure is not ours to do."""
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))):
        return False
    try:
        exact = DYNAMODB_CONTEXT.create_decimal(_to_dynamo(number))
    except (DecimalException, ValueError):
        return False
    return not exact or -130 <= exact.adjusted() <= 125  # boto3's context lets 1E-131 and 1E+126 through


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Plain dict -> DynamoDB attribute values; None values are left out."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def value(v: Any) -> Any:
    return _serializer.serialize(_to_dynamo(v))


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(number)


def _plain(attribute: dict[str, Any]) -> Any:
    """One attribute value -> a plain Python value: whole numbers as int, others as float, without
    boto3's Decimal detour (a segment run converts millions of these)."""
    ((tag, raw),) = attribute.items()
    if tag == "S" or tag == "BOOL":
        return raw
    if tag == "N":
        return _number(raw)
    if tag == "M":
        return {k: _plain(v) for k, v in raw.items()}
    if tag == "L":
        return [_plain(v) for v in raw]
    if tag == "NULL":
        return None
    if tag == "SS":
        return set(raw)
    if tag == "NS":
        return {_number(v) for v in raw}
    if tag == "B":
        return Binary(raw)
    if tag == "BS":
        return {Binary(v) for v in raw}
    raise TypeError(f"{tag} is not a DynamoDB type")


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in item.items()}


def projection_expression(paths: Sequence[tuple[str, ...]]) -> tuple[str, dict[str, str]]:
    """(``ProjectionExpression``, ``ExpressionAttributeNames``) reading only these document paths
    (each a tuple of names: a top-level attribute, or a key of a map in it); every name as a
    placeholder, since map keys hold ``@``, ``:`` and ``/`` and attribute names may be reserved words."""
    names: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    parts = []
    for path in paths:
        tokens = []
        for name in path:
            if name not in placeholders:
                placeholders[name] = f"#p{len(placeholders)}"
                names[placeholders[name]] = name
            tokens.append(placeholders[name])
        parts.append(".".join(tokens))
    return ", ".join(parts), names
