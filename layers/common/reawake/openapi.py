"""The tracking API's OpenAPI 3.1 document, built from the same pydantic models that validate input."""

from __future__ import annotations

from functools import cache
from typing import Any

from reawake.events import ActivityBatchIn, EventBatchIn, IdentifyIn

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}
COUNTS = {"type": "object", "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}}
GIF = {"200": {"description": "a 1x1 GIF", "content": {"image/gif": {}}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _token_param(name: str = "token") -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


@cache
def document() -> dict[str, Any]:
    bad = {"400": {"description": "invalid input; nothing stored", **_json(ERROR)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Reawake tracking API", "version": "1"},
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "A batch (1-50) of browser events",
                    "requestBody": {"required": True, **_json(EventBatchIn.model_json_schema())},
                    "responses": {
                        "202": {"description": "stored", **_json(COUNTS)},
                        **bad,
                        "413": {"description": "body too large", **_json(ERROR)},
                    },
                }
            },
            "/v1/identify": {
                "post": {
                    "summary": "Link a visitor to a lead: a signed token from an email link, or an email from a form",
                    "requestBody": {"required": True, **_json(IdentifyIn.model_json_schema())},
                    "responses": {"200": {"description": "linked"}, **bad},
                }
            },
            "/v1/pixel.gif": {
                "get": {
                    "summary": "A page view without JavaScript",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("vid", "url", "id", "type", "ts", "ref")
                    ],
                    "responses": GIF,
                }
            },
            "/v1/click/{token}": {
                "get": {
                    "summary": "A tracked email link",
                    "parameters": _token_param(),
                    "responses": {"302": {"description": "to the signed target, with rw_id for identification"}},
                }
            },
            "/v1/open/{file}": {
                "get": {
                    "summary": "Email open pixel ({token}.gif)",
                    "parameters": _token_param("file"),
                    "responses": GIF,
                }
            },
            "/v1/unsubscribe/{token}": {
                "get": {
                    "summary": "Confirmation page",
                    "parameters": _token_param(),
                    "responses": {"200": {"description": "HTML page"}},
                },
                "post": {
                    "summary": "RFC 8058 one-click unsubscribe",
                    "parameters": _token_param(),
                    "responses": {"200": {"description": "unsubscribed at once"}},
                },
            },
            "/v1/t.js": {
                "get": {"summary": "The tracking snippet", "responses": {"200": {"description": "JavaScript"}}}
            },
            "/v1/activities": {
                "post": {
                    "summary": "Server-to-server activities (purchase, webinar, sales contact, ...)",
                    "security": [{"apiKey": []}],
                    "requestBody": {"required": True, **_json(ActivityBatchIn.model_json_schema())},
                    "responses": {
                        "202": {"description": "stored", **_json(COUNTS)},
                        **bad,
                        "401": {"description": "missing or wrong API key", **_json(ERROR)},
                    },
                }
            },
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "JSON"}}}},
        },
        "components": {"securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
    }
