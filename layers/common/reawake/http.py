"""API Gateway HTTP API (payload 2.0) events in, Lambda proxy responses out: no framework,
to keep the track function's cold start short."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    route_key: str
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


class Router:
    """Dispatches on API Gateway's routeKey ("POST /v1/events")."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def route(self, route_key: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[route_key] = fn
            return fn

        return register

    def dispatch(self, request: Request) -> Response:
        route = self.routes.get(request.route_key)
        if route is None:
            return error_response(404, "not_found", f"no route {request.route_key!r}")
        return route(request)
