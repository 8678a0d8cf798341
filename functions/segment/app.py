"""Segment function: plan, evaluate one shard, or finish a daily segment run (reawake.segment_api)."""

from typing import Any

from aws_lambda_powertools import Logger

from reawake.observability import metrics, tracer
from reawake.segment_api import handle

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
