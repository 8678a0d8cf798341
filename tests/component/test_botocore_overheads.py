"""botocore's JSON serializer planned per shape (reawake_tools.local.botocore_overheads) writes the
bytes botocore writes, for DynamoDB's requests and others of the JSON protocol."""

from __future__ import annotations

import datetime
import decimal
import inspect
from typing import Any

import botocore.session
import pytest
from botocore.serialize import JSONSerializer, create_serializer

from reawake_tools.local import botocore_overheads


@pytest.fixture(autouse=True)
def applied() -> None:
    botocore_overheads.apply()


EVERY_TYPE = {"s": {"S": "佐藤 太郎"}, "n": {"N": "-1.5"}, "b": {"B": b"\x00\xff"}, "sb": {"B": "text as blob"},
              "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", bytearray(b"\x02")]},
              "t": {"BOOL": True}, "z": {"NULL": True}, "m": {"M": {}},
              "l": {"L": [{"S": "x"}, {"M": {"k": {"N": "1"}, "e": {"L": []}, "d": {"M": {"q": {"BOOL": False}}}}}]}}

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "table", "Item": {"pk": {"S": "a"}, **EVERY_TYPE}, "ConditionExpression": "c",
                 "ExpressionAttributeValues": {":v": {"N": "1"}}}},
        {"Update": {"Key": {"pk": {"S": "a"}}, "TableName": "table", "UpdateExpression": "SET a = :v",
                    "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": {":v": {"B": b"q"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Delete": {"TableName": "table", "Key": {"pk": {"S": "b"}}}},
        {"ConditionCheck": {"TableName": "table", "Key": {"pk": {"S": "c"}}, "ConditionExpression": "x"}}],
        "ClientRequestToken": "token", "ReturnConsumedCapacity": "TOTAL"}),
    ("dynamodb", "Query", {"TableName": "table", "IndexName": "due", "KeyConditionExpression": "pk = :p",
                           "Limit": 25, "ScanIndexForward": False, "ConsistentRead": True,
                           "ExclusiveStartKey": {"pk": {"S": "a"}, "n": {"N": "3"}},
                           "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    ("dynamodb", "Scan", {"TableName": "table", "Segment": 1, "TotalSegments": 4, "ProjectionExpression": "a"}),
    ("dynamodb", "BatchWriteItem", {"RequestItems": {"table": [
        {"PutRequest": {"Item": {"pk": {"S": "a"}, **EVERY_TYPE}}}, {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}]}}),
    ("dynamodb", "BatchGetItem", {"RequestItems": {"table": {"Keys": [{"pk": {"S": "a"}}],
                                                             "AttributesToGet": ["pk"]}}}),
    ("dynamodb", "CreateTable", {"TableName": "table", "BillingMode": "PAY_PER_REQUEST",
                                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                 "Tags": [{"Key": "k", "Value": "v"}]}),
    ("dynamodb", "RestoreTableToPointInTime", {"SourceTableName": "table", "TargetTableName": "other",
                                               "RestoreDateTime": datetime.datetime(2026, 11, 24, 1, 2, 3)}),
    ("dynamodbstreams", "GetRecords", {"ShardIterator": "it" * 10, "Limit": 1000}),
    ("sqs", "SendMessage", {"QueueUrl": "https://q", "MessageBody": "本文",
                            "MessageAttributes": {"a": {"DataType": "Binary", "BinaryValue": b"\x01"}}}),
    ("cloudwatch", "PutMetricData", {"Namespace": "n", "MetricData": [
        {"MetricName": "m", "Value": decimal.Decimal("1.5"), "Timestamp": datetime.datetime(2026, 1, 1),
         "Values": [1.0, 2.5], "Dimensions": [{"Name": "d", "Value": "v"}]}]}),
    ("stepfunctions", "StartExecution", {"stateMachineArn": "arn:aws:states:::stateMachine:x", "input": "{}"}),
]


def _bodies() -> list[Any]:
    session = botocore.session.get_session()
    out = []
    for service, operation, params in CALLS:
        model = session.get_service_model(service)
        serializer = create_serializer(model.metadata["protocol"], include_validation=True)
        out.append(serializer.serialize_to_request(params, model.operation_model(operation)))
    return out


def test_request_bodies_are_botocores_bytes() -> None:
    ours = _bodies()
    with botocore_overheads.stock():
        theirs = _bodies()
    assert [r["body"] for r in ours] == [r["body"] for r in theirs]
    assert ours == theirs  # headers, method, url too
    assert b'"b": {"B": "AP8="}' in ours[0]["body"]  # the control: a blob, base64 by botocore's own method


def test_the_botocore_internals_the_plan_repeats() -> None:
    with botocore_overheads.stock():
        stock = JSONSerializer._serialize
    assert JSONSerializer._serialize is not stock
    # The botocore internals the plan repeats: the dispatch by type name, the structure walk over the
    # value's members with their serialized names, maps by key, lists item by item, the default as is.
    assert "f'_serialize_type_{shape.type_name}'" in inspect.getsource(stock)
    structure = inspect.getsource(JSONSerializer._serialize_type_structure)
    for line in ("for member_key, member_value in value.items():", "member_shape = members[member_key]",
                 "member_key = member_shape.serialization['name']", "if shape.is_document_type:"):
        assert line in structure
    assert "self._serialize(map_obj, sub_value, shape.value, sub_key)" in inspect.getsource(
        JSONSerializer._serialize_type_map)
    assert 'self._serialize(wrapper, list_item, shape.member, "__current__")' in inspect.getsource(
        JSONSerializer._serialize_type_list)
    assert "serialized[key] = value" in inspect.getsource(JSONSerializer._default_serialize)
    assert "self._serialize(body, parameters, input_shape)" in inspect.getsource(JSONSerializer.serialize_to_request)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*path, key))
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            out += _paths(inner, (*path, i))
    return out


