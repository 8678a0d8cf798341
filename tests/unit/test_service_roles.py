"""The roles AWS services act under, checked as the functions' roles are (tests/component/test_iam.py):
each Step Functions state machine's role grants exactly what its definition (statemachines/*.asl.json)
makes Step Functions do, and each EventBridge Scheduler schedule's role exactly the start of its own
target. The roles are read as SAM deploys them (``reawake_tools.local.iam.sam_transform``).

What a definition needs:
- a ``lambda:invoke`` task: ``lambda:InvokeFunction`` on the function it names (the unqualified ARN it
  passes; SAM's ``LambdaInvokePolicy`` would add every function whose name begins with that name);
- a Distributed Map (AWS, "IAM policies for using Distributed Map states"): ``states:StartExecution`` on the
  state machine itself and ``states:DescribeExecution`` on its executions (``execution:<name>:*``), and,
  as the earlier text of that page asks, ``DescribeExecution`` and ``StopExecution`` on its Map Runs' child
  executions (``execution:<name>/*``); its ``ItemReader`` ``s3:GetObject`` on the objects it reads;
- logging to CloudWatch Logs: the log-delivery actions, which take no resource (``*``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reawake_tools.local import iam
from reawake_tools.local.template import Created, load_template, resources_of

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"
LOG_DELIVERY = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups")
#: An ItemReader whose bucket and key come from the execution's input: the objects it may read, as
#: the function that writes them names them (stepmail.entry writes ``slots/<time>.json`` to
#: SEND_SLOT_BUCKET, which the template sets to SendSlotBucket).
READ_AT_RUN_TIME = {"SendSlotStateMachine": "${SendSlotBucket.Arn}/slots/*"}

Grant = tuple[str, str]  # (action in lower case, resource)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def names(template: dict[str, Any]) -> iam.Names:
    """Names as AWS gives them, a named state machine's ARN carrying its ``Name``."""
    bare = iam.Names(template, Created())
    created = Created()
    for logical, res in resources_of(template, "AWS::Serverless::StateMachine").items():
        if "Name" in res["Properties"]:
            created.names[logical] = bare.arn("states", f"stateMachine:{bare.resolve(res['Properties']['Name'])}")
    return iam.Names(template, created)


