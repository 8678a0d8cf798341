"""Each function runs under its own role locally: the AWS calls its code makes are checked, as they
are made, against the policies SAM gives its role, and a call the role does not allow fails.

moto can enforce IAM itself, but it authorizes most services against the resource ``*`` (only S3,
SQS, IAM and STS name a resource), so every policy scoped to a table, secret, topic or SES
identity would be refused, and a policy on ``*`` would pass: it cannot tell the two apart, which is
the whole question. It also checks a DynamoDB transaction as the action ``TransactWriteItems``,
while AWS checks each item's own action. So this module maps each call to the actions and resource
ARNs AWS authorizes (``requirements``) and evaluates them against the role (``allows``).

- ``role_statements``: the template through SAM's own transform (``samtranslator``, offline), so
  policy templates (``S3ReadPolicy``...) expand exactly as on deploy; a function's statements are
  its role's inline policies. (AWS managed policies SAM attaches, for logs, X-Ray and the stream,
  serve the Lambda service, not the handler's code.)
- ``Enforcer``: the statements with every ``!Ref``/``!GetAtt``/``!Sub`` resolved to the emulator's
  names; ``check`` is a botocore ``before-parameter-build`` hook. The running function is
  ``reawake.core.aws.CONTAINER`` (set by ``running_as``): calls made outside a function (setup, tools,
  assertions) are not checked.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from reawake.core.aws import CONTAINER
from reawake_tools.local.template import ROOT, Created, resources_of

log = logging.getLogger("reawake_local")
ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
DENIED = "IAM DENIED"  # in the log line of every refused call (the stack tests look for it)

_transformed: dict[str, dict[str, Any]] = {}


def sam_transform(template: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """The CloudFormation SAM deploys: local code and definition paths replaced as `sam package`
    would (SAM only needs them to be S3 URIs), then ``samtranslator``'s transform, offline."""
    key = hashlib.sha256(json.dumps(template, sort_keys=True, default=str).encode()).hexdigest()
    if key in _transformed:
        return _transformed[key]
    import samtranslator
    from samtranslator.translator.transform import transform

    class ShippedManagedPolicies:  # the name -> ARN map samtranslator ships, instead of asking IAM
        def load(self) -> dict[str, str]:
            path = Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"
            policies: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
            return policies

    packaged = copy.deepcopy(template)
    for res in packaged["Resources"].values():
        props = res.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(props.get(uri), str):
                props[uri] = "s3://packaged/" + props[uri].strip("/") + ".zip"
        if isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")  # the transform's pseudo parameters
    result: dict[str, Any] = transform(packaged, {}, ShippedManagedPolicies())
    _transformed[key] = result
    return result


