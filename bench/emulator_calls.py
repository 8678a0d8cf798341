"""CPU per emulator call on the local stack's in-process route, against moto's own ``mock_aws``.

Every feature of the local stack pays the cost of its AWS calls: botocore (serialize, sign, parse),
moto's dispatch and answer, and the local IAM check. One call of each common kind, on the template's
table as the step-mail function makes them (its role checked on both routes):

- baseline: the same calls through ``mock_aws`` (moto's own in-process route: botocore's before-send
  handed to moto's handler), moto's per-request code as shipped (``moto_overheads.stock()``), with
  the stack's backend fixes (``moto_patches``: without them stock moto's TransactWriteItems copies
  the whole table and its Query sorts it, and the ratio would show those, not the route);
- route: ``reawake local``'s emulator (moto's server, the same ``moto_patches``) reached through
  ``reawake_tools.local.inprocess``, as the stack's own functions reach it.

Both run in the same process on the same table, taking turns, so the table's size and the
machine's load weigh on both alike.

CPU microseconds per call (process CPU time, so a busy machine inflates both routes alike), the median
of ROUNDS rounds of CALLS calls each, and the ratio route / baseline.

    python -m bench.emulator_calls [CALLS]     (default 200; ~2 minutes)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from email.message import EmailMessage
from typing import Any

from bench.common import report, set_fake_aws_env

CALLS = 200
ROUNDS = 5
FUNCTION = "StepmailFunction"  # its role may make every call below
SENDER = "news@example.co.jp"


def lead_item(n: int) -> dict[str, Any]:
    """A lead profile of the size the stack stores (a few dozen attributes, nested maps)."""
    last = {k: {"S": f"2026-11-{10 + i:02d}T09:00:00+09:00"} for i, k in enumerate(
        ["page_view", "webinar_view", "purchase", "download", "site:www.example.co.jp", "product_use"])}
    return {"pk": {"S": f"lead#{n:08d}"}, "sk": {"S": "profile"}, "lead_key": {"S": f"{n % 16:02d}"},
            "lead_id": {"S": f"{n:08d}"}, "email": {"S": f"user{n}@example.co.jp"}, "name": {"S": "佐藤 太郎"},
            "company": {"S": "株式会社サンプル"}, "owner": {"S": "sales1@example.co.jp"}, "source": {"S": "csv"},
            "registered_at": {"S": "2025-04-01T00:00:00+09:00"}, "score": {"N": "42"}, "version": {"N": "3"},
            "attrs": {"M": {"業種": {"S": "製造"}, "従業員数": {"S": "300"}, "地域": {"S": "関東"}}},
            "last": {"M": last}, "segments": {"M": {"dormant": {"S": "2026-11-01"}}},
            "report": {"M": {"entered": {"S": "2026-11-01"}}}}


def mail_bytes() -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "user1@example.co.jp"
    message["Subject"] = "ウェビナーのご案内"
    message["List-Unsubscribe"] = "<https://www.example.co.jp/u/x>"
    message.set_content("本文です。\n" * 40)
    message.add_alternative("<p>本文です。</p>" * 40, subtype="html")
    return message.as_bytes()


class Calls:
    """One call of each kind, against the template's table (``table``) and SES."""

    def __init__(self, client: Callable[[str], Any], table: str, configuration_set: str) -> None:
        self.ddb, self.ses, self.table, self.configuration_set = client("dynamodb"), client("sesv2"), table, \
            configuration_set
        self.n = 0
        self.raw = mail_bytes()

    def seed(self) -> None:
        for n in range(20):
            self.ddb.put_item(TableName=self.table, Item=lead_item(n))
        for n in range(10):
            self.ddb.put_item(TableName=self.table, Item={"pk": {"S": "lead#00000001"}, "sk": {"S": f"event#{n:04d}"},
                                                          "kind": {"S": "page_view"}, "path": {"S": "/price/"}})
        self.ses.create_email_identity(EmailIdentity="example.co.jp")

    def key(self, n: int, sk: str = "profile") -> dict[str, Any]:
        return {"pk": {"S": f"lead#{n:08d}"}, "sk": {"S": sk}}

    def kinds(self) -> dict[str, Callable[[], Any]]:
        return {"GetItem": self.get, "PutItem": self.put, "UpdateItem": self.update, "Query": self.query,
                "TransactWriteItems (3)": self.transact, "BatchGetItem (10)": self.batch_get,
                "SESv2 SendEmail (raw)": self.send}

    def get(self) -> Any:
        return self.ddb.get_item(TableName=self.table, Key=self.key(1), ConsistentRead=True)

    def put(self) -> Any:
        self.n += 1
        return self.ddb.put_item(TableName=self.table, Item=lead_item(1_000_000 + self.n),
                                 ConditionExpression="attribute_not_exists(pk)")

    def update(self) -> Any:
        return self.ddb.update_item(TableName=self.table, Key=self.key(2),
                                    UpdateExpression="SET score = score + :one, #v = #v + :one",
                                    ConditionExpression="#v >= :zero", ExpressionAttributeNames={"#v": "version"},
                                    ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}})

    def query(self) -> Any:
        return self.ddb.query(TableName=self.table, KeyConditionExpression="pk = :p AND begins_with(sk, :e)",
                              ExpressionAttributeValues={":p": {"S": "lead#00000001"}, ":e": {"S": "event#"}})

    def transact(self) -> Any:
        self.n += 1
        n = 2_000_000 + self.n
        return self.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.table, "Item": lead_item(n), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": {**self.key(n, "claim#1"), "at": {"N": "1"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": self.table, "Key": self.key(3), "UpdateExpression": "ADD score :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}])

    def batch_get(self) -> Any:
        keys = [self.key(n) for n in range(10)]
        return self.ddb.batch_get_item(RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}})

    def send(self) -> Any:
        return self.ses.send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": ["user1@example.co.jp"]},
                                   Content={"Raw": {"Data": self.raw}}, ConfigurationSetName=self.configuration_set)


