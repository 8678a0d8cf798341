"""The tracking API's OpenAPI 3.1 document, built from the router's route table and the pydantic models
that validate input: a route cannot exist without being documented, nor be documented without existing."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from reawake.tracking.http import Operation, Router

SCHEMAS = "#/components/schemas/"
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
GATEWAY_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
COUNTS = {
    "type": "object",
    "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
    "required": ["accepted", "duplicates"],
}
IDENTIFIED = {
    "type": "object",
    "properties": {"identified": {"type": "boolean"}, "link": {"type": "string"}},
    "required": ["identified", "link"],
}
UNSUBSCRIBE_FORM = {"type": "object", "properties": {"List-Unsubscribe": {"type": "string", "const": "One-Click"}}}
NO_STORE = {"Cache-Control": {"schema": {"type": "string"}}}

# The content kinds routes name in their responses.
CONTENT: dict[str | None, dict[str, Any]] = {
    None: {},
    "error": {"content": {"application/json": {"schema": {"$ref": SCHEMAS + "Error"}}}},
    "counts": {"content": {"application/json": {"schema": COUNTS}}},
    "identified": {"content": {"application/json": {"schema": IDENTIFIED}}},
    "json": {"content": {"application/json": {"schema": {"type": "object"}}}},
    "gif": {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}, "headers": NO_STORE},
    "html": {"content": {"text/html": {"schema": {"type": "string"}}}, "headers": NO_STORE},
    "js": {"content": {"application/javascript": {"schema": {"type": "string"}}}},
    "redirect": {"headers": {"Location": {"required": True, "schema": {"type": "string"}}, **NO_STORE}},
}
EXAMPLES = {
    "POST /v1/events": {"events": [{
        "id": "0f8e2c4a9b7d4e1f", "type": "page_view", "ts": 1796083200000, "visitor_id": "a41c09d2e7f3b685",
        "url": "https://www.example.co.jp/pricing", "props": {"topic": "pricing", "title": "料金", "n": 3}}]},
}
# What any route may answer besides its own statuses: the gateway's and the runtime's.
COMMON: dict[str, Any] = {
    "500": {
        "description": "the function failed (API Gateway's answer); never on purpose: the fuzz suite checks for none",
        "content": {"application/json": {"schema": {"$ref": SCHEMAS + "GatewayError"}}},
    },
}
# What a request that no operation takes is answered (the /v1 fallback route; see the description).
OTHER_RESPONSES = {
    "MethodNotAllowed": {
        "description": "405: a method this path does not take; `Allow` lists the ones it does",
        "headers": {"Allow": {"required": True, "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": SCHEMAS + "Error"}}},
    },
    "NotFound": {
        "description": "404: no such path",
        "content": {"application/json": {"schema": {"anyOf": [
            {"$ref": SCHEMAS + "Error"}, {"$ref": SCHEMAS + "GatewayError"}]}}},
    },
}
# A body over API Gateway's 10 MB is refused by the gateway itself; one over 64 KB by the function.
TOO_LARGE_SCHEMA = {"anyOf": [{"$ref": SCHEMAS + "Error"}, {"$ref": SCHEMAS + "GatewayError"}]}
DESCRIPTION = """Events from the website (t.js and a pixel), email links (click, open, unsubscribe) and
server-to-server activities.

- JSON bodies are accepted as `application/json` or `text/plain` (t.js sends `text/plain`, a CORS simple
  request); another media type is 415.
- Every refusal is a 4xx naming the field (`error.field`); nothing is stored from a refused request.
- Numbers in `props` must be numbers DynamoDB holds exactly: finite, at most 38 significant digits,
  magnitude 1E-130 to 1E+126. Others are refused with 400, never rounded.
- A method a path does not take is 405 with an `Allow` header; `HEAD` is answered as `GET` without a
  body and records nothing; `OPTIONS` answers CORS preflights."""


@cache
def document(router: Router) -> dict[str, Any]:
    models = sorted(
        {op.body for op in router.operations.values() if isinstance(op.body, type) and issubclass(op.body, BaseModel)},
        key=lambda m: m.__name__,
    )
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = {**defs.get("$defs", {}), "Error": ERROR, "GatewayError": GATEWAY_ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for op in router.operations.values():
        body = refs[(op.body, "validation")] if op.body in models else None
        paths.setdefault(op.path, {})[op.method.lower()] = operation(op, body)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Reawake tracking API", "version": "1", "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": OTHER_RESPONSES,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }


def operation(op: Operation, body_schema: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": operation_id(op), "summary": op.summary}
    parameters = [
        {"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.path.split("/")
        if name.startswith("{")
    ] + [{"name": name, "in": "query", "schema": {"type": "string"}} for name in op.params]
    if parameters:
        out["parameters"] = parameters
    if body_schema is not None:
        media = {"schema": body_schema, **({"example": EXAMPLES[op.key]} if op.key in EXAMPLES else {})}
        out["requestBody"] = {"required": True, "content": {"application/json": media, "text/plain": media}}
    elif op.body == "form":
        out["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": UNSUBSCRIBE_FORM}},
        }
    if 401 in op.responses:  # the routes that answer 401 are the ones that take the API key
        out["security"] = [{"apiKey": []}]
    responses: dict[str, Any] = {}
    for status, (description, kind) in sorted(op.responses.items()):
        responses[str(status)] = {"description": description, **CONTENT[kind]}
    if "413" in responses:
        responses["413"] = {**responses["413"], "content": {"application/json": {"schema": TOO_LARGE_SCHEMA}}}
    out["responses"] = {**responses, **COMMON}
    return out


def operation_id(op: Operation) -> str:
    words = [w.strip("{}").replace(".", "_") for w in op.path.split("/")[2:]]
    return op.method.lower() + "_" + "_".join(words)
