"""Call-list function: every business morning (the template's schedule), mail each owner the call
tasks of their dormant leads. All logic lives in reawake.calllist_api."""

from typing import Any

from aws_lambda_powertools import Logger

from reawake.calllist_api import handle
from reawake.observability import metrics, tracer

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
