"""boto3 clients, created on first use (and once per container) to keep cold starts short.

boto3 honours AWS_ENDPOINT_URL, which the local stack sets to its emulator.

On AWS a container runs one function, so "per container" is "per process". The local stack runs
every function in one process and names the one running in ``CONTAINER``: a client, a secret or a
config object one function read is then never served from cache to another, which would hide a
grant missing from the other's role (``reawake.local.iam``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: The function whose code is running (its logical id) on the local stack; "" on AWS and in tools.
CONTAINER: ContextVar[str] = ContextVar("reawake_container", default="")


class per_container(Generic[T]):
    """``functools.cache`` for a factory without arguments, one value per container."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self._values: dict[str, T] = {}

    def __call__(self) -> T:
        container = CONTAINER.get()
        if container not in self._values:
            self._values[container] = self.factory()
        return self._values[container]

    def cache_clear(self) -> None:
        self._values.clear()


def client(service: str) -> Any:
    return _client(CONTAINER.get(), service)


def secret_json(arn: str) -> dict[str, Any]:
    """A JSON secret from Secrets Manager, read once per container."""
    return _secret_json(CONTAINER.get(), arn)


@cache
def _client(container: str, service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def _secret_json(container: str, arn: str) -> dict[str, Any]:
    secret: dict[str, Any] = json.loads(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return secret


def clear() -> None:
    """Forget every container's clients and secrets (the environment changed)."""
    _client.cache_clear()
    _secret_json.cache_clear()
