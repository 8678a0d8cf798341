"""boto3 clients, created on first use (and once per process) to keep cold starts short.

boto3 honours AWS_ENDPOINT_URL, which the local stack sets to its emulator.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def secret_json(arn: str) -> dict[str, Any]:
    """A JSON secret from Secrets Manager, read once per container."""
    secret: dict[str, Any] = json.loads(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return secret
