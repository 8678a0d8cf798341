"""Logs without raw email addresses: what every function's Logger and the local stack's log use.

Log calls pass ids, never addresses, but a traceback or an error message from a library can
quote input. Every line is masked on its way out: ``taro@example.co.jp`` -> ``***@example.co.jp``
(the domain stays: it tells a bounce storm at one company apart from a general failure).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aws_lambda_powertools import Logger

EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?=[A-Za-z0-9-]+\.)")


def redact(text: str) -> str:
    """The text with the local part of every email address masked."""
    return EMAIL.sub("***@", text)


def _redacted_json(value: Any) -> str:
    return redact(json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False))


def function_logger() -> Logger:
    """A function's Powertools Logger (service from POWERTOOLS_SERVICE_NAME), its lines masked."""
    return Logger(json_serializer=_redacted_json)


class RedactingFormatter(logging.Formatter):
    """A plain formatter whose whole output (message and traceback) is masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
