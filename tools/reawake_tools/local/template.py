"""Read template.yaml (the single source of truth) and create its resources on the emulator."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as {"Fn::X": ...}."""


def _tag(tag: str, name: str) -> None:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            v: Any = loader.construct_scalar(node)
            if tag == "GetAtt" and isinstance(v, str):
                v = v.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: v}

    _CfnLoader.add_constructor(f"!{tag}", construct)


for _t in (
    "Ref",
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "ImportValue",
    "Base64",
    "GetAZs",
    "Condition",
):
    _tag(_t, "Ref" if _t == "Ref" else ("Condition" if _t == "Condition" else f"Fn::{_t}"))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        template: dict[str, Any] = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return template


def resources_of(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


@dataclass
class Created:
    """Physical names of what was created, by logical id."""

    names: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Resolve !Ref / !Join / !Sub against parameters and created resources."""
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self.parameters.get(arg, self.names.get(arg, arg))
            if fn == "Fn::Join":
                sep, items = arg
                resolved = self.resolve(items)
                return sep.join(str(self.resolve(i)) for i in (resolved if isinstance(resolved, list) else [resolved]))
            if fn == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for k, v in {**self.parameters, **self.names}.items():
                    text = text.replace("${" + k + "}", str(v if not isinstance(v, list) else ",".join(v)))
                return text
            if fn == "Fn::GetAtt":
                return self.names.get(f"{arg[0]}.{arg[1]}", self.names.get(arg[0]))
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def parameter_defaults(template: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        default = spec.get("Default")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(default, str):
            default = [d.strip() for d in default.split(",")]
        params[name] = default
    for name, v in (overrides or {}).items():
        params[name] = v
    return params


def create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def create_resources(
    clients: Any,
    prefix: str = "reawake",
    parameters: dict[str, Any] | None = None,
    template: dict[str, Any] | None = None,
) -> Created:
    """Create the template's tables, buckets and secrets. ``clients(service)`` returns a boto3 client."""
    template = template or load_template()
    created = Created(parameters=parameter_defaults(template, parameters))
    for logical, res in resources_of(template, "AWS::DynamoDB::Table").items():
        name = f"{prefix}-{logical}"
        create_table(clients("dynamodb"), name, res["Properties"])
        created.names[logical] = name
        stream = clients("dynamodb").describe_table(TableName=name)["Table"].get("LatestStreamArn")
        if stream:
            created.names[f"{logical}.StreamArn"] = stream
    for logical in resources_of(template, "AWS::S3::Bucket"):
        name = f"{prefix}-{logical}".lower()
        s3 = clients("s3")
        region = s3.meta.region_name
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **extra)
        created.names[logical] = name
    for logical in resources_of(template, "AWS::SNS::Topic"):
        created.names[logical] = clients("sns").create_topic(Name=f"{prefix}-{logical}")["TopicArn"]
    for logical in resources_of(template, "AWS::SQS::Queue"):
        url = clients("sqs").create_queue(QueueName=f"{prefix}-{logical}")["QueueUrl"]
        attrs = clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        created.names[logical] = url
        created.names[f"{logical}.Arn"] = attrs["QueueArn"]
    for logical in resources_of(template, "AWS::SES::ConfigurationSet"):
        name = f"{prefix}-{logical}"
        clients("sesv2").create_configuration_set(ConfigurationSetName=name)
        created.names[logical] = name
    for logical, res in resources_of(template, "AWS::SecretsManager::Secret").items():
        gen = res["Properties"].get("GenerateSecretString", {})
        value = json.loads(gen.get("SecretStringTemplate", "{}"))
        if gen.get("GenerateStringKey"):
            value[gen["GenerateStringKey"]] = secrets.token_urlsafe(gen.get("PasswordLength", 32))[
                : gen.get("PasswordLength", 32)
            ]
        arn = clients("secretsmanager").create_secret(Name=f"{prefix}-{logical}", SecretString=json.dumps(value))["ARN"]
        created.names[logical] = arn
    return created


def function_environment(template: dict[str, Any], created: Created, logical_id: str) -> dict[str, str]:
    """The environment a function gets: Globals plus its own variables, references resolved."""
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    variables.update(own)
    return {k: str(created.resolve(v)) for k, v in variables.items()}
