"""Call-list function: every business morning (the template's schedule), mail each owner the call
tasks of their dormant leads. All logic lives in reawake.calllists.entry."""

from typing import Any

from reawake.calllists.entry import handle
from reawake.core.logs import function_logger
from reawake.core.settings import CallListFunctionSettings, get_settings
from reawake.observability import metrics, tracer

logger = function_logger()  # masks email addresses in every line
settings = get_settings(CallListFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
