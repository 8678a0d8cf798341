"""The number rule (docs/decisions.md, "Numbers"): a JSON number in props is taken only when DynamoDB holds
it exactly as we write it; the round trip through the item serializer gives it back unchanged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reawake.core import dynamo
from reawake.core.events import BrowserEventIn

EVENT = '{"id":"event0001","type":"page_view","ts":1,"visitor_id":"visitor01","url":"https://www.example.co.jp/",'


def parse(number: str) -> BrowserEventIn:
    return BrowserEventIn.model_validate_json(EVENT + '"props":{"n":' + number + "}}")


def as_decimal(value: float) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def round_trip(value: float) -> float:
    item = dynamo.serialize({"props": {"n": value}})
    return dynamo.deserialize(item)["props"]["n"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "5e-324", "1e-131", "1e126",
                                    "1" + "0" * 40, "9" * 39])
def test_numbers_dynamodb_cannot_hold_are_refused_naming_the_field(number: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(number)
    assert info.value.errors()[0]["loc"][:2] == ("props", "n")


@pytest.mark.parametrize("number", ["1e-130", "-9.9e125", "0", "-0.0", "9" * 38, "0.1", "1e40", "123.456"])
def test_numbers_at_the_edges_round_trip_exactly(number: str) -> None:
    value = parse(number).props["n"]
    assert as_decimal(round_trip(value)) == Decimal(number)  # type: ignore[arg-type]


@given(st.integers() | st.floats() | st.floats(min_value=-1e-125, max_value=1e-125)
       | st.integers(min_value=10**36, max_value=10**40) | st.decimals(allow_nan=False, allow_infinity=False).map(str))
@settings(max_examples=500)
def test_any_json_number_is_refused_or_round_trips_exactly(number: object) -> None:
    text = number if isinstance(number, str) else json.dumps(number)
    try:
        value = parse(text).props["n"]
    except ValidationError as exc:
        assert exc.errors()[0]["loc"][:2] == ("props", "n")
        return
    assert as_decimal(round_trip(value)) == as_decimal(value)  # type: ignore[arg-type]
    if not isinstance(number, str):
        assert value == json.loads(text)
