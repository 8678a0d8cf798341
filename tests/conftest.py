"""Shared fixtures: moto in-process, resources created from template.yaml, the real handlers."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from hypothesis import settings

# No test depends on wall-clock speed: hypothesis's 200 ms deadline per example fails on a loaded machine.
settings.register_profile("reawake", deadline=None)
settings.load_profile("reawake")

if TYPE_CHECKING:
    from tests.stack.harness import RunningStack

ROOT = Path(__file__).resolve().parents[1]
SITE = "https://www.example.co.jp"

os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@cache
def function_logical_id(name: str) -> str:
    """The template's function whose code is functions/<name>/."""
    from reawake_tools.local.template import load_template, resources_of

    for logical, res in resources_of(load_template(), "AWS::Serverless::Function").items():
        if str(res["Properties"]["CodeUri"]).strip("/") == f"functions/{name}":
            return logical
    raise KeyError(f"no function in template.yaml has CodeUri functions/{name}/")


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py under a unique module name (every function has an app.py).
    Its handler runs as the template's function: its AWS calls are checked against that function's
    role (reawake_tools.local.iam; the `aws` fixture fails a test whose function made a call its role
    does not allow)."""
    from reawake_tools.local.iam import running_as

    logical = function_logical_id(name)
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{name}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with running_as(logical):  # a cold start's module-level code is the function's too
        spec.loader.exec_module(module)
    handler = module.handler

    def as_function(event: Any, context: Any) -> Any:
        with running_as(logical):
            return handler(event, context)

    module.handler = as_function
    return module


class LambdaContext:
    function_name = "local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:local"
    memory_limit_in_mb = 512
    aws_request_id = "local-request"
    log_group_name = "local"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One `reawake local` (a subprocess, tests/stack/harness.py) for the whole session (per xdist
    worker), on free ports; the tests take it through `local_stack`."""
    from tests.stack.harness import start, stop

    stack = start(tmp_path_factory.mktemp("local-stack"))
    try:
        yield stack
    finally:
        stop(stack)


@pytest.fixture
def local_stack(shared_stack: RunningStack) -> Iterator[RunningStack]:
    """The shared local stack; during the test, this process's environment points at it (as
    `use_local()` does for a CLI command), so `secret_json(os.environ["SIGNING_SECRET_ARN"])` and
    `Store(get_settings().table_name)` reach it. Restored after the test: no other test sees it."""
    from reawake_tools.local.connect import reset_caches

    with pytest.MonkeyPatch.context() as env:
        for name, value in shared_stack.environment.items():
            env.setenv(name, value)
        reset_caches()
        yield shared_stack
    reset_caches()


@cache
def _parsed_template() -> dict[str, Any]:
    from reawake_tools.local.template import load_template

    return load_template()


def cfn_template() -> dict[str, Any]:
    """template.yaml, parsed once per process (a copy each time: a test may change its own)."""
    return copy.deepcopy(_parsed_template())


@cache
def _boto3_session() -> boto3.Session:
    """One boto3 session for every `aws` test: it loads the service models and endpoints once
    (moto's own mock_aws() would start each test with a fresh one). Made after moto is imported, so
    moto's request hook is in it."""
    import moto  # noqa: F401

    return boto3.Session()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """moto in-process with the template's resources; the environment the functions get."""
    from moto import mock_aws

    from reawake_tools.local import iam, moto_patches
    from reawake_tools.local.connect import reset_caches
    from reawake_tools.local.template import create_resources, function_environment

    moto_patches.apply()
    stock = moto_patches.stock() if request.node.get_closest_marker("stock_moto") else contextlib.nullcontext()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", _boto3_session())
    with stock, mock_aws(config={"core": {"reset_boto3_session": False}}):
        cfn = cfn_template()
        created = create_resources(lambda s: boto3.client(s), parameters={"SiteOrigins": [SITE]}, template=cfn)
        for k, v in function_environment(cfn, created, "TrackFunction").items():
            monkeypatch.setenv(k, v)
        reset_caches()
        enforcer = iam.install(iam.Enforcer(cfn, created))
        try:
            yield created
        finally:
            iam.uninstall(enforcer)
            reset_caches()
        # A grant missing from a function's role fails the test, even where the code handled the error.
        assert not enforcer.denials, "\n".join(sorted({str(d) for d in enforcer.denials}))


@pytest.fixture
def api(aws: Any) -> Callable[..., tuple[int, dict[str, str], bytes]]:
    """Call the real track handler with real-shaped API Gateway v2 events."""
    from reawake_tools.local.apigw import http_event, match, proxy_result, routes_of

    routes = routes_of(cfn_template())
    app = load_function("track")

    def call(
        method: str, url: str, body: Any = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        hdrs = {"content-type": "application/json", **(headers or {})}
        found = match(routes, method, url.split("?")[0])
        assert found, f"no route for {method} {url}"
        route, params = found
        return proxy_result(app.handler(http_event(route, params, method, url, hdrs, raw), LambdaContext()))

    return call


@pytest.fixture
def metrics_emitted(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, float]]:
    """The business metrics the handlers flushed since the last call, from the CloudWatch EMF lines
    Powertools prints, by name (a metric with a reason dimension as ``Name[reason]``). The metric
    set and the cold-start flag are reset first with Powertools' own helpers."""
    from collections import Counter

    from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

    from reawake.observability import NAMESPACE, metrics

    metrics.clear_metrics()
    reset_cold_start_flag()
    capsys.readouterr()

    def read() -> dict[str, float]:
        found: Counter[str] = Counter()
        for line in capsys.readouterr().out.splitlines():
            try:
                blob = json.loads(line)
            except ValueError:
                continue
            if not isinstance(blob, dict) or "_aws" not in blob:
                continue  # a log line
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == NAMESPACE
                for metric in directive["Metrics"]:
                    name = metric["Name"]
                    values = blob[name] if isinstance(blob[name], list) else [blob[name]]
                    found[f"{name}[{blob['reason']}]" if "reason" in blob else name] += sum(values)
        return dict(found)

    return read
