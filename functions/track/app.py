"""Track function: the public HTTP API. All logic lives in reawake.track_api."""

from typing import Any

from aws_lambda_powertools import Logger

from reawake.settings import TrackFunctionSettings, get_settings
from reawake.track_api import handle

logger = Logger()
settings = get_settings(TrackFunctionSettings)  # cold start: a missing or invalid variable fails here, by name


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
