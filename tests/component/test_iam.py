"""Each function runs under its own role, as SAM expands template.yaml's policies
(reawake_tools.local.iam): a call the role does not allow fails, here as it would on AWS."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reawake_tools.local import iam
from reawake_tools.local.connect import reset_caches
from reawake_tools.local.template import Created, load_template

Api = Any


def role_without(logical: str, secret: str) -> dict[str, Any]:
    """template.yaml with the function's grant on the secret taken out."""
    template = copy.deepcopy(load_template())
    policies = template["Resources"][logical]["Properties"]["Policies"]
    template["Resources"][logical]["Properties"]["Policies"] = [
        p for p in policies if p.get("AWSSecretsManagerGetSecretValuePolicy", {}).get("SecretArn") != {"Ref": secret}]
    assert len(template["Resources"][logical]["Properties"]["Policies"]) == len(policies) - 1
    return template


@pytest.fixture
def enforcer_of(aws: Created) -> Iterator[Any]:
    installed: list[iam.Enforcer] = []

    def install(template: dict[str, Any]) -> iam.Enforcer:
        installed.append(iam.install(iam.Enforcer(template, aws)))
        return installed[-1]

    yield install
    for enforcer in installed:
        iam.uninstall(enforcer)


def test_a_grant_missing_from_the_track_role_fails_the_request(api: Api, enforcer_of: Any) -> None:
    status, _, _ = api("POST", "/v1/activities", {"activities": []}, headers={"x-api-key": "wrong"})
    assert status == 401, "with its role as in template.yaml, Track reads the API key (and refuses this one)"

    enforcer = enforcer_of(role_without("TrackFunction", "ActivityApiKeySecret"))
    reset_caches()  # deployed anew: a fresh container, nothing cached
    with pytest.raises(ClientError, match="AccessDenied"):
        api("POST", "/v1/activities", {"activities": []}, headers={"x-api-key": "wrong"})
    assert [(d.function, d.action, d.resource) for d in enforcer.denials] == [
        ("TrackFunction", "secretsmanager:GetSecretValue", os.environ["API_KEY_SECRET_ARN"])]


def test_a_secret_one_function_read_is_not_served_to_another(aws: Created, enforcer_of: Any) -> None:
    from reawake.core.aws import secret_json

    enforcer = enforcer_of(load_template())
    arn = os.environ["SIGNING_SECRET_ARN"]
    with iam.running_as("TrackFunction"):
        assert secret_json(arn)["signing_key"]  # Track may read it: now cached in Track's container
    with iam.running_as("StepmailFunction"):
        assert secret_json(arn)["signing_key"]  # step mail may too (its links are signed)
    with iam.running_as("SegmentFunction"), pytest.raises(ClientError):
        secret_json(arn)  # the segment function may not, and gets no cached copy
    assert [(d.function, d.action) for d in enforcer.denials] == [("SegmentFunction", "secretsmanager:GetSecretValue")]


@pytest.fixture
def roles(aws: Created) -> dict[str, list[dict[str, Any]]]:
    return iam.Enforcer(load_template(), aws).policies


def table_arn() -> str:
    return f"arn:aws:dynamodb:{os.environ['AWS_DEFAULT_REGION']}:{iam.ACCOUNT}:table/{os.environ['TABLE_NAME']}"


