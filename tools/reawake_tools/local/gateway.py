"""The HTTP API on loopback, behaving like API Gateway HTTP API in front of the real handlers.

What API Gateway does before and after the integration, and this does too:
- routes from the template's ``HttpApi`` events, matched in API Gateway's order (path and method, then
  ``ANY``, then a greedy ``{proxy+}``), for any method (HEAD is not GET; TRACE is not http.server's 501);
  a request no route takes is 404 ``{"message":"Not Found"}``;
- the HttpApi's ``CorsConfiguration``: OPTIONS preflights answered by the gateway itself (204),
  ``access-control-*`` headers only for an allowed origin, CORS headers from the function ignored;
- payloads over 10 MB refused with 413 before the function runs;
- a payload format 2.0 event in, the Lambda proxy result out; a failing function is a 500.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reawake_tools.local.apigw import Route, http_event, match, proxy_result
from reawake_tools.local.lambdas import Functions
from reawake_tools.local.template import Created, resources_of

log = logging.getLogger("reawake_local")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's hard limit


@dataclass(frozen=True)
class Cors:
    """An HttpApi CorsConfiguration, applied the way API Gateway applies it."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def allowed_origin(self, origin: str | None) -> str | None:
        """The value for access-control-allow-origin, or None when origin is not allowed."""
        if not origin:
            return None
        if origin.rstrip("/") in self.allow_origins:
            return origin
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        return None

    def preflight(self, headers: dict[str, str]) -> dict[str, str]:
        """The headers of the gateway's answer to an OPTIONS request: none unless allowed."""
        origin = self.allowed_origin(headers.get("origin"))
        method = headers.get("access-control-request-method", "").upper()
        wanted = {h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()}
        allowed_headers = {h.lower() for h in self.allow_headers}
        if (
            origin is None
            or not method
            or ("*" not in self.allow_methods and method not in self.allow_methods)
            or ("*" not in allowed_headers and not wanted <= allowed_headers)
        ):
            return {}
        out = {"access-control-allow-origin": origin, "access-control-allow-methods": ",".join(self.allow_methods)}
        if self.allow_headers:
            out["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            out["access-control-max-age"] = str(self.max_age)
        return self._common(out)

    def response_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        out = {"access-control-allow-origin": allowed}
        if self.expose_headers:
            out["access-control-expose-headers"] = ",".join(self.expose_headers)
        return self._common(out)

    def _common(self, out: dict[str, str]) -> dict[str, str]:
        if self.allow_credentials:
            out["access-control-allow-credentials"] = "true"
        if out.get("access-control-allow-origin") != "*":
            out["vary"] = "origin"
        return out


def cors_of(template: dict[str, Any], created: Created) -> Cors | None:
    """The CorsConfiguration of the template's (single) HttpApi, references resolved."""
    for res in resources_of(template, "AWS::Serverless::HttpApi").values():
        config = res.get("Properties", {}).get("CorsConfiguration")
        if not config:
            continue
        if config is True:
            return Cors(("*",), ("*",), ("*",))
        max_age = config.get("MaxAge")
        return Cors(
            allow_origins=_strings(created, config, "AllowOrigins"),
            allow_methods=tuple(m.upper() for m in _strings(created, config, "AllowMethods")),
            allow_headers=_strings(created, config, "AllowHeaders"),
            expose_headers=_strings(created, config, "ExposeHeaders"),
            max_age=int(created.resolve(max_age)) if max_age is not None else None,
            allow_credentials=bool(created.resolve(config.get("AllowCredentials", False))),
        )
    return None


def _strings(created: Created, config: dict[str, Any], key: str) -> tuple[str, ...]:
    value = created.resolve(config.get(key, []))
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(v).strip().rstrip("/") for v in items if str(v).strip())


class PayloadTooLarge(Exception):
    pass


class BadRequest(Exception):
    pass


