"""Alert function: revisit events from the table's stream (the template's filter lets only those
through), one record at a time with partial-batch failure. All logic lives in reawake.alerts.entry."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from reawake.alerts.entry import handle_record
from reawake.core.logs import function_logger
from reawake.core.settings import AlertFunctionSettings, get_settings
from reawake.observability import metrics, tracer

logger = function_logger()  # masks email addresses in every line
settings = get_settings(AlertFunctionSettings)  # cold start: a missing or invalid variable fails here, by name
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> str:
    return handle_record(record.raw_event).status


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
