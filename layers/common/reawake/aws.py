"""boto3 clients, created on first use (and once per process) to keep cold starts short.

boto3 honours AWS_ENDPOINT_URL, which the local stack sets to its emulator.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from reawake.settings import DEFAULT_SECRET_MAX_AGE_SECONDS


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def secrets() -> Any:
    """Powertools' Secrets Manager provider (its cache of values) over this process's client."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def secret_json(arn: str, max_age: int = DEFAULT_SECRET_MAX_AGE_SECONDS) -> dict[str, Any]:
    """A JSON secret from Secrets Manager, read again once ``max_age`` seconds have passed, so a
    rotated secret is picked up by warm containers without a redeploy."""
    secret: dict[str, Any] = secrets().get(arn, max_age=max_age, transform="json")
    return secret
