"""Calls from the local stack's own process to its emulator, served without the loopback HTTP.

The functions, the scheduler and Step Functions' engine run in the same process as moto's server,
yet each of their AWS calls went out as an HTTP request to it: a new connection and a new thread
per request (werkzeug's server closes every connection), then the request parsed back. On a busy
machine that was about half of a segment run's CPU. A botocore ``before-send`` hook hands such a
request (its exact bytes and headers) to the server's own application and gives botocore its
answer: the same routing, the same handlers, the same responses and errors, the same IAM check
(``reawake_tools.local.iam`` runs before this, when the parameters are built). Requests to any
other endpoint, and every other process's (the CLI), still go over HTTP.

What the route leaves out, each because nothing reads it (measured per call: ``bench.emulator_calls``):

- **SigV4 signing.** moto checks no signature unless its own IAM auth is on
  (``INITIAL_NO_AUTH_ACTION_COUNT``; then requests are signed as before). It reads only the
  credential scope of the ``Authorization`` header: the service (which backend serves the
  request), the region and the access key (the account). The route writes that header with the
  client's own key, region and signing name, without the canonical request and the HMACs
  (about a tenth of a GetItem's CPU). The local IAM check never read the signature: it takes the
  role from ``reawake.core.aws.CONTAINER``.
- **Flask.** A request is routed as the server routes it (``DomainDispatcherApplication`` picks the
  service's app, that app's URL map picks the view), and the view's moto handler is called with
  moto's own request object, as ``mock_aws`` does; its answer becomes a ``flask.Response`` as in
  the server (the same status, headers and bytes). Left out: the WSGI round trip, Flask's request
  context, dispatch and after-request hooks (CORS headers, which botocore ignores). Anything else
  (moto's own ``/moto-api``, a path the map does not know) still goes through the whole WSGI
  application. The view the map picks for a (method, path) is kept.

``moto_overheads`` (installed with the route) cuts moto's own per-request costs, ``botocore_overheads``
the clients' serialization of a JSON request (the same bytes), and ``direct`` hands the hot DynamoDB
calls to moto's handler as parameters (no request at all).
"""

from __future__ import annotations

import datetime
import functools
from typing import Any
from urllib.parse import urlsplit

_EVENT = "before-send"
# request-created.<service>.<operation>: botocore runs the handlers of the longer event name first,
# so this runs before the client's signer (registered on request-created.<service>).
_SIGN_EVENTS = (("request-created.*.*", "reawake-in-process-unsigned"), ("before-sign", "reawake-in-process-scope"))
_routes: dict[str, Any] = {}  # endpoint URL -> the WSGI application serving it
_MARK = "reawake_in_process"  # in a request's context: the route serves it, unsigned


def served_in_process(url: str) -> tuple[str, Any] | None:
    """(endpoint, application) of the route serving ``url``, if one does."""
    return _route(url)


def _route(url: str) -> tuple[str, Any] | None:
    for endpoint, app in list(_routes.items()):
        if url == endpoint or url.startswith(endpoint + "/") or url.startswith(endpoint + "?"):
            return endpoint, app
    return None


def _serve(request: Any, **_: Any) -> Any:
    # botocore calls every before-send handler and keeps the first answer. A session can hold this
    # handler twice (from BUILTIN_HANDLERS and from install's register), so a request is served once
    # and marked: served twice, every write (and every SES send) would happen twice.
    if not _routes or getattr(request, "_reawake_served", False):
        return None
    found = _route(str(request.url))
    if found is None:
        return None
    request._reawake_served = True
    return _call(found[1], found[0], request)


def _moto_checks_signatures() -> bool:
    from moto import settings

    return bool(float("inf") > settings.INITIAL_NO_AUTH_ACTION_COUNT)


def _skip_signing(request: Any, **_: Any) -> None:
    """``request-created`` (before the client's signer): a request the route will serve is not
    signed (the operation's auth type ``none``, botocore's own choice for unsigned operations)."""
    if _routes and _route(str(request.url)) is not None and not _moto_checks_signatures():
        request.context["auth_type"] = "none"
        request.context[_MARK] = True


def _write_scope(request: Any, request_signer: Any = None, signing_name: str = "", region_name: str = "",
                 **_: Any) -> None:
    """``before-sign``: the ``Authorization`` header of an unsigned in-process request carries what
    moto reads of it (the credential scope), with the values the signer would have used."""
    if not request.context.get(_MARK) or "Authorization" in request.headers:
        return
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return  # an unsigned client: no header, as signed it would have none either
    signing = request.context.get("signing", {})
    region = signing.get("region") or region_name
    service = signing.get("signing_name") or signing_name
    frozen = credentials.get_frozen_credentials()
    now = datetime.datetime.now(datetime.UTC)
    request.headers["X-Amz-Date"] = now.strftime("%Y%m%dT%H%M%SZ")
    if frozen.token:
        request.headers["X-Amz-Security-Token"] = frozen.token
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{now:%Y%m%d}/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=in-process")


