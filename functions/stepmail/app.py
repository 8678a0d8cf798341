"""Step-mail function: collect a send slot's due enrollments, or work one batch of them
(reawake.stepmail_api), called by SendSlotStateMachine."""

from typing import Any

from aws_lambda_powertools import Logger

from reawake.stepmail_api import handle

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
