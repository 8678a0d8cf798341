"""The OpenAPI document: valid OpenAPI 3.1, every $ref resolves, and it is the router's route table."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate

from reawake.tracking.openapi import document
from reawake.tracking.routes import router


def doc() -> dict[str, Any]:
    return json.loads(json.dumps(document(router)))  # as served: plain JSON


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref" and isinstance(v, str)] + [
            r for v in node.values() for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(root: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(doc())


def test_every_ref_resolves_inside_components() -> None:
    d = doc()
    found = refs(d["paths"])
    assert "#/components/schemas/BrowserEventIn" in refs(d), "the request bodies' models are referenced"
    assert found and all(r.startswith("#/components/schemas/") for r in refs(d))
    for ref in refs(d):
        assert isinstance(resolve(d, ref), dict), ref
    assert "$defs" not in json.dumps(d)


def test_the_documented_operations_are_the_route_table() -> None:
    documented = {f"{m.upper()} {p}" for p, ops in doc()["paths"].items() for m in ops}
    assert documented == set(router.operations)
    assert "POST /v1/events" in documented


def test_every_status_a_route_answers_is_documented_and_bodies_take_text_plain() -> None:
    d = doc()
    for key, op in router.operations.items():
        method, path = key.split(" ", 1)
        responses = d["paths"][path][method.lower()]["responses"]
        assert set(responses) >= {str(s) for s in op.responses} | {"500"}, key
    events = d["paths"]["/v1/events"]["post"]
    assert set(events["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert set(events["responses"]) == {"202", "400", "403", "413", "415", "500"}
    assert set(d["paths"]["/v1/unsubscribe/{token}"]["post"]["responses"]) == {"200", "400", "500"}
    assert d["paths"]["/v1/activities"]["post"]["security"] == [{"apiKey": []}]
