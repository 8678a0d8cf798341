"""boto3 clients, created on first use (and once per container) to keep cold starts short.

boto3 honours AWS_ENDPOINT_URL, which the local stack sets to its emulator.

On AWS a container runs one function, so "per container" is "per process". The local stack runs
every function in one process and names the one running in ``CONTAINER``: a client, a secret or a
config object one function read is then never served from cache to another, which would hide a
grant missing from the other's role (``reawake_tools.local.iam``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any, Generic, TypeVar

from reawake.core.settings import DEFAULT_SECRET_MAX_AGE_SECONDS

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


def secret_json(arn: str, max_age: int = DEFAULT_SECRET_MAX_AGE_SECONDS) -> dict[str, Any]:
    """A JSON secret from Secrets Manager, read again once ``max_age`` seconds have passed, so a
    rotated secret is picked up by warm containers without a redeploy (one cache per container)."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secret: dict[str, Any] = secrets().get(arn, max_age=max_age, transform="json")
    except GetParameterError as exc:
        # Powertools wraps every error of the call; re-raise the AWS one (an IAM denial is a
        # ClientError AccessDeniedException), as a direct boto3 call would, so callers and the
        # Lambda's errorType see what AWS said.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (ClientError, BotoCoreError)):
            raise cause from None
        raise
    return secret


def secrets() -> Any:
    """Powertools' Secrets Manager provider (its cache of values) over this container's client."""
    return _secrets(CONTAINER.get())


@cache
def _client(container: str, service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def _secrets(container: str) -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def clear() -> None:
    """Forget every container's clients and secrets (the environment changed)."""
    _client.cache_clear()
    _secrets.cache_clear()
