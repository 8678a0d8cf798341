"""Lambda event filtering as the local stream poller applies it (EventBridge pattern syntax)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reawake_tools.local.streams import PatternError, lambda_record, matches, parse_filters, passes
from reawake_tools.local.template import load_template


def revisit_record(event_name: str = "INSERT", revisit: Any = True, key: str = "BOOL") -> dict[str, Any]:
    image: dict[str, Any] = {"pk": {"S": "LEAD#a"}, "sk": {"S": "EV#1"}, "kind": {"S": "page_view"}}
    if revisit is not None:
        image["revisit"] = {key: revisit}
    return {"eventName": event_name, "dynamodb": {"SequenceNumber": "1", "NewImage": image}}


def template_filters() -> list[dict[str, Any]]:
    props = load_template()["Resources"]["AlertFunction"]["Properties"]["Events"]["Revisits"]["Properties"]
    return parse_filters(props["FilterCriteria"])


def test_the_templates_filter_lets_only_revisit_inserts_through() -> None:
    filters = template_filters()
    assert passes(filters, revisit_record())
    assert not passes(filters, revisit_record(revisit=False))
    assert not passes(filters, revisit_record(revisit=None)), "a profile or another item has no revisit flag"
    assert not passes(filters, revisit_record("MODIFY")), "an update of an event never alerts again"
    assert not passes(filters, revisit_record("REMOVE"))
    assert not passes(filters, revisit_record(revisit="true", key="S")), "JSON types matter: true is not \"true\""
    assert not passes(filters, {"eventName": "INSERT"}), "no image at all"


def test_exact_values_and_lists() -> None:
    assert matches({"a": ["x", "y"]}, {"a": "y"})
    assert not matches({"a": ["x"]}, {"a": "z"})
    assert matches({"a": [1]}, {"a": 1.0}), "numbers compare as numbers"
    assert not matches({"a": [1]}, {"a": True})
    assert matches({"a": ["x"]}, {"a": ["z", "x"]}), "a list value matches when any element does"
    assert not matches({"a": ["x"]}, {}), "a missing field matches no value"
    assert matches({"a": [None]}, {"a": None})
    assert matches({"a": {"b": {"c": ["d"]}}}, {"a": {"b": {"c": "d", "e": 1}}, "f": 2}), "extra fields are fine"
    assert not matches({"a": {"b": ["c"]}}, {"a": "not an object"})


def test_matchers() -> None:
    assert matches({"a": [{"prefix": "EV#"}]}, {"a": "EV#12"})
    assert not matches({"a": [{"prefix": "EV#"}]}, {"a": "PROFILE"})
    assert matches({"a": [{"suffix": ".gif"}]}, {"a": "x.gif"})
    assert matches({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"})
    assert not matches({"a": [{"anything-but": "x"}]}, {"a": "x"})
    assert not matches({"a": [{"anything-but": "x"}]}, {}), "anything-but needs the field"
    assert matches({"a": [{"exists": False}]}, {})
    assert not matches({"a": [{"exists": True}]}, {})
    assert matches({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5})
    assert not matches({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 6})
    assert matches({"a": [{"equals-ignore-case": "HOT"}]}, {"a": "hot"})
    assert matches({"a": ["x", {"prefix": "y"}]}, {"a": "yes"}), "values and matchers mix in one list"


@pytest.mark.parametrize("pattern", [{"a": "x"}, {"a": [["x"]]}, {"a": [{"prefix": "x", "suffix": "y"}]},
                                     {"a": [{"wildcard": "*"}]}, {"a": [{"numeric": [">"]}]}])
def test_bad_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(PatternError):
        matches(pattern, {"a": 1})
        parse_filters({"Filters": [{"Pattern": json.dumps(pattern)}]})


def test_any_filter_of_several_lets_a_record_through() -> None:
    filters = parse_filters({"Filters": [{"Pattern": '{"a": ["x"]}'}, {"Pattern": '{"b": ["y"]}'}]})
    assert passes(filters, {"b": "y"}) and not passes(filters, {"a": "y"})
    assert passes([], {"anything": 1}), "no FilterCriteria: every record"


def test_records_are_shaped_as_lambda_delivers_them() -> None:
    from datetime import UTC, datetime

    raw = {"eventID": "1", "eventName": "INSERT", "awsRegion": "us-east-1",
           "dynamodb": {"ApproximateCreationDateTime": datetime(2026, 11, 24, tzinfo=UTC), "SequenceNumber": "7"}}
    shaped = lambda_record(raw, "arn:stream", "ap-northeast-1")
    assert shaped["eventSource"] == "aws:dynamodb" and shaped["eventSourceARN"] == "arn:stream"
    assert shaped["awsRegion"] == "ap-northeast-1"
    assert shaped["dynamodb"]["ApproximateCreationDateTime"] == 1795478400.0
    json.dumps(shaped)


def test_records_kept_are_decided_on_the_record_as_lambda_shapes_it() -> None:
    """``kept_records`` shapes only the records it keeps; it keeps exactly those whose shaped record
    passes, for patterns reading shaped values (a time, bytes, a set, the fields the poller adds)."""
    import random
    from datetime import UTC, datetime

    from reawake_tools.local.streams import kept_records

    rng = random.Random(3)

    def record(n: int) -> dict[str, Any]:
        image: dict[str, Any] = {"pk": {"S": f"LEAD#{n}"}, "blob": {"B": bytes([n % 7])}, "tags": {"SS": {"a", "b"}},
                                 "m": {"M": {"x": {"N": str(n % 3)}}}}
        if n % 2:
            image["revisit"] = {"BOOL": n % 4 == 1}
        return {"eventID": str(n), "eventName": rng.choice(["INSERT", "MODIFY", "REMOVE"]), "eventVersion": "1.0",
                "dynamodb": {"ApproximateCreationDateTime": datetime(2026, 11, 24, n % 24, tzinfo=UTC),
                             "SequenceNumber": str(n), "NewImage": image, "Keys": {"pk": image["pk"]}}}

    raws = [record(n) for n in range(120)]
    pattern_sets = [
        template_filters(),
        [{"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">=", 1795500000]}]}}],
        [{"dynamodb": {"NewImage": {"blob": {"B": ["AQ=="]}}}}],  # bytes([1]) as Lambda sees it
        [{"dynamodb": {"NewImage": {"m": {"M": {"x": {"N": ["2"]}}}}}}, {"eventName": ["REMOVE"]}],
        [{"eventSource": [{"prefix": "aws:"}], "awsRegion": ["ap-northeast-1"], "eventVersion": ["1.0"]}],
        [{"dynamodb": {"NewImage": {"revisit": [{"exists": False}]}}}],
        [{"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}],
        [{"dynamodb": {"NewImage": [{"exists": True}]}}],
        [],
    ]
    for patterns in pattern_sets:
        shaped = [lambda_record(r, "arn:stream", "ap-northeast-1") for r in raws]
        expected = [r for r in shaped if passes(patterns, r)]
        assert kept_records(patterns, raws, "arn:stream", "ap-northeast-1") == expected, patterns
    kept_counts = [len(kept_records(p, raws, "arn:stream", "ap-northeast-1")) for p in pattern_sets]
    assert all(0 < kept_counts[i] < len(raws) for i in (0, 1, 2, 3, 5)) and kept_counts[-1] == len(raws)  # control
