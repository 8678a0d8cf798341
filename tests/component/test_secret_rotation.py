"""A rotated secret (the link-signing key, the activities API key) is picked up by a warm function
once ``SECRET_MAX_AGE_SECONDS`` has passed, without a redeploy; within it, no extra read."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from reawake.core import aws as aws_clients
from reawake.core.settings import DEFAULT_SECRET_MAX_AGE_SECONDS


class FrozenClock:
    """Stands in for ``datetime`` in Powertools' parameter cache: ``now()`` moves only when told."""

    moment = datetime(2026, 11, 24, 10, 0)

    @classmethod
    def now(cls) -> datetime:
        return cls.moment


def test_a_rotated_signing_key_is_used_after_max_age(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    monkeypatch.setattr(base, "datetime", FrozenClock)
    arn = os.environ["SIGNING_SECRET_ARN"]
    before = aws_clients.secret_json(arn)["signing_key"]
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps({"signing_key": "rotated"}))

    FrozenClock.moment += timedelta(seconds=DEFAULT_SECRET_MAX_AGE_SECONDS - 1)
    assert aws_clients.secret_json(arn)["signing_key"] == before  # cached: no read per request
    FrozenClock.moment += timedelta(seconds=2)
    assert aws_clients.secret_json(arn)["signing_key"] == "rotated"  # and then the new key


def test_a_rotated_api_key_is_accepted_and_the_old_one_refused(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    monkeypatch.setattr(base, "datetime", FrozenClock)
    arn = os.environ["API_KEY_SECRET_ARN"]
    old = aws_clients.secret_json(arn)["api_key"]
    activity = {"email": "rotation@example.jp", "type": "purchase", "occurred_at": "2026-11-20T10:00:00+09:00"}
    status, _, _ = api("POST", "/v1/activities", {"activities": [activity]}, {"x-api-key": old})
    assert status == 202  # the positive control: the current key works
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps({"api_key": "new-key"}))
    FrozenClock.moment += timedelta(seconds=DEFAULT_SECRET_MAX_AGE_SECONDS + 1)
    assert api("POST", "/v1/activities", {"activities": [activity]}, {"x-api-key": "new-key"})[0] == 202
    assert api("POST", "/v1/activities", {"activities": [activity]}, {"x-api-key": old})[0] == 401