@pytest.mark.parametrize("action", ["dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                                    "dynamodb:DeleteTable", "ses:SendEmail", "sns:Publish"])
def test_the_public_track_function_may_not(roles: dict[str, Any], action: str) -> None:
    assert iam.allows(roles["TrackFunction"], "dynamodb:PutItem", table_arn()), "control: it may write events"
    assert not iam.allows(roles["TrackFunction"], action, table_arn())
    assert not iam.allows(roles["TrackFunction"], action, "*")


def test_only_the_segment_and_report_functions_scan_the_leads_index(roles: dict[str, Any]) -> None:
    leads, tasks = f"{table_arn()}/index/leads", f"{table_arn()}/index/tasks"
    scanners = sorted(fn for fn, statements in roles.items() if iam.allows(statements, "dynamodb:Scan", leads))
    assert "SegmentFunction" in scanners and set(scanners) <= {"SegmentFunction", "ReportFunction"}  # cross-tab
    assert not iam.allows(roles["SegmentFunction"], "dynamodb:Scan", table_arn()), "never the whole table"
    assert not iam.allows(roles["SegmentFunction"], "dynamodb:Scan", tasks)
    facts = f"{table_arn()}/index/lead_facts"  # what a run scans when its rules allow (reawake.segments.reads)
    assert [fn for fn, statements in roles.items() if iam.allows(statements, "dynamodb:Scan", facts)] == [
        "SegmentFunction"]


def test_mail_is_sent_only_from_this_accounts_identities(roles: dict[str, Any]) -> None:
    region = os.environ["AWS_DEFAULT_REGION"]
    ours = f"arn:aws:ses:{region}:{iam.ACCOUNT}:identity/example.co.jp"
    theirs = f"arn:aws:ses:{region}:999999999999:identity/example.co.jp"
    senders = [fn for fn, statements in roles.items() if iam.allows(statements, "ses:SendEmail", ours)]
    assert sorted(senders) == ["AlertFunction", "CallListFunction", "StepmailFunction"]
    for fn in senders:
        assert not iam.allows(roles[fn], "ses:SendEmail", theirs)
        assert not iam.allows(roles[fn], "ses:SendEmail", "*")
    cs = f"arn:aws:ses:{region}:{iam.ACCOUNT}:configuration-set/{os.environ['MAIL_CONFIGURATION_SET']}"
    assert iam.allows(roles["StepmailFunction"], "ses:SendEmail", cs)


def test_no_function_is_granted_anything_on_every_resource(roles: dict[str, Any]) -> None:
    for fn, statements in roles.items():
        for statement in statements:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources, (fn, statement)


def test_a_transaction_needs_each_items_own_action() -> None:
    names = iam.Names(load_template(), Created())
    params = {"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}},
                                {"Update": {"TableName": "t"}}]}
    assert [a for a, _ in iam.requirements("dynamodb", "TransactWriteItems", params, names, {})] == [
        "dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]


def test_publishing_to_an_encrypted_topic_needs_its_key(aws: Created) -> None:
    enforcer = iam.Enforcer(load_template(), aws)
    topic = os.environ.get("ALERT_TOPIC_ARN") or aws.names["SalesAlertTopic"]
    needed = iam.requirements("sns", "Publish", {"TopicArn": topic}, enforcer.names, enforcer.topic_keys)
    assert [a for a, _ in needed] == ["sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"]
    assert all(iam.allows(enforcer.policies["AlertFunction"], a, r) for a, r in needed)
    assert not any(iam.allows(enforcer.policies["TrackFunction"], a, r) for a, r in needed)


def test_the_component_tests_run_handlers_as_their_function(api: Api) -> None:
    """The `aws` fixture's enforcer sees the handler's calls as Track's: checked, not skipped."""
    enforcer = iam._installed[-1]
    assert api("POST", "/v1/activities", {"activities": []}, headers={"x-api-key": "wrong"})[0] == 401
    assert ("secretsmanager:GetSecretValue", os.environ["API_KEY_SECRET_ARN"]) in enforcer.calls["TrackFunction"]


def test_the_local_stacks_lambda_runner_runs_each_function_under_its_role(aws: Created, enforcer_of: Any) -> None:
    """The path the local stack takes (HTTP gateway, Step Functions tasks, stream consumer)."""
    from reawake_tools.local.apigw import http_event, match, routes_of
    from reawake_tools.local.lambdas import Functions

    template = load_template()
    functions = Functions(template)
    route, params = match(routes_of(template), "POST", "/v1/activities") or (None, {})
    assert route is not None
    request = http_event(route, params, "POST", "/v1/activities",
                         {"content-type": "application/json", "x-api-key": "wrong"}, b'{"activities": []}')
    name = functions.function_name("TrackFunction")
    payload, errored, _ = functions.invoke_result(name, request)
    assert not errored and json.loads(payload)["statusCode"] == 401, "control: its role reads the key"

    enforcer = enforcer_of(role_without("TrackFunction", "ActivityApiKeySecret"))
    reset_caches()
    payload, errored, _ = functions.invoke_result(name, request)
    assert errored and json.loads(payload)["errorType"] == "ClientError"
    assert [(d.function, d.action) for d in enforcer.denials] == [("TrackFunction", "secretsmanager:GetSecretValue")]


def test_the_send_slot_grants_are_narrow(aws: Created) -> None:
    enforcer = iam.Enforcer(load_template(), aws)
    stepmail, report = enforcer.policies["StepmailFunction"], enforcer.policies["ReportFunction"]
    queue = enforcer.names.ref("StepmailFailureQueue")
    needed = iam.requirements("sqs", "SendMessage", {"QueueUrl": queue}, enforcer.names, {})
    assert needed[0][1].startswith("arn:aws:sqs:") and all(iam.allows(stepmail, a, r) for a, r in needed)
    assert not any(iam.allows(enforcer.policies["SegmentFunction"], a, r) for a, r in needed)
    bucket = f"arn:aws:s3:::{enforcer.names.ref('SendSlotBucket')}"
    assert iam.allows(stepmail, "s3:PutObject", f"{bucket}/slots/1.json"), "control: it writes a manifest"
    assert not iam.allows(stepmail, "s3:PutObject", f"{bucket}/other.json")
    assert not iam.allows(stepmail, "s3:DeleteObject", f"{bucket}/slots/1.json")
    assert iam.allows(stepmail, "dynamodb:Query", f"{table_arn()}/index/due"), "control: it collects a slot"
    assert not iam.allows(stepmail, "dynamodb:Scan", f"{table_arn()}/index/due")
    config = f"arn:aws:s3:::{enforcer.names.ref('ConfigBucket')}"
    assert iam.allows(report, "s3:PutObject", f"{config}/reports/latest/index.html"), "control: it writes reports"
    assert not iam.allows(report, "s3:PutObject", f"{config}/mail.yaml")
    assert not iam.allows(report, "dynamodb:PutItem", table_arn())
