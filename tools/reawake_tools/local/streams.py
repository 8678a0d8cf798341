"""The local stand-in for Lambda's DynamoDB-stream event source mappings.

For every function event of ``Type: DynamoDB`` in template.yaml, a poller reads the table's stream
from the emulator (``describe_stream`` / ``get_shard_iterator`` / ``get_records``), keeps the
records that match the event's ``FilterCriteria`` (EventBridge-style patterns, as Lambda applies
them), and invokes the function in-process with real-shaped batches (``{"Records": [...]}`` with
``eventSource: aws:dynamodb``, ``eventSourceARN``, ``dynamodb.NewImage`` ...), ``BatchSize`` at a
time. Like Lambda it honours ``FunctionResponseTypes: [ReportBatchItemFailures]`` (a batch is
retried from its first failed record), ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError``
(a failing batch is split in two) and ``DestinationConfig.OnFailure`` (the exhausted batch's
metadata goes to the SQS queue, then the poller moves on). It polls every ``POLL_SECONDS``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reawake_tools.local.template import Created, resources_of

log = logging.getLogger("reawake_local")
POLL_SECONDS = 0.05
RETRY_BACKOFF_S = 0.05
MISSING = object()


# --- filter patterns (the subset of EventBridge's syntax Lambda event filtering accepts) ---------


class PatternError(ValueError):
    pass


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _numeric(conditions: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if len(conditions) % 2:
        raise PatternError(f"numeric: expected operator/number pairs, not {conditions!r}")
    ops: dict[str, Callable[[float, float], bool]] = {
        "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    }
    for op, number in zip(conditions[::2], conditions[1::2], strict=True):
        if op not in ops:
            raise PatternError(f"numeric: unknown operator {op!r}")
        if not ops[op](float(value), float(number)):
            return False
    return True


def _option(option: Any, value: Any) -> bool:
    """One element of a pattern's list against one value (MISSING when the field is absent)."""
    if isinstance(option, dict):
        if len(option) != 1:
            raise PatternError(f"a matcher has exactly one key, not {sorted(option)}")
        ((op, arg),) = option.items()
        if op == "exists":
            return (value is not MISSING) == bool(arg)
        if value is MISSING:
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(str(arg))
        if op == "suffix":
            return isinstance(value, str) and value.endswith(str(arg))
        if op == "equals-ignore-case":
            return isinstance(value, str) and value.casefold() == str(arg).casefold()
        if op == "anything-but":
            excluded = arg if isinstance(arg, list) else [arg]
            return not any(_same(value, x) for x in excluded)
        if op == "numeric":
            return _numeric(list(arg), value)
        raise PatternError(f"unknown matcher {op!r}")
    if isinstance(option, list):
        raise PatternError("a pattern's list holds values or matchers, not lists")
    return value is not MISSING and _same(option, value)


