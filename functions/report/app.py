"""Report function: every morning (the template's schedule), write the daily report (HTML + CSV)
to the config bucket under reports/. All logic lives in reawake.reports.entry."""

from typing import Any

from aws_lambda_powertools import Logger

from reawake.core.settings import ReportFunctionSettings, get_settings
from reawake.observability import metrics, tracer
from reawake.reports.entry import handle

logger = Logger()
settings = get_settings(ReportFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
