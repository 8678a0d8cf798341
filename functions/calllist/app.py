"""Call-list function: every business morning (the template's schedule), mail each owner the call
tasks of their dormant leads. All logic lives in reawake.calllist_api."""

from typing import Any

from reawake.calllist_api import handle
from reawake.logs import function_logger
from reawake.observability import metrics, tracer
from reawake.settings import CallListFunctionSettings, get_settings

logger = function_logger()  # masks email addresses in every line
settings = get_settings(CallListFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
