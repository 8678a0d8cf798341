"""The hot DynamoDB calls handed to moto's handler as parameters (``reawake_tools.local.direct``) give
the answers and errors the in-process route gives (the route itself is compared with loopback HTTP in
``test_inprocess.py``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber

from reawake_tools.local import direct

REGION = "ap-northeast-1"


def _client(endpoint: str, service: str = "dynamodb") -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=REGION,
                                          aws_access_key_id="testing", aws_secret_access_key="testing")


def _table(endpoint: str) -> str:
    table = f"direct-{uuid.uuid4().hex[:8]}"
    _client(endpoint).create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return table


def _answers(endpoint: str, table: str) -> list[Any]:
    """A run of the hot calls (answers, errors, pages) on a fresh table."""
    ddb = _client(endpoint)
    out: list[Any] = []

    def call(fn: Any, **kwargs: Any) -> None:
        try:
            answer = fn(**kwargs)
            metadata = answer.pop("ResponseMetadata")
            out.append([answer, metadata["HTTPStatusCode"], sorted(metadata["HTTPHeaders"])])
        except ClientError as exc:
            out.append([exc.response["Error"]["Code"], type(exc).__name__, exc.response["Error"]["Message"],
                        exc.response.get("CancellationReasons"),
                        exc.response.get("Item"), exc.response["ResponseMetadata"]["HTTPStatusCode"]])
        except ParamValidationError as exc:
            out.append(["ParamValidationError", str(exc)])

    item = {"pk": {"S": "lead#1"}, "sk": {"S": "PROFILE"}, "name": {"S": "佐藤 太郎"}, "n": {"N": "1"},
            "tags": {"SS": ["a", "b"]}, "photo": {"B": b"\x00\xffjpeg"}, "note": {"B": "メモ"},
            "last": {"M": {"page_view": {"N": "1764000000000"}, "seen": {"L": [{"BOOL": True}, {"NULL": True}]}}}}
    key = {"pk": {"S": "lead#1"}, "sk": {"S": "PROFILE"}}
    call(ddb.put_item, TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)",
         ReturnConsumedCapacity="TOTAL")
    call(ddb.put_item, TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)",
         ReturnValuesOnConditionCheckFailure="ALL_OLD")  # ConditionalCheckFailed with the old item
    call(ddb.get_item, TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    call(ddb.get_item, TableName=table, Key=key, ProjectionExpression="#n, tags",
         ExpressionAttributeNames={"#n": "name"})
    call(ddb.update_item, TableName=table, Key=key, UpdateExpression="ADD n :one SET #w = :w REMOVE tags",
         ExpressionAttributeNames={"#w": "when"}, ExpressionAttributeValues={":one": {"N": "1"}, ":w": {"S": "x"}},
         ReturnValues="ALL_NEW")
    call(ddb.update_item, TableName=table, Key=key, UpdateExpression="SET n = :v", ConditionExpression="n = :old",
         ExpressionAttributeValues={":v": {"N": "9"}, ":old": {"N": "7"}})  # ConditionalCheckFailed
    for number in range(2, 7):
        call(ddb.put_item, TableName=table, Item={"pk": {"S": "lead#1"}, "sk": {"S": f"MEMBER#{number}"}})
    pages = [dict(page) for page in ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :p AND begins_with(sk, :m)", Limit=2,
        ExpressionAttributeValues={":p": {"S": "lead#1"}, ":m": {"S": "MEMBER#"}})]
    out.append([[page["Items"], page.get("LastEvaluatedKey"), page["Count"]] for page in pages])
    call(ddb.query, TableName=table, KeyConditionExpression="pk = :p", ScanIndexForward=False, Select="COUNT",
         ExpressionAttributeValues={":p": {"S": "lead#1"}})
    call(ddb.transact_write_items, TransactItems=[  # cancelled by its second item, with the reasons
        {"Put": {"TableName": table, "Item": {"pk": {"S": "lead#2"}, "sk": {"S": "PROFILE"}}}},
        {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)",
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    call(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "lead#3"}, "sk": {"S": "PROFILE"}}}},
        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}], ReturnConsumedCapacity="TOTAL")
    call(ddb.transact_write_items, TransactItems=[  # moto's own validation: an unused name
        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeNames": {"#unused": "x"}, "ExpressionAttributeValues": {":a": {"S": "a"}}}}])
    call(ddb.batch_get_item, RequestItems={table: {"Keys": [key, {"pk": {"S": "lead#3"}, "sk": {"S": "PROFILE"}}],
                                                   "ConsistentRead": True}})
    call(ddb.get_item, TableName=table, Key={"pk": {"S": "lead#1"}})  # ValidationException: half a key
    call(ddb.get_item, TableName=table, Key={"pk": {"N": 1}})  # botocore's own validation
    call(ddb.get_item, TableName="no-such-table", Key=key)  # ResourceNotFoundException
    call(ddb.update_item, TableName=table, Key=key, UpdateExpression="SET = broken")  # moto's parse error
    answers: list[Any] = json.loads(json.dumps(out, default=repr, ensure_ascii=False).replace(table, "<table>"))
    return answers


def test_the_hot_calls_answer_as_the_route_does(emulator: str) -> None:
    with direct.stock():
        before = direct.Stats.calls
        on_route = _answers(emulator, _table(emulator))
        assert direct.Stats.calls == before, "stock(): every call takes the route"
    served = direct.Stats.calls
    handed = _answers(emulator, _table(emulator))
    assert direct.Stats.calls - served == 22, "every hot call but the one botocore refused went the direct way"
    assert handed == on_route
    assert direct._answers, "small answers were serialized once and reused (the control of that cut)"
    errors = [a[0] for a in handed if isinstance(a, list) and isinstance(a[0], str)]
    assert errors == ["ConditionalCheckFailedException", "ConditionalCheckFailedException",
                      "TransactionCanceledException", "ValidationException", "ValidationException",
                      "ParamValidationError", "ResourceNotFoundException", "ValidationException"]
    refused = handed[1]
    assert refused[1] == "ConditionalCheckFailedException"  # the modeled class botocore raises
    assert refused[4]["name"] == {"S": "佐藤 太郎"}  # the old item, as ReturnValuesOnConditionCheckFailure asked
    cancelled = next(a for a in handed if a[0] == "TransactionCanceledException")
    assert [r["Code"] for r in cancelled[3]] == ["None", "ConditionalCheckFailed"]
    assert cancelled[3][1]["Item"]["pk"] == {"S": "lead#1"}
    pages = next(a for a in handed if isinstance(a, list) and a and isinstance(a[0], list) and len(a[0]) == 3
                 and isinstance(a[0][2], int))
    assert [[i["sk"]["S"] for i in page[0]] for page in pages] == [
        ["MEMBER#2", "MEMBER#3"], ["MEMBER#4", "MEMBER#5"], ["MEMBER#6"]]
    got = handed[2][0]
    assert got["ConsumedCapacity"]["TableName"] == "<table>" and "photo" in got["Item"]


def test_blobs_are_stored_as_the_bytes_botocore_would_send(emulator: str) -> None:
    table = _table(emulator)
    ddb = _client(emulator)
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"S": "b"}, "raw": {"B": b"\x00\xff"},
                                        "text": {"B": "日本"}, "set": {"BS": [b"a", "b"]}})
    with direct.stock():  # read back over the route: what moto stored
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"S": "b"}})["Item"]
    assert item["raw"] == {"B": b"\x00\xff"} and item["text"] == {"B": "日本".encode()}
    assert sorted(item["set"]["BS"]) == [b"a", b"b"]


def test_the_iam_check_still_refuses_a_call_handed_to_moto(emulator: str) -> None:
    from reawake_tools.local import iam
    from reawake_tools.local.template import Created, load_template

    table = _table(emulator)
    enforcer = iam.install(iam.Enforcer(load_template(), Created(parameters={}, names={"Table": table})))
    ddb = _client(emulator)
    key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    try:
        served = direct.Stats.calls
        with iam.running_as("ReportFunction"):
            assert "Item" not in ddb.get_item(TableName=table, Key=key)  # granted: the control
            with pytest.raises(ClientError, match="AccessDenied"):
                ddb.put_item(TableName=table, Item=key)
        assert direct.Stats.calls - served == 1, "the granted call went the direct way; the refused one nowhere"
        assert [(d.function, d.action) for d in enforcer.denials] == [("ReportFunction", "dynamodb:PutItem")]
        with direct.stock():
            assert "Item" not in ddb.get_item(TableName=table, Key=key)  # nothing was written
    finally:
        iam.uninstall(enforcer)


def test_a_stubbed_client_takes_the_route(emulator: str) -> None:
    ddb = _client(emulator)
    served = direct.Stats.calls
    with Stubber(ddb) as stub:
        stub.add_response("get_item", {"Item": {"pk": {"S": "stubbed"}}})
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "x"}})["Item"] == {"pk": {"S": "stubbed"}}
    assert direct.Stats.calls == served
    table = _table(emulator)
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})  # the control
    assert direct.Stats.calls == served + 1


def test_the_operations_inputs_hold_only_what_the_parse_takes_as_is() -> None:
    """``direct._moto_params`` skips the JSON: right only for shapes whose JSON is the value itself
    (and blobs, turned into bytes). A botocore model that adds a timestamp, a float or a document to
    one of these inputs fails here."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    kinds: set[str] = set()

    def walk(shape: Any, seen: set[str]) -> None:
        if shape.name in seen:
            return
        seen.add(shape.name)
        kinds.add(shape.type_name)
        for inner in (*getattr(shape, "members", {}).values(), getattr(shape, "member", None),
                      getattr(shape, "key", None), getattr(shape, "value", None)):
            if inner is not None:
                walk(inner, seen)

    for operation in direct.OPERATIONS:
        walk(model.operation_model(operation).input_shape, set())
    assert kinds <= {"structure", "list", "map", "string", "boolean", "integer", "long", "blob"}
    assert "blob" in kinds  # the walk reaches AttributeValue's B (the control)


def test_the_handler_is_set_up_as_the_route_sets_it_up(emulator: str) -> None:
    """What a DynamoDB handler reads of ``setup_class`` (region, account, action, headers moto reads)
    is what the direct way gives it."""
    from moto.dynamodb.responses import DynamoHandler

    seen: list[dict[str, Any]] = []
    original = DynamoHandler.call_action

    def record(self: Any) -> Any:
        seen.append({"region": self.region, "account": self.current_account, "access_key": self.access_key,
                     "partition": self.partition, "action": self._get_action(), "method": self.method,
                     "werkzeug": self.is_werkzeug_request, "params": self.params,
                     "target": self.headers.get("x-amz-target"), "content_type": self.headers.get("Content-Type"),
                     "response_headers": dict(self.response_headers)})
        return original(self)

    table = _table(emulator)
    ddb = _client(emulator)
    DynamoHandler.call_action = record  # type: ignore[method-assign]
    try:
        with direct.stock():
            ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
        ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]
    assert len(seen) == 2 and seen[0]["region"] == REGION
    assert seen[1] == seen[0]
