"""Segment function: plan, evaluate one shard, or finish a daily segment run (reawake.segment_api)."""

from typing import Any

from reawake.logs import function_logger
from reawake.observability import metrics, tracer
from reawake.segment_api import handle
from reawake.settings import SegmentFunctionSettings, get_settings

logger = function_logger()  # masks email addresses in every line
settings = get_settings(SegmentFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
