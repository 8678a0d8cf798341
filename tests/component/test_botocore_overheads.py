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
