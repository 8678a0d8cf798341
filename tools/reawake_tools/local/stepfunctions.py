"""Step Functions on the local stack: moto's executing engine, with its Lambda tasks running the
template's handlers in this process.

- ``enable_execution``: moto runs state machines for real (its ASL engine) instead of recording
  them; the engine calls Lambda through ``http://localhost:$MOTO_PORT``, so MOTO_PORT is set;
- ``register_functions``: every ``AWS::Serverless::Function`` becomes a Lambda function in the
  emulator (a placeholder zip; ``moto_patches.route_lambda`` sends its invocations to
  ``Functions.invoke_result``), named ``<prefix>-<logical id>``, with the function's environment;
- ``create_state_machines``: every ``AWS::Serverless::StateMachine`` is created through the SFN API
  from its ``DefinitionUri`` file (or inline ``Definition``), ``DefinitionSubstitutions`` resolved.
  (moto's CloudFormation would create machines its executing backend does not see.) moto's ASL
  parser knows only Standard child workflows in a Distributed Map: Express ones run as Standard
  here (the same states and results; only AWS's billing and history differ).

``Created`` gets what ``!Ref``/``!GetAtt`` of these resources return on AWS: a function's name and
``.Arn``, a state machine's ARN and ``.Name``.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from reawake_tools.local.lambdas import Functions
from reawake_tools.local.template import ROOT, Created, function_environment, resources_of

ROLE_NAME = "reawake-local"
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                   "Action": "sts:AssumeRole"}],
}
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def enable_execution(endpoint_url: str) -> dict[str, str]:
    """Turn on moto's executing Step Functions; returns the environment its engine needs."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{endpoint_url}/moto-api/config", data=body, method="POST",  # noqa: S310
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - our own loopback emulator
    return {"MOTO_PORT": endpoint_url.rsplit(":", 1)[1]}


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "reawake local: the handler runs in-process from the repository\n")
    return buffer.getvalue()


def _role_arn(iam: Any) -> str:
    try:
        return str(iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"])


def register_functions(clients: Any, functions: Functions, template: dict[str, Any],
                       created: Created) -> dict[str, str]:
    """Create each template function in the emulator's Lambda; {logical id: ARN}."""
    role = _role_arn(clients("iam"))
    code = _placeholder_zip()
    arns: dict[str, str] = {}
    for logical, spec in functions.specs.items():
        name = functions.function_name(logical)
        created.names[logical] = name  # !Ref of a function is its name
        environment = function_environment(template, created, logical)
        response = clients("lambda").create_function(
            FunctionName=name,
            Runtime=str(spec.get("Runtime", "python3.12")),
            Role=role,
            Handler=str(spec["Handler"]),
            Code={"ZipFile": code},
            Timeout=int(spec.get("Timeout", 3)),
            MemorySize=int(spec.get("MemorySize", 128)),
            Environment={"Variables": environment},
        )
        arns[logical] = created.names[f"{logical}.Arn"] = str(response["FunctionArn"])
    return arns


def definition_of(properties: dict[str, Any], created: Created, root: Path = ROOT) -> str:
    """The ASL text of a state machine, substitutions applied."""
    if "DefinitionUri" in properties:
        uri = properties["DefinitionUri"]
        if not isinstance(uri, str):
            raise ValueError(f"DefinitionUri must be a local file, not {uri!r}")
        text = (root / uri).read_text(encoding="utf-8")
    elif "Definition" in properties:
        text = json.dumps(properties["Definition"], ensure_ascii=False)
    else:
        raise ValueError("a state machine needs DefinitionUri or Definition")
    for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", str(created.resolve(value)))
    return re.sub(r'("ExecutionType"\s*:\s*)"EXPRESS"', r'\1"STANDARD"', text)


def create_state_machines(clients: Any, template: dict[str, Any], created: Created, prefix: str = "reawake",
                          root: Path = ROOT) -> dict[str, str]:
    """Create each AWS::Serverless::StateMachine through the SFN API; {logical id: ARN}."""
    role = _role_arn(clients("iam"))
    arns: dict[str, str] = {}
    for logical, res in resources_of(template, "AWS::Serverless::StateMachine").items():
        properties = res.get("Properties", {})
        name = f"{prefix}-{logical}"
        response = clients("stepfunctions").create_state_machine(
            name=name,
            definition=definition_of(properties, created, root),
            roleArn=role,
            type=str(properties.get("Type", "STANDARD")),
        )
        arns[logical] = created.names[logical] = str(response["stateMachineArn"])
        created.names[f"{logical}.Name"] = name
    return arns


def wait_for(sfn: Any, execution_arn: str, timeout: float = 900, poll: float = 0.2) -> dict[str, Any]:
    """Poll until the execution ends; its describe_execution (raises TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout:.0f} s")
        time.sleep(poll)

