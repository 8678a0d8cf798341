"""API Gateway HTTP API (payload 2.0) events in, Lambda proxy responses out, and the route table
that the router, the OpenAPI document and the template's routes all come from (docs/decisions.md,
"One route table"). No framework, to keep the track function's cold start short."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class Request:
    route_key: str
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    path_params: dict[str, str]
    body: bytes
    source_ip: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
        http = event.get("requestContext", {}).get("http", {})
        return cls(
            route_key=event.get("routeKey", ""),
            method=str(http.get("method", "")).upper(),
            path=event.get("rawPath", ""),
            headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
            query=dict(event.get("queryStringParameters") or {}),
            path_params=dict(event.get("pathParameters") or {}),
            body=body,
            source_ip=http.get("sourceIp", ""),
        )

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")[:300]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes | str = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def to_proxy(self) -> dict[str, Any]:
        headers = {"content-type": self.content_type, **self.headers}
        if isinstance(self.body, bytes) and not self.content_type.startswith(("text/", "application/json")):
            return {
                "statusCode": self.status,
                "headers": headers,
                "isBase64Encoded": True,
                "body": base64.b64encode(self.body).decode("ascii"),
            }
        body = self.body.decode("utf-8") if isinstance(self.body, bytes) else self.body
        return {"statusCode": self.status, "headers": headers, "isBase64Encoded": False, "body": body}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False), headers=headers or {})


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json_response(status, {"error": error})


Route = Callable[[Request], Response]


@dataclass(frozen=True)
class Operation:
    """One route: what the router calls, and what the OpenAPI document says about it. ``responses``
    maps each status the handler answers to (description, content kind); see ``reawake.tracking.openapi``."""

    method: str
    path: str
    handler: Route
    summary: str
    responses: dict[int, tuple[str, str | None]]
    body: Any = None  # the pydantic model of a JSON body
    params: tuple[str, ...] = ()  # query parameters, all optional strings

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$")

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        return {k: unquote(v) for k, v in found.groupdict().items()} if found else None


class Router:
    """Dispatches on API Gateway's routeKey ("POST /v1/events"). Requests the gateway hands to the
    ``fallback`` route (a known path with another method, an unknown path) get what HTTP asks for:
    HEAD answered as GET (the HTTP layer drops the body), OPTIONS with ``Allow``, another method 405
    with ``Allow``, an unknown path 404. HEAD reaches a GET handler with ``request.method == "HEAD"``:
    it must not write."""

    def __init__(self, fallback: str) -> None:
        self.fallback = fallback
        self.operations: dict[str, Operation] = {}

    def route(
        self,
        route_key: str,
        summary: str,
        responses: dict[int, tuple[str, str | None]],
        body: Any = None,
        params: tuple[str, ...] = (),
    ) -> Callable[[Route], Route]:
        method, path = route_key.split(" ", 1)

        def register(fn: Route) -> Route:
            self.operations[route_key] = Operation(method, path, fn, summary, responses, body, params)
            return fn

        return register

    @property
    def route_keys(self) -> set[str]:
        """What the template's HttpApi events must be, the fallback included."""
        return {*self.operations, self.fallback}

    def allowed(self, path: str) -> tuple[list[str], dict[str, Operation]]:
        found = {op.method: op for op in self.operations.values() if op.match(path) is not None}
        methods = sorted(found) + (["HEAD"] if "GET" in found else [])
        return [*methods, "OPTIONS"] if found else [], found

    def dispatch(self, request: Request) -> Response:
        op = self.operations.get(request.route_key)
        if op is not None and request.method in (op.method, ""):
            return op.handler(request)
        methods, found = self.allowed(request.path)
        if not found:
            return error_response(404, "not_found", "no such path")
        if request.method in found:  # a gateway that routed to the fallback first
            op = found[request.method]
            return op.handler(replace(request, path_params=op.match(request.path) or {}))
        allow = {"allow": ", ".join(methods)}
        if request.method == "HEAD" and "GET" in found:  # GET's answer; the HTTP layer sends only its headers
            get = found["GET"]
            return get.handler(replace(request, path_params=get.match(request.path) or {}))
        if request.method == "OPTIONS":
            return Response(204, b"", "text/plain; charset=utf-8", allow)
        message = f"{request.method[:20] or 'this method'} is not allowed here; allowed: {allow['allow']}"
        return json_response(405, {"error": {"code": "method_not_allowed", "message": message}}, allow)