def role_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every function's role statements (unresolved), by the function's logical id."""
    resources = sam_transform(template)["Resources"]
    out: dict[str, list[dict[str, Any]]] = {}
    for logical in resources_of(template, "AWS::Serverless::Function"):
        role = resources.get(f"{logical}Role", {}).get("Properties", {})
        statements: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            found = policy["PolicyDocument"]["Statement"]
            statements += found if isinstance(found, list) else [found]
        out[logical] = statements
    return out


# --- names: what !Ref and !GetAtt give on AWS, for the emulator's resources ----------------------------


@dataclass
class Names:
    """Resolves the template's intrinsic functions to the emulator's names and ARNs."""

    template: dict[str, Any]
    created: Created
    prefix: str = "reawake"
    region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-1"))

    def arn(self, service: str, rest: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{ACCOUNT}:{rest}"

    def pseudo(self, name: str) -> str | None:
        return {"AWS::Partition": PARTITION, "AWS::Region": self.region, "AWS::AccountId": ACCOUNT,
                "AWS::StackName": self.prefix, "AWS::URLSuffix": "amazonaws.com"}.get(name)

    def ref(self, logical: str) -> Any:
        pseudo = self.pseudo(logical)
        if pseudo is not None:
            return pseudo
        if logical in self.created.parameters:
            return self.created.parameters[logical]
        found = self.created.names.get(logical)
        if found is not None:
            return found
        rtype = self.template["Resources"].get(logical, {}).get("Type", "")
        name = f"{self.prefix}-{logical}"  # not created in this run (a component test): its local name
        return {"AWS::Serverless::StateMachine": self.arn("states", f"stateMachine:{name}"),
                "AWS::SNS::Topic": self.arn("sns", name)}.get(rtype, name)

    def get_att(self, logical: str, attribute: str) -> str:
        found = self.created.names.get(f"{logical}.{attribute}")
        if found is not None:
            return found
        rtype = self.template["Resources"].get(logical, {}).get("Type", "")
        ref = str(self.ref(logical))
        if rtype == "AWS::DynamoDB::Table" and attribute == "Arn":
            return self.arn("dynamodb", f"table/{ref}")
        if rtype == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:{PARTITION}:s3:::{ref}"
        if rtype == "AWS::SNS::Topic":
            return ref.rsplit(":", 1)[-1] if attribute == "TopicName" else ref
        if rtype == "AWS::SQS::Queue" and attribute in ("QueueName", "Arn"):
            name = ref.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]  # Ref is the queue's URL
            return name if attribute == "QueueName" else self.arn("sqs", name)
        if rtype == "AWS::KMS::Key" and attribute == "Arn":
            return ref if ref.startswith("arn:") else self.arn("kms", f"key/{ref}")
        if rtype == "AWS::Serverless::Function" and attribute == "Arn":
            return self.arn("lambda", f"function:{ref}")
        if rtype == "AWS::Serverless::StateMachine" and attribute == "Name":
            return ref.rsplit(":", 1)[-1]
        return ref

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical, attribute)
        if fn == "Fn::Join":
            return arg[0].join(str(v) for v in self.resolve(arg[1]))
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return self._sub(text, variables)
        return {fn: self.resolve(arg)}

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2:end]
            if name in variables:
                out.append(str(variables[name]))
            elif "." in name and self.pseudo(name) is None:
                out.append(self.get_att(*name.split(".", 1)))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        out.append(text[i:])
        return "".join(out)


# --- calls: the actions and resources AWS authorizes for each -----------------------------------------

_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}
_S3 = {"GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject", "DeleteObject": "DeleteObject",
       "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket"}


def _sender_domain(params: dict[str, Any]) -> str:
    sender = params.get("FromEmailAddress") or params.get("Source") or ""
    raw = ((params.get("Content") or {}).get("Raw") or {}).get("Data") or (params.get("RawMessage") or {}).get("Data")
    if not sender and raw:
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        sender = BytesHeaderParser().parsebytes(data).get("From") or ""
    return parseaddr(str(sender))[1].rpartition("@")[2] or "*"


def requirements(prefix: str, operation: str, params: dict[str, Any], names: Names,
                 topic_keys: dict[str, str]) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs AWS checks for one call. An operation without a rule here
    needs ``<prefix>:<operation>`` on ``*``: no role of this template grants that, so a new kind of
    call fails until a rule (and a grant) is added."""
    if prefix == "dynamodb":
        def table(name: str, index: str | None = None) -> str:
            arn = name if name.startswith("arn:") else names.arn("dynamodb", f"table/{name}")
            return f"{arn}/index/{index}" if index else arn

        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [(f"dynamodb:{_TRANSACT[kind]}", table(body["TableName"]))
                    for item in params.get("TransactItems", []) for kind, body in item.items()]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", table(name)) for name in params.get("RequestItems", {})]
        if "TableName" in params:
            return [(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName")))]
    if prefix == "s3" and operation in _S3 and "Bucket" in params:
        key = f"/{params['Key']}" if "Key" in params else ""
        return [(f"s3:{_S3[operation]}", f"arn:{PARTITION}:s3:::{params['Bucket']}{key}")]
    if prefix == "sqs" and "QueueUrl" in params:
        return [(f"sqs:{operation}", names.arn("sqs", str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]))]
    if prefix == "secretsmanager" and "SecretId" in params:
        return [(f"secretsmanager:{operation}", str(params["SecretId"]))]
    if prefix == "sns" and operation == "Publish":
        topic = str(params.get("TopicArn") or params.get("TargetArn") or "*")
        key = topic_keys.get(topic, "")  # SNS encrypts with it as the publisher: the publisher needs it too
        return [("sns:Publish", topic)] + ([("kms:GenerateDataKey", key), ("kms:Decrypt", key)] if key else [])
    if prefix == "ses" and operation in ("SendEmail", "SendRawEmail"):
        action = "ses:SendRawEmail" if operation == "SendRawEmail" else "ses:SendEmail"
        needed = [(action, names.arn("ses", f"identity/{_sender_domain(params)}"))]
        if params.get("ConfigurationSetName"):
            needed.append((action, names.arn("ses", f"configuration-set/{params['ConfigurationSetName']}")))
        return needed
    if prefix == "states" and "stateMachineArn" in params:
        return [(f"states:{operation}", str(params["stateMachineArn"]))]
    if prefix == "states" and "executionArn" in params:
        return [(f"states:{operation}", str(params["executionArn"]))]
    if prefix == "lambda" and operation == "Invoke":
        name = str(params["FunctionName"])
        return [("lambda:InvokeFunction", name if name.startswith("arn:") else names.arn("lambda", f"function:{name}"))]
    return [(f"{prefix}:{operation}", "*")]


def _matches(patterns: Any, value: str, case_sensitive: bool) -> bool:
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        p, v = (str(pattern), value) if case_sensitive else (str(pattern).lower(), value.lower())
        if fnmatch.fnmatchcase(v, p.replace("[", "[[]")):
            return True
    return False


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """An explicit Allow and no Deny. A statement with a Condition is not counted as an Allow (this
    checker does not evaluate conditions, and must not pass what AWS might refuse)."""
    allowed = False
    for statement in statements:
        if "Action" in statement and not _matches(statement["Action"], action, case_sensitive=False):
            continue
        if "NotAction" in statement and _matches(statement["NotAction"], action, case_sensitive=False):
            continue
        if "Resource" in statement and not _matches(statement["Resource"], resource, case_sensitive=True):
            continue
        if "NotResource" in statement and _matches(statement["NotResource"], resource, case_sensitive=True):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or "Condition" not in statement
    return allowed


# --- enforcement ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str

    def __str__(self) -> str:
        return (f"{DENIED}: {self.function}'s role is not authorized to perform {self.action} on resource "
                f"{self.resource} (template.yaml, {self.function} Policies)")


class Enforcer:
    def __init__(self, template: dict[str, Any], created: Created, prefix: str = "reawake") -> None:
        self.names = Names(template, created, prefix)
        self.policies = {fn: self.names.resolve(statements) for fn, statements in role_statements(template).items()}
        self.topic_keys: dict[str, str] = {}
        for logical, res in resources_of(template, "AWS::SNS::Topic").items():
            key = res.get("Properties", {}).get("KmsMasterKeyId")
            if isinstance(key, dict) and "Ref" in key:
                self.topic_keys[str(self.names.ref(logical))] = self.names.get_att(key["Ref"], "Arn")
        self.denials: list[Denial] = []
        self.calls: dict[str, set[tuple[str, str]]] = {fn: set() for fn in self.policies}
        self._decisions: dict[tuple[str, str, str], bool] = {}
        self._lock = threading.Lock()

    def check(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore ``before-parameter-build`` hook: raise AccessDenied as AWS would."""
        function = CONTAINER.get()
        if function not in self.policies:
            return  # not a function's call: setup, a tool, a test's own assertion
        prefix = model.service_model.signing_name
        for action, resource in requirements(prefix, model.name, params, self.names, self.topic_keys):
            key = (function, action, resource)
            allowed = self._decisions.get(key)
            if allowed is None:  # the role's statements do not change: decided once per (role, action, resource)
                allowed = allows(self.policies[function], action, resource)
                with self._lock:
                    self.calls[function].add((action, resource))
                    self._decisions[key] = allowed
            if allowed:
                continue
            denial = Denial(function, action, resource)
            with self._lock:
                self.denials.append(denial)
            log.error("%s", denial)
            from botocore.exceptions import ClientError

            code = {"s3": "AccessDenied", "sns": "AuthorizationError"}.get(prefix, "AccessDeniedException")
            response: Any = {"Error": {"Code": code, "Message": str(denial)},
                             "ResponseMetadata": {"HTTPStatusCode": 403}}
            raise ClientError(response, model.name)


_installed: list[Enforcer] = []
_EVENT = "before-parameter-build"


def _hook(**kwargs: Any) -> None:
    if _installed:
        _installed[-1].check(**kwargs)


def install(enforcer: Enforcer) -> Enforcer:
    """Check every client created from now on (and the default session's) with this enforcer."""
    import boto3
    import botocore.handlers

    if (_EVENT, _hook) not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _hook))  # sessions created later
    boto3._get_default_session().events.register(_EVENT, _hook, unique_id="reawake-iam")
    _installed.append(enforcer)
    return enforcer


def uninstall(enforcer: Enforcer) -> None:
    if enforcer in _installed:
        _installed.remove(enforcer)


@contextmanager
def running_as(function: str) -> Iterator[None]:
    """Code in this block is the named function's (its AWS calls are checked against its role)."""
    token = CONTAINER.set(function)
    try:
        yield
    finally:
        CONTAINER.reset(token)