class Gateway:
    """Routes, CORS and the functions behind them; ``serve`` answers one HTTP request."""

    def __init__(self, routes: list[Route], functions: Functions, cors: Cors | None) -> None:
        self.routes = routes
        self.functions = functions
        self.cors = cors

    def serve(self, req: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        method = req.command.upper()
        path = req.path.split("?", 1)[0]
        headers = request_headers(req)
        origin = headers.get("origin")
        try:
            body = read_body(req, headers)
        except PayloadTooLarge:
            req.close_connection = True
            status = self._json(req, 413, {"message": "Request Entity Too Large"}, origin, {"connection": "close"})
            return self._log(method, req.path, status, started)
        except BadRequest:
            req.close_connection = True
            status = self._json(req, 400, {"message": "Bad Request"}, origin, {"connection": "close"})
            return self._log(method, req.path, status, started)
        if method == "OPTIONS" and self.cors is not None:
            write(req, 204, self.cors.preflight(headers), b"")
            return self._log(method, req.path, 204, started)
        if path in ("/report", "/report/") and method == "GET" and "ReportFunction" in self.functions.specs:
            return self._report(req, method, started)
        found = match(self.routes, method, path)
        if found is None:
            status = self._json(req, 404, {"message": "Not Found"}, origin)
            return self._log(method, req.path, status, started)
        route, params = found
        headers.setdefault("x-forwarded-for", req.client_address[0])
        headers.setdefault("x-forwarded-proto", "http")
        headers.setdefault("x-forwarded-port", str(req.server.server_address[1]))  # type: ignore[index]
        event = http_event(route, params, method, req.path, headers, body, source_ip=req.client_address[0])
        try:
            status, out, data = proxy_result(normalized_result(self.functions.invoke(route.function, event)))
        except Exception:  # a failing function is the gateway's 500, as in AWS
            log.error("%s failed:\n%s", route.function, traceback.format_exc())
            status = self._json(req, 500, {"message": "Internal Server Error"}, origin)
            return self._log(method, req.path, status, started)
        out = {k.lower(): v for k, v in out.items() if not k.lower().startswith("access-control-")}
        out.pop("content-length", None)
        out.pop("transfer-encoding", None)
        out["apigw-requestid"] = event["requestContext"]["requestId"]
        if self.cors is not None:
            out.update(self.cors.response_headers(origin))
        write(req, status, out, data, head=method == "HEAD")
        self._log(method, req.path, status, started)

    def _report(self, req: BaseHTTPRequestHandler, method: str, started: float) -> None:
        """The live report (local only: on AWS the daily report is in the config bucket, behind a
        presigned URL). ``?from=YYYY-MM-DD&to=YYYY-MM-DD``."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(req.path).query).items()}
        try:
            page = self.functions.invoke("ReportFunction", {"render": "html", **query})["html"].encode("utf-8")
            status, kind = 200, "text/html; charset=utf-8"
        except ValueError as exc:
            page, status, kind = str(exc).encode("utf-8"), 400, "text/plain; charset=utf-8"
        write(req, status, {"content-type": kind, "cache-control": "no-store"}, page)
        self._log(method, req.path, status, started)

    def _json(self, req: BaseHTTPRequestHandler, status: int, payload: Any, origin: str | None,
              extra: dict[str, str] | None = None) -> int:
        headers = {"content-type": "application/json", **(extra or {})}
        if self.cors is not None:
            headers.update(self.cors.response_headers(origin))
        body = json.dumps(payload, separators=(",", ":")).encode()
        write(req, status, headers, body, head=req.command.upper() == "HEAD")
        return status

    @staticmethod
    def _log(method: str, path: str, status: int, started: float) -> None:
        log.info("%s %s -> %d (%.0f ms)", method, path.split("?", 1)[0], status, (time.perf_counter() - started) * 1000)


def normalized_result(result: Any) -> dict[str, Any]:
    """Payload format 2.0: a result without statusCode is a 200 JSON body."""
    if isinstance(result, dict) and "statusCode" in result:
        return result
    body = result if isinstance(result, str) else json.dumps(result)
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


def request_headers(req: BaseHTTPRequestHandler) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with commas, as API Gateway does."""
    out: dict[str, str] = {}
    for name, value in req.headers.items():
        key = name.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def read_body(req: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = req.rfile.readline(1024)
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BadRequest from exc
            if length == 0:
                while req.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size += length
            if size > MAX_PAYLOAD_BYTES:
                raise PayloadTooLarge
            chunks.append(req.rfile.read(length))
            req.rfile.readline(1024)
    try:
        length = int(headers.get("content-length") or 0)
    except ValueError as exc:
        raise BadRequest from exc
    if length < 0:
        raise BadRequest
    if length > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge
    return req.rfile.read(length) if length else b""


def write(req: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, head: bool = False) -> None:
    try:
        req.send_response(status)
        for name, value in headers.items():
            req.send_header(name, value)
        if status != 204 and status != 304:
            req.send_header("content-length", str(len(body)))
        req.end_headers()
        if not head and status not in (204, 304) and body:
            req.wfile.write(body)
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        req.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayServer

    def _serve(self) -> None:
        self.server.gateway.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, PROPFIND, ...) goes to the routes too, as on API Gateway, instead of
        http.server's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: " + format, *args)


class GatewayServer(ThreadingHTTPServer):
    """Bind first (the port is needed before the resources exist), attach the gateway later."""

    daemon_threads = True
    block_on_close = False
    gateway: Gateway

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
