"""The hot DynamoDB calls of the local stack's own process handed to moto's handler as parameters.

On the in-process route (``reawake_tools.local.inprocess``) a call still made the whole trip of a
request: botocore resolved the endpoint ruleset, serialized the parameters to JSON, built and
prepared an ``AWSRequest``; the route built a werkzeug request, moto's ``setup_class`` parsed its
URL, query and headers and read the JSON back into the same parameters. For a first segment run
(one ``TransactWriteItems`` a lead) that trip was about a third of the stack's CPU. Here the calls in
``OPERATIONS`` go from the validated parameters straight to moto's ``DynamoHandler``:

- **botocore, before**: the same ``provide-client-params`` and ``before-parameter-build`` events
  (the local IAM check, ``reawake_tools.local.iam``, and botocore's idempotency token), and the same
  parameter validation with the same ``ParamValidationError``.
- **moto**: the handler gets what ``setup_class`` gives it for that request (region and account
  from the client's credential scope, the target header, moto's parse of the parameters by its
  planned JSON parser; blobs as the bytes the base64 would carry) and answers through its own
  ``call_action``: the same backend call, the same errors serialized by moto, the same consumed
  capacity, stream records and request id.
- **botocore, after**: moto's answer (status, headers, bytes, as the route passes them) is parsed by
  the client's own parser, with the modeled error fields, and raised as the ``ClientError`` of its
  code, as ``BaseClient._make_api_call`` does; ``before-parse`` and ``after-call`` are emitted.

Left out: the ruleset (with an endpoint URL it answers that URL), the serialization, ``before-call``
(its only handlers for DynamoDB add headers moto does not read; a call with any other handler there —
botocore's ``Stubber`` — takes the whole route), the signing and ``before-send`` events, and retries
(moto does not throttle; a retryable error is raised at once, ``RetryAttempts`` 0). Any other call,
a client without credentials, moto's own IAM auth or its request recorder on: the route as before.
``tests/component/test_direct.py`` compares the answers and errors with the route's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlparse

# Imported by ``inprocess.install`` only (moto and botocore are loaded by then): names bound once.
from botocore.awsrequest import AWSResponse
from botocore.endpoint import convert_to_response_dict
from botocore.exceptions import ClientError, ParamValidationError
from botocore.history import get_global_history_recorder
from botocore.validate import ParamValidator
from moto import settings
from moto.core.botocore_stubber import MockRawResponse
from moto.core.parse import JSONParser
from moto.core.responses import ActionResult
from moto.core.utils import get_service_model
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.iam.models import mark_account_as_visited
from moto.moto_api import recorder
from moto.utilities.utils import get_partition
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from reawake_tools.local import inprocess

OPERATIONS = frozenset({"TransactWriteItems", "UpdateItem", "PutItem", "GetItem", "Query", "BatchGetItem"})
_TARGET = "DynamoDB_20120810"  # the X-Amz-Target prefix botocore sends (the model's targetPrefix)
_applied = False
_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, botocore's, ours)
# before-call handlers botocore registers for every service: they add request headers moto does not read
_HEADER_ONLY = frozenset({"add_recursion_detection_header", "inject_api_version_header_if_needed"})


class Stats:
    """Calls served here (the tests' positive control)."""

    calls = 0


def apply() -> None:
    """Install (idempotent; with the in-process route, which decides which endpoints are served)."""
    global _applied
    if _applied:
        return
    from botocore import client

    BaseClient: Any = client.BaseClient  # botocore's stubs leave its internals out
    as_botocore: Callable[..., Any] = BaseClient._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name in OPERATIONS and _served(self, operation_name):
            return _call(self, operation_name, api_params)
        return as_botocore(self, operation_name, api_params)

    _replaced.append((BaseClient, "_make_api_call", as_botocore, _make_api_call))
    BaseClient._make_api_call = _make_api_call
    _applied = True


def stock() -> AbstractContextManager[None]:
    """botocore's own call (the whole route) for the duration: the tests' reference."""
    from reawake_tools.local.moto_overheads import originals_of

    return originals_of(_replaced)


def _served(client: Any, operation_name: str) -> bool:
    if client._service_model.service_name != "dynamodb":
        return False
    if getattr(client._request_signer, "_credentials", None) is None:
        return False  # unsigned: the route's request would carry no credential scope
    if inprocess.served_in_process(client.meta.endpoint_url or "") is None:
        return False
    if recorder._user_enabled:
        return False
    handlers = client.meta.events._emitter._handlers.prefix_search(f"before-call.dynamodb.{operation_name}")
    return all(getattr(handler, "__name__", "") in _HEADER_ONLY for handler in handlers)


def _call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    """``BaseClient._make_api_call`` with moto's handler for the request and its answer."""
    operation_model = client._service_model.operation_model(operation_name)
    get_global_history_recorder().record(
        "API_CALL", {"service": "dynamodb", "operation": operation_name, "params": api_params})
    context = {"client_region": client.meta.region_name, "client_config": client.meta.config,
               "has_streaming_input": operation_model.has_streaming_input,
               "auth_type": operation_model.resolved_auth_type,
               "unsigned_payload": operation_model.unsigned_payload,
               "auth_options": client._service_model.metadata.get("auth")}
    api_params = client._emit_api_params(api_params=api_params, operation_model=operation_model, context=context)
    if client.meta.config.parameter_validation:
        report = ParamValidator().validate(api_params, operation_model.input_shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
    Stats.calls += 1
    status, headers, body = _moto_answer(client, operation_name, api_params)
    answer: Any = AWSResponse  # as the route builds it (inprocess._call): the stubs want HTTPHeaders
    http = answer(client.meta.endpoint_url, status, headers, MockRawResponse(body))
    response_dict = convert_to_response_dict(http, operation_model)
    customized: dict[str, Any] = {}
    client.meta.events.emit(f"before-parse.dynamodb.{operation_name}", operation_model=operation_model,
                            response_dict=response_dict, customized_response_dict=customized)
    endpoint = client._endpoint
    parser = endpoint._response_parser_factory.create_parser(client._service_model.resolved_protocol)
    parsed = parser.parse(response_dict, operation_model.output_shape)
    parsed.update(customized)
    if status >= 300:
        endpoint._add_modeled_error_fields(response_dict, parsed, operation_model, parser)
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    client.meta.events.emit(f"after-call.dynamodb.{operation_name}", http_response=http, parsed=parsed,
                            model=operation_model, context=context)
    if status >= 300:
        code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
        raise client.exceptions.from_code(code)(parsed, operation_name)
    return parsed


def _moto_answer(client: Any, operation_name: str, api_params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """What the route gets from moto for this call: status, headers and body as the server sends them."""
    handler: Any = DynamoHandler()
    url = client.meta.endpoint_url
    region = client.meta.region_name
    credentials = client._request_signer._credentials.get_frozen_credentials()
    # What setup_class makes of the route's request (a POST of JSON to "/"), the parts a DynamoDB
    # handler reads: the action from the target header, region and account from the credential scope
    # (the route's Authorization header), moto's parse of the body.
    handler.is_werkzeug_request = True  # the route's request is the server's kind: no Date header
    handler.normalized_request = None
    handler.parsed_url = _parsed(url)
    handler.uri, handler.path, handler.raw_path, handler.method = url + "/", "/", "/", "POST"
    handler.querystring, handler.data, handler.uri_match = {}, {}, {}
    scope = f"{credentials.access_key}/00000000/{region}/dynamodb/aws4_request"
    handler.headers = Headers({"Host": handler.parsed_url.netloc, "X-Amz-Target": f"{_TARGET}.{operation_name}",
                               "Content-Type": "application/x-amz-json-1.0",
                               "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}"})
    handler.response_headers = {"server": "amazon.com"}
    handler.region = region
    handler.partition = _partition(region)
    handler.params = _moto_params(operation_name, api_params)
    handler.serialized = functools.partial(_serialized, handler, operation_name)
    handler.body = handler.raw_body = None  # call_action sets body to the parameters
    handler.access_key = handler.get_access_key()
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(account_id=handler.current_account, access_key=handler.access_key,
                            service="dynamodb", region=region)
    try:
        try:
            result = handler.call_action()
        except ClientError as exc:  # as the route's dispatch (convert_to_flask_response)
            result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:
        answer = exc.get_response()
        return answer.status_code, dict(answer.headers.items()), answer.get_data()
    return inprocess.served_as_flask("POST", *result)


# (operation, repr of a small plain result) -> moto's serialization of it
_answers: dict[tuple[str, str], tuple[int, dict[str, str], Any]] = {}
SMALL = 512  # characters of a result's repr: a write's answer ({"ConsumedCapacity": [], ...}), not items


def _serialized(handler: Any, operation_name: str, result: Any) -> tuple[int, dict[str, str], Any]:
    """moto's ``serialized`` of the handler's result, kept for small results of plain values: moto's
    serializer (a walk of the output shape that tries five aliases for every member) depends on the
    operation and the result only here (the direct way's content type and response headers are
    fixed), and a write answers the same few values every time."""
    plain = type(result) in (ActionResult, DynamoResult) and not settings.PRETTIFY_RESPONSES and _plain(result.result)
    key = (operation_name, repr(result.result)) if plain else None
    if key is None or len(key[1]) > SMALL:
        return DynamoHandler.serialized(handler, result)
    found = _answers.get(key)
    if found is None:
        found = DynamoHandler.serialized(handler, result)
        if len(_answers) >= 4096:
            _answers.clear()
        _answers[key] = found
    status, headers, body = found
    return status, dict(headers), body  # call_action adds the request id to the headers


def _plain(value: Any) -> bool:
    """Only plain JSON values (``repr`` tells every two of them apart), and few of them."""
    kind = type(value)
    if kind is dict:
        return len(value) <= 16 and all(type(key) is str and _plain(inner) for key, inner in value.items())
    if kind is list:
        return len(value) <= 16 and all(_plain(inner) for inner in value)
    return kind in (str, int, float, bool, type(None))


@functools.lru_cache(maxsize=64)
def _parsed(url: str) -> Any:
    return urlparse(url + "/")


@functools.lru_cache(maxsize=64)
def _partition(region: str) -> str:
    return get_partition(region)


def _moto_params(operation_name: str, api_params: dict[str, Any]) -> Any:
    """moto's parse of the JSON botocore would send for ``api_params``: the parameters through moto's
    own JSON parser, minus the JSON. The operations' inputs hold only structures, lists, maps,
    strings, numbers, booleans and blobs; a blob is what moto's base64 decoding of botocore's encoding
    gives (a string's UTF-8 bytes, the bytes)."""
    parser, shape = _parser(operation_name)
    return parser._parse_shape(shape, api_params)


@functools.cache
def _parser(operation_name: str) -> tuple[Any, Any]:
    operation_model = get_service_model("dynamodb").operation_model(operation_name)
    parser = JSONParser(operation_model, blob_parser=_blob, map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE)
    return parser, operation_model.input_shape


def _blob(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
