"""The local stack over real HTTP: the API as API Gateway would serve it, the demo site, the data."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reawake.core.leads import new_lead_id
from reawake.core.tokens import Purpose, Token, sign
from tests.stack.harness import RunningStack

pytestmark = pytest.mark.stack


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, body) without following redirects or raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body, ensure_ascii=False).encode()
    hdrs = {"content-type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def new_id() -> str:
    return uuid.uuid4().hex


def page_view(stack: RunningStack, visitor_id: str, path: str = "/") -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": "page_view",
        "ts": int(time.time() * 1000),
        "visitor_id": visitor_id,
        "url": stack.site_url + path,
    }


def post_events(stack: RunningStack, events: list[dict[str, Any]]) -> tuple[int, Any, bytes]:
    return http("POST", f"{stack.api_url}/v1/events", events, {"origin": stack.site_url})


def identify(stack: RunningStack, visitor_id: str, **fields: Any) -> tuple[int, Any, bytes]:
    return http(
        "POST", f"{stack.api_url}/v1/identify", {"visitor_id": visitor_id, **fields}, {"origin": stack.site_url}
    )


def test_events_are_accepted_once_and_a_replay_counts_as_duplicates(local_stack: RunningStack) -> None:
    batch = [page_view(local_stack, new_id(), "/"), page_view(local_stack, new_id(), "/product/")]

    status, headers, body = post_events(local_stack, batch)
    assert (status, json.loads(body)) == (202, {"accepted": 2, "duplicates": 0})
    assert headers["access-control-allow-origin"] == local_stack.site_url

    status, _, body = post_events(local_stack, batch)
    assert (status, json.loads(body)) == (202, {"accepted": 0, "duplicates": 2})
    stored = local_stack.store().visitor_events(batch[0]["visitor_id"])
    assert [e.id for e in stored] == [batch[0]["id"]]


def test_the_gateway_answers_preflights_for_the_demo_site_only(local_stack: RunningStack) -> None:
    ask = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}

    status, headers, _ = http(
        "OPTIONS", f"{local_stack.api_url}/v1/events", headers={"origin": local_stack.site_url, **ask}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == local_stack.site_url
    assert "POST" in headers["access-control-allow-methods"].split(",")
    assert headers["access-control-allow-headers"] == "content-type"
    assert headers["access-control-max-age"] == "600"

    status, headers, _ = http(
        "OPTIONS", f"{local_stack.api_url}/v1/events", headers={"origin": "https://evil.example", **ask}
    )
    assert status == 204
    assert "access-control-allow-origin" not in headers

    # The real request from another origin: refused by the function, and no CORS grant either.
    status, headers, _ = http(
        "POST",
        f"{local_stack.api_url}/v1/events",
        [page_view(local_stack, new_id())],
        {"origin": "https://evil.example"},
    )
    assert status == 403
    assert "access-control-allow-origin" not in headers


def test_identify_by_email_attributes_the_browser_to_the_lead(local_stack: RunningStack) -> None:
    visitor = new_id()
    email = f"hanako.{new_id()[:8]}@example.co.jp"
    before = page_view(local_stack, visitor, "/seminar/")
    assert post_events(local_stack, [before])[0] == 202

    status, _, body = identify(local_stack, visitor, email=email, name="佐藤 花子", company="株式会社サンプル")
    assert status == 200, body
    after = page_view(local_stack, visitor, "/contact/")
    assert post_events(local_stack, [after])[0] == 202

    store = local_stack.store()
    lead = store.lead_by_email(email)
    assert lead is not None and lead.name == "佐藤 花子"
    assert store.lead_visitors(lead.lead_id) == [visitor]
    assert after["id"] in {e.id for e in store.lead_events(lead.lead_id)}
    assert lead.last.get("page_view", 0) >= before["ts"]  # the anonymous visit was folded in too


def click_token(stack: RunningStack, lead_id: str, target: str, key: bytes) -> str:
    return sign(Token(Purpose.CLICK, lead_id, stack.now_s() + 3600, target=target, message_id="m1"), key)


def test_a_signed_click_lands_on_the_demo_site_identified(local_stack: RunningStack) -> None:
    email = f"ichiro.{new_id()[:8]}@example.co.jp"
    assert identify(local_stack, new_id(), email=email)[0] == 200
    lead_id = local_stack.store().lead_id_of(email) or ""
    token = click_token(local_stack, lead_id, f"{local_stack.site_url}/?utm_campaign=autumn", local_stack.signing_key())

    status, headers, _ = http("GET", f"{local_stack.api_url}/v1/click/{token}")
    assert status == 302
    location = headers["location"]
    assert location.startswith(f"{local_stack.site_url}/?utm_campaign=autumn&rw_id=")
    assert http("GET", location)[0] == 200  # the demo site serves the landing page

    # The landing page's snippet would now identify the browser with rw_id.
    visitor = new_id()
    rw_id = parse_qs(urlsplit(location).query)["rw_id"][0]
    status, _, body = identify(local_stack, visitor, token=rw_id)
    assert status == 200, body
    store = local_stack.store()
    assert store.get_visitor_lead(visitor) == lead_id
    assert "email_click" in {e.kind for e in store.lead_events(lead_id)}


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/"])
def test_a_forged_click_token_never_leaves_the_site(local_stack: RunningStack, target: str) -> None:
    forged = click_token(local_stack, new_lead_id(), target, b"not-the-signing-key")
    status, headers, _ = http("GET", f"{local_stack.api_url}/v1/click/{forged}")
    assert status == 302
    assert headers["location"] == f"{local_stack.site_url}/"

    genuine_but_off_site = click_token(
        local_stack, new_lead_id(), target, local_stack.signing_key()
    )
    status, headers, _ = http("GET", f"{local_stack.api_url}/v1/click/{genuine_but_off_site}")
    assert (status, headers["location"]) == (302, f"{local_stack.site_url}/")


def test_unknown_paths_are_404_and_other_methods_405_with_allow(local_stack: RunningStack) -> None:
    status, _, body = http("GET", local_stack.api_url + "/")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"}), "outside /v1: the gateway's own 404"
    status, _, body = http("GET", local_stack.api_url + "/v1/nothing")
    assert (status, json.loads(body)["error"]["code"]) == (404, "not_found")
    for method, path, allow in (("DELETE", "/v1/events", "POST, OPTIONS"), ("TRACE", "/v1/t.js", "GET, HEAD, OPTIONS"),
                                ("PUT", "/v1/click/x", "GET, HEAD, OPTIONS")):
        status, headers, body = http(method, local_stack.api_url + path)
        assert (status, headers["allow"]) == (405, allow), (method, path)
        assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_head_of_a_click_link_records_nothing(local_stack: RunningStack) -> None:
    assert identify(local_stack, new_id(), email="head-check@example.co.jp")[0] == 200
    store = local_stack.store()
    lead_id = store.lead_id_of("head-check@example.co.jp") or ""
    token = click_token(local_stack, lead_id, local_stack.site_url + "/", local_stack.signing_key())
    url = f"{local_stack.api_url}/v1/click/{token}"
    status, headers, body = http("HEAD", url)
    assert (status, body) == (302, b"") and headers["location"].startswith(local_stack.site_url + "/")
    assert "email_click" not in {e.kind for e in store.lead_events(lead_id)}
    assert http("GET", url)[0] == 302  # positive control: the GET records the click
    assert "email_click" in {e.kind for e in store.lead_events(lead_id)}


def test_a_payload_over_10_mb_is_refused_before_the_function(local_stack: RunningStack) -> None:
    host, port = urlsplit(local_stack.api_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % (10 * 1024 * 1024 + 1)
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_binary_and_head_responses_come_through_intact(local_stack: RunningStack) -> None:
    status, headers, body = http("GET", f"{local_stack.api_url}/v1/pixel.gif?vid=nobody")
    assert (status, headers["content-type"], body[:6]) == (200, "image/gif", b"GIF89a")

    status, headers, body = http("HEAD", f"{local_stack.api_url}/v1/t.js")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 100


def test_the_demo_site_carries_the_snippet_of_this_api(local_stack: RunningStack) -> None:
    status, headers, body = http("GET", f"{local_stack.site_url}/")
    page = body.decode("utf-8")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f"{local_stack.api_url}/v1/t.js" in page
    assert "{{API_URL}}" not in page
    assert http("GET", f"{local_stack.site_url}/../template.yaml")[0] == 404
    # The SPA's deep links (the "かんたんDX診断" link in the useful-content mail) open the app.
    status, _, body = http("GET", f"{local_stack.site_url}/app/check")
    assert status == 200 and "DX診断ナビ" in body.decode("utf-8")
    assert http("GET", f"{local_stack.site_url}/no-such-page")[0] == 404


def test_sample_leads_are_loaded(local_stack: RunningStack) -> None:
    samples = local_stack.info["samples"]
    if not samples.get("leads") and any("skipped" in note for note in samples.get("notes", [])):
        pytest.skip(f"sample data not available yet: {samples['notes']}")
    leads = list(local_stack.store().scan_leads())
    assert len(leads) >= samples["leads"] > 0
    assert any(lead.name and not lead.name.isascii() for lead in leads), "Japanese names expected"