def _leaf(options: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        values = [MISSING]
    return any(_option(o, v) for o in options for v in values)


def matches(pattern: dict[str, Any], document: Any) -> bool:
    """Whether ``document`` (a stream record as Lambda sees it) matches one filter ``pattern``:
    every key of the pattern must match; a dict descends, a list lists the accepted values or
    matchers (``prefix``, ``suffix``, ``anything-but``, ``numeric``, ``exists``,
    ``equals-ignore-case``); plain values compare as JSON (``true`` is not ``"true"``)."""
    if not isinstance(pattern, dict):
        raise PatternError("a filter pattern is a JSON object")
    for key, expected in pattern.items():
        value = document.get(key, MISSING) if isinstance(document, dict) else MISSING
        if isinstance(expected, dict):
            if not matches(expected, value if isinstance(value, dict) else {}):
                return False
        elif isinstance(expected, list):
            if not _leaf(expected, value):
                return False
        else:
            raise PatternError(f"{key}: the values of a pattern are objects or lists, not {expected!r}")
    return True


def parse_filters(filter_criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The patterns of a ``FilterCriteria`` (no criteria: everything passes)."""
    patterns = []
    for item in (filter_criteria or {}).get("Filters", []):
        pattern = json.loads(item["Pattern"])
        matches(pattern, {})  # validates
        patterns.append(pattern)
    return patterns


def passes(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Lambda keeps a record that matches any of the filters (all of them without filters)."""
    return not patterns or any(matches(p, record) for p in patterns)


# --- event source mappings ---------------------------------------------------------------------


@dataclass
class StreamMapping:
    function: str  # logical id
    stream_arn: str
    batch_size: int = 100
    batching_window_s: float = 0
    starting_position: str = "LATEST"
    filters: list[dict[str, Any]] = field(default_factory=list)
    report_failures: bool = False
    max_retries: int = -1  # -1: until the record expires (here: forever)
    bisect: bool = False
    on_failure: str | None = None  # an SQS queue ARN
    iterator: str | None = None
    shard_id: str = ""


def mappings_of(template: dict[str, Any], created: Created) -> list[StreamMapping]:
    found = []
    for logical, res in resources_of(template, "AWS::Serverless::Function").items():
        for event in (res["Properties"].get("Events") or {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            props = event["Properties"]
            destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            found.append(StreamMapping(
                function=logical,
                stream_arn=str(created.resolve(props["Stream"])),
                batch_size=int(props.get("BatchSize", 100)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                starting_position=str(props.get("StartingPosition", "LATEST")),
                filters=parse_filters(props.get("FilterCriteria")),
                report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                max_retries=int(props.get("MaximumRetryAttempts", -1)),
                bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                on_failure=str(created.resolve(destination)) if destination else None,
            ))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    return value


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A get_records record as Lambda hands it to a function."""
    shaped: dict[str, Any] = _jsonable(record)
    shaped["eventSource"] = "aws:dynamodb"
    shaped["eventSourceARN"] = stream_arn
    shaped["awsRegion"] = region
    shaped.setdefault("eventVersion", "1.1")
    return shaped


def kept_records(patterns: list[dict[str, Any]], raw: list[dict[str, Any]], stream_arn: str,
                 region: str) -> list[dict[str, Any]]:
    """``[lambda_record(r) for r in raw if passes(patterns, lambda_record(r))]``, shaping only the
    records kept. A filter is decided on what it reads of the record: the keys its pattern names,
    each value it compares shaped whole (``_along``), the same values the shaped record holds there.
    A segment run's writes are records the revisit filter drops; shaping each (both images, copied)
    was a tenth of the stack's CPU. A record read unsized (``moto_overheads.unsized_reads``) is sized
    when kept (``moto_overheads.size``: moto's own formula), or first when a pattern names SizeBytes."""
    from reawake_tools.local.moto_overheads import size

    if not patterns or "SizeBytes" in json.dumps(patterns):  # every record sized: the filter may read it
        shaped = [lambda_record(size(r), stream_arn, region) for r in raw]
        return [r for r in shaped if passes(patterns, r)]
    kept = []
    for record in raw:
        top = {**record, "eventSource": "aws:dynamodb", "eventSourceARN": stream_arn, "awsRegion": region}
        top.setdefault("eventVersion", "1.1")
        if any(matches(pattern, _along(pattern, top)) for pattern in patterns):
            kept.append(lambda_record(size(record), stream_arn, region))
    return kept


def _along(pattern: dict[str, Any], document: Any) -> Any:
    """``_jsonable(document)`` where ``pattern`` looks: the keys it names (absent ones stay absent),
    down the pattern's objects; a value the pattern compares (a list of options) is shaped whole."""
    if not isinstance(document, dict):
        return _jsonable(document)
    return {key: _along(expected, document[key]) if isinstance(expected, dict) else _jsonable(document[key])
            for key, expected in pattern.items() if key in document}


def _iso(seconds: float | None) -> str:
    moment = datetime.fromtimestamp(seconds, UTC) if seconds is not None else datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StreamConsumer:
    """One thread polling every mapping's stream; a service of the local stack."""

    name = "streams"

    def __init__(self, mappings: list[StreamMapping], invoke: Callable[[str, Any], Any],
                 clients: Callable[[str], Any], function_arns: dict[str, str] | None = None,
                 trim: bool = False) -> None:
        """trim: drop the stream records every mapping has read (the local stack, whose pollers are
        the streams' only readers): moto keeps every record of a table's life, both images, in
        memory, more than the items themselves. A reader holding an older iterator then gets moto's
        error, as a trimmed DynamoDB stream answers TrimmedDataAccessException."""
        self.mappings = mappings
        self.invoke = invoke
        self.clients = clients
        self.function_arns = function_arns or {}
        self.trim = trim
        self.trimmed = 0  # records dropped after every mapping had read them
        self.delivered = 0  # records handed to functions
        self.failed_batches = 0  # sent to an on-failure destination
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for mapping in self.mappings:
            self._open(mapping)  # LATEST = from now: what the stack writes from here on
        self._thread = threading.Thread(target=self._run, name="reawake-streams", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)  # a daemon: a handler still busy is left behind (bounded stop)

    def _open(self, mapping: StreamMapping) -> None:
        streams = self.clients("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]
        mapping.shard_id = shards[0]["ShardId"]
        mapping.iterator = streams.get_shard_iterator(
            StreamArn=mapping.stream_arn, ShardId=mapping.shard_id, ShardIteratorType=mapping.starting_position
        )["ShardIterator"]

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for mapping in self.mappings:
                try:
                    busy = self.poll(mapping) or busy
                except Exception:
                    log.exception("polling the stream for %s failed", mapping.function)
                    self._stop.wait(1)
            if not busy:
                self._stop.wait(POLL_SECONDS)

    # --- one poll ----------------------------------------------------------------------------------

    def poll(self, mapping: StreamMapping) -> bool:
        """Read what is new on the stream and deliver it; True when there were records."""
        streams = self.clients("dynamodbstreams")
        region = streams.meta.region_name
        response = _read_in_process(mapping.iterator, region)
        if response is None:
            response = streams.get_records(ShardIterator=mapping.iterator, Limit=1000)
        _forget_iterator(mapping.iterator, region)
        mapping.iterator = response.get("NextShardIterator") or mapping.iterator
        raw = response.get("Records", [])
        if self.trim and raw:
            self.trimmed += _trim(self.mappings, region)
        if not raw:
            return False
        kept = kept_records(mapping.filters, raw, mapping.stream_arn, region)
        for start in range(0, len(kept), mapping.batch_size):
            self.deliver(mapping, kept[start : start + mapping.batch_size])
        return True

    def deliver(self, mapping: StreamMapping, batch: list[dict[str, Any]]) -> None:
        """Invoke until the batch is done, retrying as Lambda does; an exhausted batch goes to the
        on-failure destination (its metadata, not its records) and the poller moves on."""
        pending = batch
        attempts = 0
        while pending:
            attempts += 1
            failed_from, error = self._invoke(mapping, pending)
            self.delivered += len(pending) if attempts == 1 else 0
            if failed_from is None:
                return
            if error and mapping.bisect and len(pending) > 1:
                half = len(pending) // 2  # a function error splits the batch; each half on its own
                self.deliver(mapping, pending[:half])
                self.deliver(mapping, pending[half:])
                return
            pending = pending[failed_from:]
            if 0 <= mapping.max_retries < attempts:
                self._send_failure(mapping, pending, attempts, error)
                return
            time.sleep(RETRY_BACKOFF_S * attempts)

    def _invoke(self, mapping: StreamMapping, batch: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first record to retry, or None when all is done; whether the function failed)."""
        try:
            result = self.invoke(mapping.function, {"Records": batch})
        except Exception:
            log.exception("%s failed on a batch of %d stream records", mapping.function, len(batch))
            return 0, True
        if not mapping.report_failures or not isinstance(result, dict):
            return None, False
        failures = result.get("batchItemFailures") or []
        if not failures:
            return None, False
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        positions = [sequence.index(f.get("itemIdentifier")) for f in failures if f.get("itemIdentifier") in sequence]
        # An identifier that is not in the batch (or empty) fails the whole batch, as on Lambda.
        return (min(positions) if len(positions) == len(failures) else 0), False

    def _send_failure(self, mapping: StreamMapping, records: list[dict[str, Any]], attempts: int,
                      error: bool) -> None:
        self.failed_batches += 1
        log.error("%s: %d stream record(s) failed after %d attempts", mapping.function, len(records), attempts)
        if not mapping.on_failure:
            return
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arns.get(mapping.function, mapping.function),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": "Unhandled" if error else None},
            "version": "1.0",
            "timestamp": _iso(None),
            "DDBStreamBatchInfo": {
                "shardId": mapping.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": mapping.stream_arn,
            },
        }
        sqs = self.clients("sqs")
        url = sqs.get_queue_url(QueueName=mapping.on_failure.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def _streams_backend(iterator: str | None, region: str) -> Any:
    """moto's streams backend that issued this iterator, when the emulator runs in this process."""
    if not iterator:
        return None
    try:
        from moto.dynamodbstreams.models import dynamodbstreams_backends
    except ImportError:
        return None
    for account in list(dynamodbstreams_backends):
        backends = dynamodbstreams_backends[account]
        if region in backends and iterator in backends[region].shard_iterators:
            return backends[region]
    return None


def _read_in_process(iterator: str | None, region: str) -> dict[str, Any] | None:
    """get_records straight from the emulator in this process (None: it is elsewhere). The same
    records as over HTTP, without the request, its signature and botocore's parsing of every
    record's images, 20 times a second: the poller was a quarter of the stack's CPU in an import."""
    backend = _streams_backend(iterator, region)
    if backend is None:
        return None
    from reawake_tools.local.moto_overheads import unsized_reads

    try:
        with unsized_reads():  # sized by kept_records, for the records it keeps
            response: dict[str, Any] = backend.get_records(iterator, 1000)
    except Exception:
        return None  # let the HTTP call give the emulator's own error
    return response


def _trim(mappings: list[StreamMapping], region: str) -> int:
    """Drop the records of each stream that every mapping on it has read; how many. Records are
    handed to the function after the read, from this poller's memory (retries included), so what
    the iterators are past is never read again."""
    from reawake_tools.local.moto_patches import trim_stream

    positions: dict[int, tuple[Any, int]] = {}
    for mapping in mappings:
        backend = _streams_backend(mapping.iterator, region)
        iterator = backend.shard_iterators.get(mapping.iterator) if backend is not None else None
        if iterator is None:
            return 0  # a mapping read elsewhere (over HTTP): nothing is known to be read by all
        shard, at = iterator.stream_shard, int(iterator.sequence_number)
        known = positions.get(id(shard))
        positions[id(shard)] = (shard, at if known is None else min(known[1], at))
    return sum(trim_stream(shard, at) for shard, at in positions.values())


def _forget_iterator(arn: str | None, region: str) -> None:
    """moto keeps every shard iterator it hands out; polling 20 times a second would pile them up.
    The emulator runs in this process, so the used one is dropped (best effort)."""
    if not arn:
        return
    try:
        from moto.dynamodbstreams.models import dynamodbstreams_backends
    except ImportError:
        return
    try:
        for account in list(dynamodbstreams_backends):
            backends = dynamodbstreams_backends[account]
            if region in backends:
                backends[region].shard_iterators.pop(arn, None)
    except Exception:  # noqa: S110 - an optimisation only
        pass