def measure(route: Calls, baseline: Calls, count: int, rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """CPU microseconds per call of each kind on each route: the median of ``rounds`` rounds, the
    routes taking turns (which goes first alternates), so a change in the machine's load between
    rounds weighs on both alike."""
    from reawake_tools.local import moto_overheads
    from reawake_tools.local.iam import running_as

    sides = {"route": route.kinds(), "mock_aws": baseline.kinds()}
    per_round: dict[str, dict[str, list[float]]] = {side: {name: [] for name in kinds} for side, kinds in sides.items()}

    def batch(side: str, name: str, times: int) -> float:
        call = sides[side][name]
        with moto_overheads.stock() if side == "mock_aws" else nullcontext():
            start = time.process_time()
            for _ in range(times):
                call()
            return 1e6 * (time.process_time() - start) / times

    with running_as(FUNCTION):
        for side, kinds in sides.items():
            for name in kinds:
                batch(side, name, 10)  # warm: clients, models, caches
        for r in range(rounds):
            for name in route.kinds():
                for side in (("route", "mock_aws") if r % 2 == 0 else ("mock_aws", "route")):
                    per_round[side][name].append(batch(side, name, count))
    return {side: {name: statistics.median(v) for name, v in kinds.items()} for side, kinds in per_round.items()}


def run(count: int = CALLS) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from reawake_tools.local import iam, moto_patches
    from reawake_tools.local.connect import reset_caches
    from reawake_tools.local.stack import Emulator
    from reawake_tools.local.template import create_resources, load_template

    set_fake_aws_env()
    moto_patches.apply()  # the backend both routes use
    # Both routes at once, on the same backends (moto's are process-wide): mock_aws answers the
    # calls to AWS's own endpoints, the stack's emulator the calls to its endpoint.
    with mock_aws():
        emulator = Emulator()
        emulator.start()
        try:
            template = load_template()

            def on_route(service: str) -> Any:
                return boto3.client(service, endpoint_url=emulator.endpoint_url)

            created = create_resources(on_route, parameters={"SiteOrigins": ["https://www.example.co.jp"]})
            reset_caches()
            enforcer = iam.install(iam.Enforcer(template, created))
            try:
                table, configuration_set = created.names["Table"], created.names["MailConfigurationSet"]
                route = Calls(on_route, table, configuration_set)
                route.seed()
                baseline = Calls(lambda service: boto3.client(service), table, configuration_set)
                baseline.n = 10_000_000  # its own new keys
                figures = measure(route, baseline, count)
                assert not enforcer.denials, enforcer.denials  # every call was allowed: measured, not refused
            finally:
                iam.uninstall(enforcer)
        finally:
            emulator.stop()
    on, off = figures["route"], figures["mock_aws"]
    rows = [(name, f"{on[name]:7.0f} CPU-µs in-process, {off[name]:7.0f} mock_aws, ratio {on[name] / off[name]:.2f}")
            for name in on]
    rows.append(("all kinds, one each", f"{sum(on.values()):7.0f} CPU-µs in-process, {sum(off.values()):7.0f} "
                                        f"mock_aws, ratio {sum(on.values()) / sum(off.values()):.2f}"))
    report(f"Emulator call CPU ({count} calls x {ROUNDS} rounds per kind and route, median; "
           f"{os.cpu_count()} cores; baseline: moto's mock_aws, same run)", rows)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else CALLS)
