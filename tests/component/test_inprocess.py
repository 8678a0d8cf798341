"""The local stack's in-process route to its emulator serves each request exactly once.

botocore calls every ``before-send`` handler; the handler can sit on a session twice (from
BUILTIN_HANDLERS and from ``install``). Served twice, every write happened twice: the stack sent
each alert and step mail twice and added every counter twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from reawake_tools.local import inprocess


@pytest.fixture
def emulator() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    inprocess.install(endpoint, server._server.app)  # type: ignore[union-attr]
    try:
        yield endpoint
    finally:
        inprocess.uninstall(endpoint)
        server.stop()


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
