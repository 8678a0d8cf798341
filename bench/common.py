"""What every benchmark needs: moto with the template's resources, the real handler, a timer."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SITE = "https://www.example.co.jp"


def set_fake_aws_env() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"


@contextmanager
def emulated_stack() -> Iterator[Any]:
    """moto in-process, resources from template.yaml, the track function's environment."""
    set_fake_aws_env()
    import boto3
    from moto import mock_aws

    from reawake_tools.local import moto_patches
    from reawake_tools.local.connect import reset_caches
    from reawake_tools.local.template import create_resources, function_environment, load_template

    moto_patches.apply()
    with mock_aws():
        template = load_template()
        created = create_resources(lambda s: boto3.client(s), parameters={"SiteOrigins": [SITE]})
        os.environ.update(function_environment(template, created, "TrackFunction"))
        reset_caches()
        yield created


def track_caller() -> Callable[[str, str, Any], tuple[int, bytes]]:
    """Call the real track handler with API Gateway v2 events (as the local stack does)."""
    from reawake_tools.local.apigw import http_event, match, proxy_result, routes_of
    from reawake_tools.local.template import load_template
    from tests.conftest import LambdaContext, load_function

    routes = routes_of(load_template())
    app = load_function("track")

    def call(method: str, path: str, body: Any) -> tuple[int, bytes]:
        found = match(routes, method, path)
        assert found
        raw = json.dumps(body).encode()
        event = http_event(found[0], found[1], method, path, {"content-type": "text/plain"}, raw)
        status, _, data = proxy_result(app.handler(event, LambdaContext()))
        return status, data

    return call


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n## {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