def _body_and_headers(request: Any) -> tuple[bytes, dict[str, str]]:
    body = request.body
    if hasattr(body, "read"):
        request.reset_stream()  # checksums read it already
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {k: v.decode("utf-8") if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
    headers.pop("Expect", None)  # no 100-continue to wait for: the body is here
    return body or b"", headers


def _call(app: Any, endpoint: str, request: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    body, headers = _body_and_headers(request)
    answer: Any = AWSResponse  # botocore's stubs want HTTPHeaders and a urllib3 response; moto's stubber passes these
    served = _dispatch(app, endpoint, request.method, str(request.url), headers, body)
    if served is None:
        served = _through_wsgi(app, endpoint, request.method, str(request.url), headers, body)
    status, response_headers, data = served
    return answer(request.url, status, response_headers, MockRawResponse(data))


def _through_wsgi(app: Any, endpoint: str, method: str, url: str, headers: dict[str, str],
                  body: bytes) -> tuple[int, dict[str, str], bytes]:
    """The whole WSGI application, as the server runs it."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    parts = urlsplit(url)
    environ = EnvironBuilder(method=method, base_url=endpoint, path=parts.path or "/",
                             query_string=parts.query, headers=list(headers.items()), data=body).get_environ()
    chunks, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split(" ", 1)[0]), dict(response_headers.items()), b"".join(chunks)


_views: dict[tuple[int, str, str], Any] = {}  # (app, method, path) -> the view the app's URL map picks
_UNKNOWN = object()


@functools.cache
def _request_class() -> Any:
    from moto.core.request import Request

    class InProcessRequest(Request):
        # As the server's (BackendRequest): moto then leaves the Date header to the server, as it
        # does for every request the server gets.
        from_wsgi_server = True

    return InProcessRequest


def _dispatch(app: Any, endpoint: str, method: str, url: str, headers: dict[str, str],
              body: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """The server's routing and the view's moto handler, without Flask; None: not a moto handler's
    request (the caller runs the WSGI application)."""
    from botocore.exceptions import ClientError
    from moto.core.utils import convert_to_flask_response
    from moto.moto_api import recorder
    from werkzeug.exceptions import HTTPException

    get_application = getattr(app, "get_application", None)
    if get_application is None:
        return None
    # One werkzeug environ per request, as on the WSGI path (moto's own constructor, as mock_aws's).
    moto_request = _request_class().from_primitives(method, url, headers, body)
    environ = moto_request.environ
    service_app = get_application(environ)
    # The app's URL map is fixed once built and matches on the method and path alone (moto's
    # rules name no host): the view for a (method, path) is kept (DynamoDB and SES: one path).
    route = (id(service_app), method, environ.get("PATH_INFO", ""))
    view = _views.get(route, _UNKNOWN)
    if view is _UNKNOWN:
        try:
            view_name, _ = service_app.url_map.bind_to_environ(environ).match()
            view = service_app.view_functions.get(view_name)
        except HTTPException:
            view = None  # not found, a redirect: Flask's own answers
        if len(_views) > 4096:
            _views.clear()
        _views[route] = view
    if not isinstance(view, convert_to_flask_response):
        return None
    # What convert_to_flask_response.__call__ does with Flask's request, with moto's.
    try:
        try:
            recorder._record_request(moto_request)
            result = view.callback(moto_request, moto_request.raw_url, dict(moto_request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
    except HTTPException as exc:  # Flask answers a werkzeug HTTPException with its own response
        answer = exc.get_response(environ)
        return answer.status_code, dict(answer.headers.items()), answer.get_data()
    return served_as_flask(method, *(result if len(result) == 3 else (200, {}, result)))


def served_as_flask(method: str, status: Any, headers: dict[str, Any],
                    content: Any) -> tuple[int, dict[str, str], bytes]:
    """A moto handler's answer as the server's ``flask.Response`` sends it (status, headers, bytes)."""
    from flask import Response

    response = Response(response=content, status=status, headers=headers)
    if method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    return response.status_code, dict(response.headers.items()), response.get_data()


def install(endpoint: str, app: Any) -> None:
    """Serve this process's requests to ``endpoint`` with ``app`` (clients created before and after)."""
    import boto3
    import botocore.handlers

    from reawake_tools.local import botocore_overheads, direct, moto_overheads

    moto_overheads.apply()
    botocore_overheads.apply()
    direct.apply()
    moto_overheads.cache_backend_lookup(app)
    for event, handler in ((_EVENT, _serve), (_SIGN_EVENTS[0][0], _skip_signing), (_SIGN_EVENTS[1][0], _write_scope)):
        if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append((event, handler))  # sessions created later
    events = boto3._get_default_session().events
    events.register(_EVENT, _serve, unique_id="reawake-in-process")
    for (event, unique_id), handler in zip(_SIGN_EVENTS, (_skip_signing, _write_scope), strict=True):
        events.register(event, handler, unique_id=unique_id)
    _routes[endpoint.rstrip("/")] = app


def uninstall(endpoint: str) -> None:
    _routes.pop(endpoint.rstrip("/"), None)
