"""Build real-shaped API Gateway HTTP API (payload format 2.0) events from HTTP requests,
matching the template's routes the way API Gateway does."""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from reawake_tools.local.template import resources_of

TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # logical id
    pattern: re.Pattern[str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def routes_of(template: dict[str, Any]) -> list[Route]:
    routes = []
    for logical, res in resources_of(template, "AWS::Serverless::Function").items():
        for ev in res["Properties"].get("Events", {}).values():
            if ev["Type"] != "HttpApi":
                continue
            path = ev["Properties"]["Path"]
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
            regex = re.sub(r"\\\{(\w+)\\\+\\\}$", r"(?P<\1>.+)", regex)  # a greedy {proxy+}
            routes.append(Route(ev["Properties"]["Method"].upper(), path, logical, re.compile(f"^{regex}$")))
    return routes


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """API Gateway's order: the path and method, then ANY on the path, then a greedy {proxy+} route.
    HEAD is a method of its own: a GET route does not take it."""
    def rank(route: Route) -> tuple[bool, bool]:
        return route.path.endswith("+}"), route.method == "ANY"

    for route in sorted(routes, key=rank):
        m = route.pattern.match(path)
        if m and route.method in (method, "ANY"):
            return route, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def http_event(
    route: Route,
    path_params: dict[str, str],
    method: str,
    raw_url: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    parts = urlsplit(raw_url)
    query: dict[str, str] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v  # API Gateway joins repeated keys with commas
    lower = {k.lower(): v for k, v in headers.items()}
    is_text = lower.get("content-type", "").startswith(TEXT_TYPES) or not body
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lower,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lower.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if "cookie" in lower:
        event["cookies"] = [c.strip() for c in lower.pop("cookie").split(";")]
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if is_text else base64.b64encode(body).decode()
    return event


def proxy_result(result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A Lambda proxy response -> (status, headers, body bytes)."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return int(result.get("statusCode", 200)), dict(result.get("headers") or {}), data
