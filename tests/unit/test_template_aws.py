"""What only a real AWS account would show, checked on template.yaml: every handler, substitution
and output the code relies on exists; the topics AWS services publish to can be used by them; data
survives a delete; every alarm reaches someone; every log group expires."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from reawake_tools.local.template import load_template, resources_of

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "layers" / "common" / "reawake", ROOT / "tools" / "reawake_tools")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def refs(value: Any) -> set[str]:
    """Logical ids a value names through Ref, GetAtt or ${...} in Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref":
                found |= set() if arg.startswith("AWS::") else {arg}
            elif fn == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif fn == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {v.split(".")[0] for v in re.findall(r"\$\{([^}!]+)\}", text) if not v.startswith("AWS::")}
                found |= set().union(*(refs(v) for v in ([] if isinstance(arg, str) else arg[1].values()))) - (
                    set() if isinstance(arg, str) else set(arg[1]))
            else:
                found |= refs(arg)
    elif isinstance(value, list):
        for v in value:
            found |= refs(v)
    return found


# --- what the code relies on ----------------------------------------------------------------------------


def test_every_functions_handler_exists(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    assert functions
    for logical, res in functions.items():
        module, _, attr = res["Properties"]["Handler"].rpartition(".")
        path = ROOT / res["Properties"]["CodeUri"] / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{logical}: {path} is missing"
        names = {n.name for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.FunctionDef)}
        assert attr in names, f"{logical}: {path} has no function {attr}"


def test_every_definition_substitution_is_used_and_defined(template: dict[str, Any]) -> None:
    machines = resources_of(template, "AWS::Serverless::StateMachine")
    assert machines
    for logical, res in machines.items():
        text = (ROOT / res["Properties"]["DefinitionUri"]).read_text(encoding="utf-8")
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        substitutions = res["Properties"].get("DefinitionSubstitutions", {})
        assert placeholders == set(substitutions), logical
        assert refs(substitutions) <= set(template["Resources"]), logical


def test_every_reference_names_a_resource_or_parameter(template: dict[str, Any]) -> None:
    known = set(template["Resources"]) | set(template.get("Parameters", {}))
    for logical, res in template["Resources"].items():
        assert refs(res.get("Properties", {})) <= known, logical


def outputs_the_code_reads() -> set[str]:
    found: set[str] = set()
    for path in (p for package in PACKAGES for p in package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'stack_output\([^,()]+,\s*"(\w+)"\)', text))
        found |= {f"{m}Arn" for m in re.findall(r'state_machine_arn\([^()]*"(\w+)"\)', text)}
        found |= set(re.findall(r'outputs\.get\("(\w+)"', text))
    return found


def test_every_output_the_cli_reads_exists(template: dict[str, Any]) -> None:
    read = outputs_the_code_reads()
    assert {"ApiUrl", "TableName", "SegmentStateMachineArn"} <= read, "control: the scan finds the CLI's reads"
    assert read <= set(template["Outputs"])


