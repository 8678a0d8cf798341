"""The local stack's in-process route to its emulator serves each request exactly once.

botocore calls every ``before-send`` handler; the handler can sit on a session twice (from
BUILTIN_HANDLERS and from ``install``). Served twice, every write happened twice: the stack sent
each alert and step mail twice and added every counter twice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from reawake_tools.local import direct, inprocess


def test_a_counter_added_to_in_process_counts_once(emulator: str) -> None:
    # A session created after install (it takes the handler from BUILTIN_HANDLERS) and the default
    # session (which install registers the handler on as well): both must write once.
    for session in (boto3.session.Session(), boto3._get_default_session()):
        client = session.client("dynamodb", endpoint_url=emulator, region_name="ap-northeast-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        table = f"inprocess-{uuid.uuid4().hex[:8]}"
        client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        for _ in range(3):
            client.update_item(TableName=table, Key={"pk": {"S": "c"}}, UpdateExpression="ADD n :one",
                               ExpressionAttributeValues={":one": {"N": "1"}})
        item = client.get_item(TableName=table, Key={"pk": {"S": "c"}})["Item"]
        assert item["n"] == {"N": "3"}  # three adds counted: not 0 (not served), not 6 (served twice)


# --- the route's cuts (no signing, no Flask, moto_overheads) change no answer --------------------------


def _clients(endpoint: str) -> tuple[Any, Any]:
    session = boto3.session.Session()
    args = {"endpoint_url": endpoint, "region_name": "ap-northeast-1", "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing"}
    return session.client("dynamodb", **args), session.client("sesv2", **args)


def _answers(endpoint: str, table: str) -> list[Any]:
    """A run of calls (answers and errors), from a fresh table state each time."""
    ddb, ses = _clients(endpoint)
    out: list[Any] = []

    def call(fn: Any, **kwargs: Any) -> None:
        try:
            answer = fn(**kwargs)
            answer.pop("ResponseMetadata", None)
            out.append(answer)
        except ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"].get("Message"),
                        exc.response.get("CancellationReasons"), exc.response["ResponseMetadata"]["HTTPStatusCode"]))
        except ParamValidationError as exc:
            out.append(("ParamValidationError", str(exc)))

    item = {"pk": {"S": "lead#1"}, "sk": {"S": "profile"}, "name": {"S": "佐藤 太郎"}, "n": {"N": "1"},
            "tags": {"SS": ["a", "b"]}, "last": {"M": {"page_view": {"S": "2026-11-01"}, "d": {"L": [{"N": "2"}]}}}}
    key = {"pk": {"S": "lead#1"}, "sk": {"S": "profile"}}
    call(ddb.put_item, TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    call(ddb.put_item, TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)",
         ReturnValuesOnConditionCheckFailure="ALL_OLD")  # ConditionalCheckFailed, the old item
    call(ddb.get_item, TableName=table, Key=key, ConsistentRead=True)
    call(ddb.update_item, TableName=table, Key=key, UpdateExpression="ADD n :one SET #w = :w",
         ExpressionAttributeNames={"#w": "when"}, ExpressionAttributeValues={":one": {"N": "1"}, ":w": {"S": "x"}},
         ReturnValues="ALL_NEW")
    call(ddb.query, TableName=table, KeyConditionExpression="pk = :p",
         ExpressionAttributeValues={":p": {"S": "lead#1"}})
    call(ddb.transact_write_items, TransactItems=[  # cancelled: the second item's condition, with reasons
        {"Put": {"TableName": table, "Item": {"pk": {"S": "lead#2"}, "sk": {"S": "profile"}}}},
        {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}])
    call(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "lead#3"}, "sk": {"S": "profile"}}}},
        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
    call(ddb.batch_get_item, RequestItems={table: {"Keys": [key, {"pk": {"S": "lead#3"}, "sk": {"S": "profile"}}],
                                                   "ConsistentRead": True}})
    call(ddb.get_item, TableName=table, Key={"pk": {"S": "lead#1"}})  # ValidationException: half a key
    call(ddb.get_item, TableName=table, Key={"pk": {"N": 1}})  # botocore's own validation
    call(ddb.get_item, TableName="no-such-table", Key=key)  # ResourceNotFoundException
    call(ses.send_email, FromEmailAddress="a@unverified.example", Destination={"ToAddresses": ["b@example.jp"]},
         Content={"Raw": {"Data": b"From: a@unverified.example\r\nSubject: x\r\n\r\nbody"}})  # refused sender
    s3 = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="ap-northeast-1",
                                        aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"{table}-bucket"
    call(s3.create_bucket, Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    call(s3.put_object, Bucket=bucket, Key="slots/2026-12-02T10:00/バッチ 1.json", Body="本文".encode())
    got = s3.get_object(Bucket=bucket, Key="slots/2026-12-02T10:00/バッチ 1.json")
    out.append({"Body": got["Body"].read().decode(), "ContentLength": got["ContentLength"]})
    call(s3.list_objects_v2, Bucket=bucket, Prefix="slots/")
    call(s3.get_object, Bucket=bucket, Key="missing")  # NoSuchKey
    for answer in out:  # times and ids differ from run to run
        if isinstance(answer, dict):
            for volatile in ("ETag", "LastModified", "Location"):
                answer.pop(volatile, None)
            for entry in answer.get("Contents", []):
                entry.pop("LastModified", None)
    answers: list[Any] = json.loads(json.dumps(out, default=str, ensure_ascii=False).replace(table, "<table>"))
    return answers


def _table(endpoint: str) -> str:
    ddb, _ = _clients(endpoint)
    table = f"inprocess-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return table


def test_the_route_answers_as_the_server_does_over_http(emulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    signed: list[str] = []
    add_auth = botocore.auth.SigV4Auth.add_auth
    monkeypatch.setattr(botocore.auth.SigV4Auth, "add_auth", lambda self, request: (signed.append(request.url),
                                                                                     add_auth(self, request))[1])
    app = inprocess._routes[emulator]
    inprocess.uninstall(emulator)  # over loopback HTTP: the server as any other process reaches it
    over_http = _answers(emulator, _table(emulator))
    assert signed, "over HTTP every request is signed (the control)"
    inprocess.install(emulator, app)
    signed.clear()
    in_process = _answers(emulator, _table(emulator))
    assert not signed, "the route signs nothing"
    assert in_process == over_http
    codes = [a[0] for a in in_process if isinstance(a, list)]
    assert codes == ["ConditionalCheckFailedException", "TransactionCanceledException", "ValidationException",
                     "ParamValidationError", "ResourceNotFoundException", "MessageRejected", "NoSuchKey"]
    assert {"Body": "本文", "ContentLength": 6} in in_process
    cancelled = next(a for a in in_process if isinstance(a, list) and a[0] == "TransactionCanceledException")
    assert [r["Code"] for r in cancelled[2]] == ["None", "ConditionalCheckFailed"]


def test_writes_on_the_route_reach_the_stream(emulator: str) -> None:
    table = _table(emulator)
    ddb, _ = _clients(emulator)
    session = boto3.session.Session()
    streams = session.client("dynamodbstreams", endpoint_url=emulator, region_name="ap-northeast-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    served = direct.Stats.calls
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"N": "1"}})
    ddb.transact_write_items(TransactItems=[{"Update": {
        "TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}}, "UpdateExpression": "ADD v :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
    assert direct.Stats.calls - served == 2  # both handed to moto as parameters (reawake_tools.local.direct)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["NewImage"]["v"]["N"]) for r in records] == [("INSERT", "1"),
                                                                                        ("MODIFY", "2")]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}


def test_the_iam_check_still_refuses_on_the_route(emulator: str) -> None:
    from reawake_tools.local import iam
    from reawake_tools.local.template import Created, load_template

    table = _table(emulator)
    enforcer = iam.install(iam.Enforcer(load_template(), Created(parameters={}, names={"Table": table})))
    session = boto3.session.Session()
    ddb = session.client("dynamodb", endpoint_url=emulator, region_name="ap-northeast-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    ses = session.client("sesv2", endpoint_url=emulator, region_name="ap-northeast-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        with iam.running_as("StepmailFunction"):
            ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})  # granted: the control
        with iam.running_as("SegmentFunction"), pytest.raises(ClientError, match="AccessDenied"):
            ses.send_email(FromEmailAddress="a@example.jp", Destination={"ToAddresses": ["b@example.jp"]},
                           Content={"Raw": {"Data": b"Subject: x\r\n\r\nbody"}})
        assert [(d.function, d.action) for d in enforcer.denials] == [("SegmentFunction", "ses:SendEmail")]
    finally:
        iam.uninstall(enforcer)
