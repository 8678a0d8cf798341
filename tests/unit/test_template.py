"""template.yaml is the single source of truth: it must transform to CloudFormation offline and
declare what the code relies on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import samtranslator
from samtranslator.translator.transform import transform

from reawake_tools.local.apigw import routes_of
from reawake_tools.local.template import load_template, resources_of

POLICIES = Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"


class OfflinePolicies:
    def load(self) -> dict[str, str]:
        return dict(json.loads(POLICIES.read_text()))


def cloudformation() -> dict[str, Any]:
    """The SAM transform, run offline: local code paths become S3 URIs as `sam package` would."""
    template = copy.deepcopy(load_template())
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://bucket/{props[key].strip('/')}.zip"
        if isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads(
                (Path("statemachines") / Path(props.pop("DefinitionUri")).name).read_text()
            )
    return transform(template, {}, OfflinePolicies())  # type: ignore[arg-type]


def test_sam_transform_succeeds_and_creates_the_routes_of_the_route_table() -> None:
    """One route table (the track router's) is the source: the template's routes, as SAM builds them,
    are exactly its routes and its fallback."""
    from reawake.tracking.routes import router

    cfn = cloudformation()
    routes = {
        r["Properties"]["RouteKey"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"
    } or {
        f"{method.upper().replace('X-AMAZON-APIGATEWAY-ANY-METHOD', 'ANY')} {path}"
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Api"
        for path, ops in r["Properties"].get("Body", {}).get("paths", {}).items()
        for method in ops
        if method != "options"
    }
    assert "POST /v1/events" in routes and "ANY /v1/{proxy+}" in routes  # positive control of the reading
    assert routes == router.route_keys


def test_template_routes_all_go_to_the_track_function_and_equal_the_route_table() -> None:
    from reawake.tracking.routes import router

    routes = routes_of(load_template())
    assert {r.function for r in routes} == {"TrackFunction"}
    assert {r.key for r in routes} == router.route_keys


def test_table_has_stream_ttl_and_the_sparse_lead_index() -> None:
    (table,) = resources_of(load_template(), "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == ["leads", "lead_facts", "tasks", "due",
                                                                         "sequence_due"]


def test_secrets_are_generated_not_written_in_the_template() -> None:
    for secret in resources_of(load_template(), "AWS::SecretsManager::Secret").values():
        assert "SecretString" not in secret["Properties"]
        assert secret["Properties"]["GenerateSecretString"]["GenerateStringKey"]
