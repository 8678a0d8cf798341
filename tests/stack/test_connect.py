"""How CLI commands find their target: the running local stack, or a deployed CloudFormation stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reawake_tools.local.connect import NotRunning, deployed_environment, read_stack_file


def test_a_stack_file_left_by_a_dead_process_means_not_running(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"pid": int(dead.stdout), "api_url": "http://127.0.0.1:1"}), encoding="utf-8")
    with pytest.raises(NotRunning, match="start it with `make local`"):
        read_stack_file(path)


class FakeCloudFormation:
    """describe_stacks and list_stack_resources of a deployed stack, as boto3 returns them."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{
            "StackName": StackName,
            "Parameters": [
                {"ParameterKey": "SiteOrigins", "ParameterValue": "https://www.example.co.jp,https://shop.example.co.jp"},
                {"ParameterKey": "TimeZone", "ParameterValue": "Asia/Tokyo"},
                {"ParameterKey": "EventRetentionDays", "ParameterValue": "400"},
                {"ParameterKey": "LogLevel", "ParameterValue": "INFO"},
            ],
            "Outputs": [{"OutputKey": "TableName", "OutputValue": "prod-Table-1ABC"},
                        {"OutputKey": "ConfigBucketName", "OutputValue": "prod-configbucket-xyz"}],
        }]}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_stack_resources"
        resources = [
            ("Table", "prod-Table-1ABC"),
            ("ConfigBucket", "prod-configbucket-xyz"),
            ("SigningSecret", "arn:aws:secretsmanager:ap-northeast-1:111122223333:secret:SigningSecret-AbCd"),
            ("ActivityApiKeySecret", "arn:aws:secretsmanager:ap-northeast-1:111122223333:secret:ApiKey-EfGh"),
        ]

        class Pages:
            def paginate(self, StackName: str) -> list[dict[str, Any]]:
                return [{"StackResourceSummaries": [
                    {"LogicalResourceId": logical, "PhysicalResourceId": physical} for logical, physical in resources]}]

        return Pages()


def test_a_deployed_stack_gives_the_same_environment_as_its_functions() -> None:
    env = deployed_environment("reawake-prod", FakeCloudFormation())
    assert env["TABLE_NAME"] == "prod-Table-1ABC"
    assert env["CONFIG_BUCKET"] == "prod-configbucket-xyz"
    assert env["SIGNING_SECRET_ARN"].endswith(":secret:SigningSecret-AbCd")
    assert env["API_KEY_SECRET_ARN"].endswith(":secret:ApiKey-EfGh")
    assert env["SITE_ORIGINS"] == "https://www.example.co.jp,https://shop.example.co.jp"
    assert env["TIME_ZONE"] == "Asia/Tokyo"
