"""Track function: the public HTTP API. All logic lives in reawake.tracking.routes."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from reawake.core.logs import function_logger
from reawake.core.settings import TrackFunctionSettings, get_settings
from reawake.observability import metrics, tracer
from reawake.tracking.routes import handle

logger = function_logger()  # masks email addresses in every line
settings = get_settings(TrackFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