@pytest.fixture(scope="module")
def deployed(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = iam.sam_transform(template)["Resources"]
    return resources


def statements_of(role: dict[str, Any], names: iam.Names) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        found = policy["PolicyDocument"]["Statement"]
        out += found if isinstance(found, list) else [found]
    assert not role["Properties"].get("ManagedPolicyArns"), "a managed policy grants what no definition asks"
    return [names.resolve(s) for s in out]


def grants(statements: list[dict[str, Any]]) -> set[Grant]:
    out: set[Grant] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        out |= {(a.lower(), r) for a in actions for r in resources}
    return out


def trusted_service(role: dict[str, Any]) -> list[str]:
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    services = statement["Principal"]["Service"]
    return services if isinstance(services, list) else [services]


def states_of(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every state, those inside Map and Parallel states included."""
    for state in definition["States"].values():
        yield state
        for inner in [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]:
            if inner:
                yield from states_of(inner)


def definition_of(props: dict[str, Any], names: iam.Names) -> dict[str, Any]:
    text = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", str(names.resolve(value)))
    found: dict[str, Any] = json.loads(text)
    return found


def needed_by(logical: str, props: dict[str, Any], names: iam.Names) -> set[Grant]:
    """What Step Functions does for this state machine's definition, as IAM grants."""
    machine = str(names.ref(logical))
    name = machine.rsplit(":", 1)[1]
    executions = names.arn("states", f"execution:{name}")
    needed: set[Grant] = set()
    for state in states_of(definition_of(props, names)):
        if state["Type"] == "Task":
            assert state["Resource"] == LAMBDA_INVOKE, f"{logical}: what does {state['Resource']} need? (add it here)"
            function = state["Parameters"]["FunctionName"]
            assert function.startswith("arn:"), f"{logical}: a task names its function, not a path ({function})"
            needed.add(("lambda:invokefunction", function))
        mode = state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode")
        if state["Type"] == "Map" and mode == "DISTRIBUTED":
            needed |= {("states:startexecution", machine), ("states:describeexecution", f"{executions}:*"),
                       ("states:describeexecution", f"{executions}/*"), ("states:stopexecution", f"{executions}/*")}
            reader = state.get("ItemReader")
            if reader:
                assert reader["Resource"] == S3_GET_OBJECT, f"{logical}: what does {reader['Resource']} need?"
                params = reader["Parameters"]
                if "Bucket" in params and "Key" in params:
                    needed.add(("s3:getobject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"))
                else:
                    assert logical in READ_AT_RUN_TIME, f"{logical}: where may its ItemReader read at run time?"
                    needed.add(("s3:getobject", names.resolve({"Fn::Sub": READ_AT_RUN_TIME[logical]})))
    if props.get("Logging"):
        needed |= {(a.lower(), "*") for a in LOG_DELIVERY}
    return needed


def test_each_state_machine_role_grants_exactly_what_its_definition_does(
        template: dict[str, Any], deployed: dict[str, Any], names: iam.Names) -> None:
    machines = resources_of(template, "AWS::Serverless::StateMachine")
    assert set(machines) >= {"SegmentStateMachine", "SendSlotStateMachine"}, "control: the machines are read"
    for logical, res in machines.items():
        role = deployed[f"{logical}Role"]
        assert trusted_service(role) == ["states.amazonaws.com"], logical
        assert grants(statements_of(role, names)) == needed_by(logical, res["Properties"], names), logical


def test_a_state_machine_invokes_its_own_functions_and_no_other(
        template: dict[str, Any], deployed: dict[str, Any], names: iam.Names) -> None:
    functions = {f: names.get_att(f, "Arn") for f in resources_of(template, "AWS::Serverless::Function")}
    own = {"SegmentStateMachine": {"SegmentFunction"}, "SendSlotStateMachine": {"StepmailFunction"}}
    for machine, invoked in own.items():
        statements = statements_of(deployed[f"{machine}Role"], names)
        for function, arn in functions.items():
            assert iam.allows(statements, "lambda:InvokeFunction", arn) == (function in invoked), (machine, function)
            assert not iam.allows(statements, "lambda:InvokeFunction", arn + "x"), "a name that only begins the same"


def test_the_send_slot_map_reads_its_manifests_and_starts_only_its_own_children(
        deployed: dict[str, Any], names: iam.Names) -> None:
    statements = statements_of(deployed["SendSlotStateMachineRole"], names)
    machine, bucket = str(names.ref("SendSlotStateMachine")), f"arn:aws:s3:::{names.ref('SendSlotBucket')}"
    assert iam.allows(statements, "s3:GetObject", f"{bucket}/slots/2026-12-01T09:00:00+09:00.json")
    assert not iam.allows(statements, "s3:GetObject", f"{bucket}/other.json")
    assert not iam.allows(statements, "s3:PutObject", f"{bucket}/slots/x.json")
    assert iam.allows(statements, "states:StartExecution", machine)
    assert not iam.allows(statements, "states:StartExecution", str(names.ref("SegmentStateMachine")))
    segment = statements_of(deployed["SegmentStateMachineRole"], names)
    assert not iam.allows(segment, "states:StartExecution", str(names.ref("SegmentStateMachine"))), "inline Map"


def test_each_schedule_role_may_start_exactly_its_target(
        template: dict[str, Any], deployed: dict[str, Any], names: iam.Names) -> None:
    events = [(logical, event) for logical, res in template["Resources"].items()
              for event, spec in (res.get("Properties", {}).get("Events") or {}).items()
              if spec["Type"] == "ScheduleV2"]
    schedules = {k: v["Properties"] for k, v in deployed.items() if v["Type"] == "AWS::Scheduler::Schedule"}
    assert len(events) >= 4 and set(schedules) == {f"{logical}{event}" for logical, event in events}
    for logical, event in events:
        target = schedules[f"{logical}{event}"]["Target"]
        arn = names.resolve(target["Arn"])
        kind = template["Resources"][logical]["Type"]
        action = {"AWS::Serverless::StateMachine": "states:startexecution",
                  "AWS::Serverless::Function": "lambda:invokefunction"}[kind]
        assert arn == (names.ref(logical) if kind.endswith("StateMachine") else names.get_att(logical, "Arn"))
        role = deployed[target["RoleArn"]["Fn::GetAtt"][0]]
        assert trusted_service(role) == ["scheduler.amazonaws.com"], logical
        assert grants(statements_of(role, names)) == {(action, arn)}, logical


def test_the_check_sees_a_grant_too_many_or_too_few() -> None:
    """The control: a role given SAM's LambdaInvokePolicy (``function:<name>*``), or missing the
    Distributed Map's StartExecution, is not what the definition needs."""
    template = load_template()
    sendslot = template["Resources"]["SendSlotStateMachine"]["Properties"]
    invoke = {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                             "Resource": {"Fn::GetAtt": ["StepmailFunction", "Arn"]}}]}
    sendslot["Policies"] = [{"LambdaInvokePolicy": {"FunctionName": {"Ref": "StepmailFunction"}}}]
    wide = iam.sam_transform(template)["Resources"]
    sendslot["Policies"] = [invoke]
    narrow = iam.sam_transform(template)["Resources"]
    bare = iam.Names(template, Created())
    names = iam.Names(template, Created({"SendSlotStateMachine": bare.arn("states", "stateMachine:reawake-send-slot")}))
    needed = needed_by("SendSlotStateMachine", sendslot, names)
    function = names.get_att("StepmailFunction", "Arn")
    assert grants(statements_of(wide["SendSlotStateMachineRole"], names)) == {("lambda:invokefunction", function + "*")}
    assert grants(statements_of(narrow["SendSlotStateMachineRole"], names)) == {("lambda:invokefunction", function)}
    assert ("lambda:invokefunction", function) in needed
    assert ("states:startexecution", names.arn("states", "stateMachine:reawake-send-slot")) in needed, \
        "a Distributed Map starts its own children"