def test_the_deploy_outputs_name_the_key_the_mail_setup_and_the_alarms(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ActivityApiKeySecretArn"]["Value"] == {"Ref": "ActivityApiKeySecret"}
    assert "get-secret-value" in outputs["ActivityApiKeySecretArn"]["Description"]
    assert outputs["MailConfigurationSetName"]["Value"] == {"Ref": "MailConfigurationSet"}
    assert outputs["OpsTopicArn"]["Value"] == {"Ref": "OpsTopic"}


def test_every_function_flushes_metrics_and_traces() -> None:
    """Tracing: Active is on for every function: each handler records with Powertools' Tracer."""
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        text = app.read_text(encoding="utf-8")
        assert "@tracer.capture_lambda_handler" in text and "@metrics.log_metrics" in text, app


# --- keys: a topic an AWS service publishes to ----------------------------------------------------------


def service_publishers(template: dict[str, Any]) -> dict[str, set[str]]:
    """Topic logical id -> the AWS service principals that publish to it (SES event destinations,
    CloudWatch alarm actions, topic policies)."""
    publishers: dict[str, set[str]] = {}
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::SES::ConfigurationSetEventDestination":
            topic = props["EventDestination"].get("SnsDestination", {}).get("TopicARN")
            for logical in refs(topic):
                publishers.setdefault(logical, set()).add("ses.amazonaws.com")
        if res["Type"] == "AWS::CloudWatch::Alarm":
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for logical in refs(props.get(key, [])):
                    publishers.setdefault(logical, set()).add("cloudwatch.amazonaws.com")
        if res["Type"] == "AWS::SNS::TopicPolicy":
            for statement in props["PolicyDocument"]["Statement"]:
                services = statement.get("Principal", {}).get("Service", [])
                for logical in refs(props["Topics"]):
                    publishers.setdefault(logical, set()).update([services] if isinstance(services, str) else services)
    return publishers


def key_allows(key: dict[str, Any], service: str) -> bool:
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        principals = statement.get("Principal", {}).get("Service", [])
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and service in principals and "kms:Decrypt" in actions and any(
                a.startswith("kms:GenerateDataKey") for a in actions):
            return True
    return False


def test_topics_aws_services_publish_to_use_a_key_that_lets_them(template: dict[str, Any]) -> None:
    """The AWS managed key alias/aws/sns cannot be edited to let SES or CloudWatch use it: their
    notifications would be dropped. Unencrypted, or a customer managed key whose policy allows them."""
    publishers = service_publishers(template)
    assert publishers.get("FeedbackTopic") == {"ses.amazonaws.com"}, "control: SES publishes feedback"
    assert publishers.get("OpsTopic") == {"cloudwatch.amazonaws.com"}, "control: alarms publish"
    topics = resources_of(template, "AWS::SNS::Topic")
    for logical, services in publishers.items():
        key_id = topics[logical]["Properties"].get("KmsMasterKeyId")
        if key_id is None:
            continue
        assert not (isinstance(key_id, str) and key_id.startswith("alias/aws/")), (
            f"{logical} is published to by {services} but uses the AWS managed key {key_id}")
        (key_logical,) = refs(key_id)
        key = template["Resources"][key_logical]
        assert key["Type"] == "AWS::KMS::Key"
        for service in services:
            assert key_allows(key, service), f"{key_logical}'s policy does not let {service} publish to {logical}"


def test_the_managed_key_check_fails_an_aws_managed_key(template: dict[str, Any]) -> None:
    """Control: the check above would catch the original template's FeedbackTopic."""
    feedback = template["Resources"]["FeedbackTopic"]["Properties"]
    assert isinstance(feedback["KmsMasterKeyId"], dict), "a customer managed key of this template"
    broken = json.loads(json.dumps(template))
    broken["Resources"]["FeedbackTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    with pytest.raises(AssertionError, match="AWS managed key"):
        test_topics_aws_services_publish_to_use_a_key_that_lets_them(broken)


# --- data kept, names unique ---------------------------------------------------------------------------


@pytest.mark.parametrize("logical", ["Table", "ConfigBucket", "SigningSecret"])
def test_data_survives_a_stack_delete_or_a_replacement(template: dict[str, Any], logical: str) -> None:
    res = template["Resources"][logical]
    assert (res.get("DeletionPolicy"), res.get("UpdateReplacePolicy")) == ("Retain", "Retain")


def test_the_table_keeps_point_in_time_backups(template: dict[str, Any]) -> None:
    props = template["Resources"]["Table"]["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_schedule_names_are_unique_per_stack(template: dict[str, Any]) -> None:
    schedules = [event["Properties"] for res in template["Resources"].values()
                 for event in (res.get("Properties", {}).get("Events") or {}).values() if event["Type"] == "ScheduleV2"]
    assert len(schedules) >= 2
    for props in schedules:
        assert "${AWS::StackName}" in props["Name"]["Fn::Sub"]


# --- alarms, logs, limits ------------------------------------------------------------------------------


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def alarmed(template: dict[str, Any], metric: str) -> set[str]:
    """Logical ids watched by an alarm on the metric (directly or in a metric-math alarm)."""
    found: set[str] = set()
    for props in alarms(template).values():
        stats = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for stat in stats:
            if stat.get("MetricName") == metric:
                found |= refs(stat.get("Dimensions", []))
    return found


def test_every_alarm_notifies_the_ops_topic(template: dict[str, Any]) -> None:
    assert len(alarms(template)) >= 10
    for logical, props in alarms(template).items():
        assert {"Ref": "OpsTopic"} in props.get("AlarmActions", []), logical


def test_every_function_state_machine_queue_and_the_api_has_an_alarm(template: dict[str, Any]) -> None:
    functions = set(resources_of(template, "AWS::Serverless::Function"))
    assert alarmed(template, "Errors") >= functions
    assert alarmed(template, "Throttles") >= functions
    assert alarmed(template, "ExecutionsFailed") >= set(resources_of(template, "AWS::Serverless::StateMachine"))
    queues = {k for k in resources_of(template, "AWS::SQS::Queue")}
    watched_queues = {v for props in alarms(template).values() for d in props.get("Dimensions", [])
                      if d["Name"] == "QueueName" for v in refs(d["Value"])}
    assert watched_queues >= queues
    assert "HttpApi" in alarmed(template, "5xx")


def dashboard_metrics(template: dict[str, Any], namespace: str, metric: str) -> set[str]:
    """Logical ids whose metric the dashboard plots (``${Logical}`` in the body's Sub)."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
    return {m[3] for w in widgets for m in w["properties"].get("metrics", [])
            if isinstance(m[0], str) and m[:3] == [namespace, metric, "FunctionName"]}


def test_every_function_is_on_the_dashboards_errors_and_throttles(template: dict[str, Any]) -> None:
    """The next function cannot be left off the dashboard, as ReportFunction was."""
    functions = set(resources_of(template, "AWS::Serverless::Function"))
    assert {"TrackFunction", "ReportFunction"} <= functions, "control: the functions are read"
    assert dashboard_metrics(template, "AWS/Lambda", "Errors") == functions
    assert dashboard_metrics(template, "AWS/Lambda", "Throttles") == functions


def test_ses_reputation_alarms_at_the_providers_thresholds(template: dict[str, Any]) -> None:
    by_metric = {p["MetricName"]: p for p in alarms(template).values() if p.get("Namespace") == "AWS/SES"}
    assert by_metric["Reputation.ComplaintRate"]["Threshold"] == 0.001
    assert by_metric["Reputation.BounceRate"]["Threshold"] == 0.05
    for props in by_metric.values():
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_every_log_group_expires_and_every_function_and_state_machine_has_one(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    for logical, res in groups.items():
        assert res["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, logical
    named = {ref for res in groups.values() for ref in refs(res["Properties"].get("LogGroupName", {}))}
    assert set(resources_of(template, "AWS::Serverless::Function")) <= named
    for logical, res in resources_of(template, "AWS::Serverless::StateMachine").items():
        (destination,) = res["Properties"]["Logging"]["Destinations"]
        assert refs(destination) <= set(groups), logical
    api = template["Resources"]["HttpApi"]["Properties"]
    assert refs(api["AccessLogSettings"]["DestinationArn"]) <= set(groups)
    assert "$context.path" not in api["AccessLogSettings"]["Format"], "paths carry signed lead tokens"


def test_the_public_api_is_throttled_and_activities_have_a_lower_limit_of_their_own(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    params = template["Parameters"]
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    activities = api["RouteSettings"]["POST /v1/activities"]
    assert activities["ThrottlingRateLimit"] == {"Ref": "ActivitiesRateLimit"}
    assert params["ActivitiesRateLimit"]["Default"] < params["ApiRateLimit"]["Default"]
