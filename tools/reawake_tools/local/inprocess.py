"""Calls from the local stack's own process to its emulator, served without the loopback HTTP.

The functions, the scheduler and Step Functions' engine run in the same process as moto's server,
yet each of their AWS calls went out as an HTTP request to it: a new connection and a new thread
per request (werkzeug's server closes every connection), then the request parsed back. On a busy
machine that was about half of a segment run's CPU. A botocore ``before-send`` hook hands such a
request (already signed, with its exact bytes and headers) to the server's own WSGI application
and gives botocore its answer: the same application, the same responses and errors, the same IAM
check (``reawake_tools.local.iam`` runs before this, when the parameters are built). Requests to
any other endpoint, and every other process's (the CLI), still go over HTTP.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

_EVENT = "before-send"
_routes: dict[str, Any] = {}  # endpoint URL -> the WSGI application serving it


def _serve(request: Any, **_: Any) -> Any:
    # botocore calls every before-send handler and keeps the first answer. A session can hold this
    # handler twice (from BUILTIN_HANDLERS and from install's register), so a request is served once
    # and marked: served twice, every write (and every SES send) would happen twice.
    if not _routes or getattr(request, "_reawake_served", False):
        return None
    request._reawake_served = True
    url = str(request.url)
    for endpoint, app in list(_routes.items()):
        if url == endpoint or url.startswith(endpoint + "/") or url.startswith(endpoint + "?"):
            return _call(app, endpoint, request)
    return None


def _call(app: Any, endpoint: str, request: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    parts = urlsplit(str(request.url))
    body = request.body
    if hasattr(body, "read"):
        request.reset_stream()  # signing and checksums read it already
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {k: v.decode("utf-8") if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
    headers.pop("Expect", None)  # no 100-continue to wait for: the body is here
    environ = EnvironBuilder(method=request.method, base_url=endpoint, path=parts.path or "/",
                             query_string=parts.query, headers=headers, data=body or b"").get_environ()
    chunks, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    data = b"".join(chunks)
    answer: Any = AWSResponse  # botocore's stubs want HTTPHeaders and a urllib3 response; moto's stubber passes these
    return answer(request.url, int(status.split(" ", 1)[0]), dict(response_headers.items()), MockRawResponse(data))


def install(endpoint: str, app: Any) -> None:
    """Serve this process's requests to ``endpoint`` with ``app`` (clients created before and after)."""
    import boto3
    import botocore.handlers

    if (_EVENT, _serve) not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _serve))  # sessions created later
    boto3._get_default_session().events.register(_EVENT, _serve, unique_id="reawake-in-process")
    _routes[endpoint.rstrip("/")] = app


def uninstall(endpoint: str) -> None:
    _routes.pop(endpoint.rstrip("/"), None)