def _mutated(params: Any, path: tuple[Any, ...], how: str, rng: Any) -> Any:
    import copy

    out = copy.deepcopy(params)
    if not path:
        return {"Unknown": 1} if how == "unknown" else out
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "unknown" and isinstance(parent[last], dict):
        parent[last]["NotAMember"] = "x"
    elif how == "empty":
        parent[last] = type(parent[last])() if isinstance(parent[last], str | list | dict | bytes) else 0
    elif how == "negative":
        parent[last] = -1
    else:
        parent[last] = rng.choice([1, 1.5, True, None, "s", b"b", [], {}, ("t",), decimal.Decimal("2")])
    return out


def test_the_planned_check_passes_only_what_botocores_validator_passes() -> None:
    """Every call above and thousands of broken variants (a value of another type, a required member
    removed, an unknown member, an empty string or list, a negative number): whenever the planned
    check passes parameters, botocore's validator reports nothing for them; and it passes the valid
    calls (the control: it is used). What it does not pass goes to botocore's validator, whose
    report the caller gets."""
    import random

    from botocore.validate import ParamValidator

    session = botocore.session.get_session()
    rng = random.Random(5)
    validator = ParamValidator()
    checked = passed = 0
    for service, operation, params in CALLS:
        shape = session.get_service_model(service).operation_model(operation).input_shape
        assert not validator.validate(params, shape).has_errors()
        timestamps = operation in ("RestoreTableToPointInTime", "PutMetricData")  # left to botocore
        assert _planned_verdict(validator, params, shape) is not timestamps, (service, operation)
        for path in _paths(params):
            for how in ("type", "type", "delete", "unknown", "empty", "negative"):
                broken = _mutated(params, path, how, rng)
                with botocore_overheads.stock():
                    report = validator.validate(broken, shape)
                verdict = _planned_verdict(validator, broken, shape)
                assert not (verdict and report.has_errors()), (operation, path, how, report.generate_report())
                ours = validator.validate(broken, shape)
                assert ours.generate_report() == report.generate_report()
                checked += 1
                passed += verdict
    assert checked > 500 and 0 < passed < checked


def _planned_verdict(validator: Any, params: Any, shape: Any) -> bool:
    """Whether the planned check alone passed these parameters (botocore's validator not called)."""
    from unittest import mock

    with botocore_overheads.stock():
        botocores = type(validator).validate
    with mock.patch.object(type(validator), "_validate", side_effect=AssertionError("botocore's walk ran")):
        try:
            botocore_overheads_validate = type(validator).validate
            assert botocore_overheads_validate is not botocores
            botocore_overheads_validate(validator, params, shape)
        except AssertionError:
            return False
    return True
