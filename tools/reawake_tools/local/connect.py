"""Point this process (a CLI command) at the running local stack or at a deployed stack.

``reawake local`` writes ``.local/stack.json`` when it is up and removes it when it stops; the
other commands read it through ``use_local()``. ``use_deployed(NAME)`` reads a CloudFormation
stack instead. Both set the environment the functions get (from template.yaml), so the same
code (``get_settings()``, ``Store``) works against either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reawake_tools.local.template import ROOT, Created, function_environment, load_template, resources_of

STACK_FILE = ROOT / ".local" / "stack.json"
STACK_FILE_ENV = "REAWAKE_STACK_FILE"  # another path, so a test stack never touches a developer's
NOT_RUNNING = "the local stack is not running: start it with `make local`"
REGION = "ap-northeast-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class NotRunning(RuntimeError):
    pass


def stack_file() -> Path:
    return Path(os.environ.get(STACK_FILE_ENV) or STACK_FILE)


def emulator_environment(endpoint_url: str) -> dict[str, str]:
    """What boto3 needs to talk to the emulator and nothing else."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def reset_caches() -> None:
    """Forget settings and clients built from the previous environment."""
    from reawake.alerts import entry as alert_entry
    from reawake.calllists import entry as calllist_entry
    from reawake.core import aws
    from reawake.core.settings import get_settings
    from reawake.segments import entry as segment_entry
    from reawake.stepmail import entry as stepmail_entry
    from reawake.tracking import routes

    get_settings.cache_clear()
    aws.clear()
    routes.store.cache_clear()
    routes.config.cache_clear()
    segment_entry.reset()
    for cached in (stepmail_entry.store, stepmail_entry.sequence_config, stepmail_entry.scoring_config,
                   stepmail_entry.templates, stepmail_entry.engine, stepmail_entry.failures):
        cached.cache_clear()
    alert_entry.reset()
    calllist_entry.reset()


def write_stack_file(info: dict[str, Any], path: Path | None = None) -> Path:
    path = path or stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**info, "pid": os.getpid()}, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)  # readers never see half a file
    return path


def remove_stack_file(path: Path | None = None) -> None:
    """Remove the file if this process wrote it (a second `reawake local` must not remove the first's)."""
    path = path or stack_file()
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_stack_file(path: Path | None = None) -> dict[str, Any]:
    """The running local stack's description, or NotRunning."""
    path = path or stack_file()
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotRunning(NOT_RUNNING) from None
    except (OSError, ValueError) as exc:
        raise NotRunning(f"{NOT_RUNNING} ({path} is unreadable: {exc})") from exc
    if not isinstance(info.get("pid"), int) or not _alive(info["pid"]):
        raise NotRunning(f"{NOT_RUNNING} ({path} is left from a stopped run)")
    return info


def apply(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    reset_caches()


def use_local() -> dict[str, Any]:
    """Talk to the local stack started by `reawake local`; returns its description."""
    info = read_stack_file()
    apply({**emulator_environment(info["endpoint_url"]), **info["environment"]})
    description = info.get("clock")
    if description:  # "now" of this command is the stack's clock (reawake.core.clock)
        from reawake.core import clock
        from reawake_tools.local.clock import time_of

        clock.set_source(lambda: int(time_of(description) * 1000))
    return info


def deployed_environment(stack_name: str, cloudformation: Any = None) -> dict[str, str]:
    """The functions' environment for a deployed stack: template.yaml's variables, resolved with
    the stack's parameters and physical resource ids (table name, bucket name, secret ARNs)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    cloudformation = cloudformation or boto3.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        raise NotRunning(f"cannot read the CloudFormation stack {stack_name!r}: {exc}") from exc
    parameters: dict[str, Any] = {p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
                                  for p in stack.get("Parameters", [])}
    template = load_template()
    for name, spec in template.get("Parameters", {}).items():
        if spec.get("Type") == "CommaDelimitedList" and isinstance(parameters.get(name), str):
            parameters[name] = [v.strip() for v in parameters[name].split(",") if v.strip()]
    created = Created(parameters=parameters)
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for res in page["StackResourceSummaries"]:
            created.names[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    created.names.setdefault("Table", outputs.get("TableName", ""))
    created.names.setdefault("ConfigBucket", outputs.get("ConfigBucketName", ""))
    environment: dict[str, str] = {}
    for logical in resources_of(template, "AWS::Serverless::Function"):
        environment.update(function_environment(template, created, logical))
    return environment


def use_deployed(stack_name: str) -> dict[str, Any]:
    """Talk to a deployed stack with the caller's own AWS credentials and region."""
    os.environ.pop("AWS_ENDPOINT_URL", None)  # real AWS, even after use_local() in this process
    from reawake.core import clock

    clock.set_source(None)  # the wall clock
    environment = deployed_environment(stack_name)
    apply(environment)
    return {"stack_name": stack_name, "environment": environment}


def use_target(stack_name: str | None) -> dict[str, Any]:
    """A deployed stack when a name is given, else the local stack."""
    return use_deployed(stack_name) if stack_name else use_local()
