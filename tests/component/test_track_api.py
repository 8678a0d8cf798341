"""The tracking API through the real handler with real-shaped API Gateway v2 events, on moto."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from reawake.core.aws import secret_json
from reawake.core.store import Store
from reawake.core.tokens import Purpose, Token, sign
from tests.conftest import SITE

Api = Callable[..., tuple[int, dict[str, str], bytes]]
GIF_MAGIC = b"GIF89a"


def now_ms() -> int:
    return int(time.time() * 1000)


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def item_count() -> int:
    return int(boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"], Select="COUNT")["Count"])


def key() -> bytes:
    return str(secret_json(os.environ["SIGNING_SECRET_ARN"])["signing_key"]).encode()


def api_key() -> str:
    return str(secret_json(os.environ["API_KEY_SECRET_ARN"])["api_key"])


def event(n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"event{n:08d}",
        "type": "page_view",
        "ts": now_ms(),
        "visitor_id": "visitor-0001",
        "url": f"{SITE}/seminar/2026/",
        **kw,
    }


def new_lead(api: Api, email: str = "taro@example.co.jp", visitor: str = "visitor-0001") -> str:
    status, _, _ = api("POST", "/v1/identify", {"visitor_id": visitor, "email": email})
    assert status == 200
    return store().lead_id_of(email) or ""


def error_of(body: bytes) -> dict[str, str]:
    return dict(json.loads(body)["error"])


# --- events -------------------------------------------------------------------------------------


def test_batch_is_stored_once_and_duplicates_are_counted(api: Api) -> None:
    batch = [event(i) for i in range(10)]
    status, _, body = api("POST", "/v1/events", {"events": batch})
    assert (status, json.loads(body)) == (202, {"accepted": 10, "duplicates": 0})
    status, _, body = api("POST", "/v1/events", batch)  # a bare array is accepted too
    assert (status, json.loads(body)) == (202, {"accepted": 0, "duplicates": 10})
    assert len(store().visitor_events("visitor-0001")) == 10


def test_same_id_twice_in_one_batch_is_stored_once(api: Api) -> None:
    _, _, body = api("POST", "/v1/events", [event(1), event(1)])
    assert json.loads(body) == {"accepted": 1, "duplicates": 1}


def test_events_before_identification_are_attributed_to_the_lead(api: Api) -> None:
    api("POST", "/v1/events", [event(1, props={"topic": "dx"})])
    lead_id = new_lead(api)
    api("POST", "/v1/events", [event(2, url=f"{SITE}/pricing")])
    lead = store().get_lead(lead_id)
    assert lead is not None
    assert lead.last["page_view@topic:dx"] > 0, "the anonymous view was folded into the lead"
    assert f"page_view@site:{SITE}" in lead.last
    assert [e.id for e in store().lead_events(lead_id)] == ["event00000002"]
    assert store().lead_visitors(lead_id) == ["visitor-0001"]


def test_dormant_lead_coming_back_is_flagged_as_revisit(api: Api) -> None:
    from dataclasses import replace

    lead_id = new_lead(api)
    lead = store().get_lead(lead_id)
    assert lead is not None
    store().save_lead(replace(lead, dormant_since=now_ms() - 86_400_000), lead.version)
    api("POST", "/v1/events", [event(5)])
    (stored,) = store().lead_events(lead_id)
    assert stored.revisit


def test_one_event_costs_three_writes_and_a_batch_of_ten_twenty_one(api: Api) -> None:
    """Each event is its item and its id claim (stored once whoever it is attributed to), plus the lead."""
    new_lead(api)
    client = boto3.client("dynamodb")
    import reawake.core.aws

    writes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        writes.append(len(params.get("TransactItems", [None])))

    from reawake_tools.local.iam import running_as

    with running_as("TrackFunction"):  # the function's own client (one per container)
        dynamodb = reawake.core.aws.client("dynamodb")
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
        dynamodb.meta.events.register(f"provide-client-params.dynamodb.{operation}", count)
    api("POST", "/v1/events", [event(100)])
    assert sum(writes) == 3
    writes.clear()
    api("POST", "/v1/events", [event(200 + i) for i in range(10)])
    assert sum(writes) == 21
    del client


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{not json", 400, "malformed_json", None),
        (b"", 400, "malformed_json", None),
        ({"events": []}, 400, "invalid", "events"),
        ({"events": [event(i) for i in range(51)]}, 400, "invalid", "events"),
        ({"events": [event(1, ts="yesterday")]}, 400, "invalid", "events.0.ts"),
        ({"events": [event(1, visitor_id=12345678)]}, 400, "invalid", "events.0.visitor_id"),
        ({"events": [event(1, type="purchase")]}, 400, "invalid", "events.0.type"),
        ({"events": [event(1, type="teleport")]}, 400, "invalid", "events.0.type"),
        ({"events": [event(1, url="javascript:alert(1)")]}, 400, "invalid", "events.0.url"),
        ({"events": [event(1, url="https://evil.example.com/")]}, 400, "unknown_site", "events.0.url"),
        ({"events": [event(1, extra=1)]}, 400, "invalid", "events.0.extra"),
        ({"events": [event(1, props={"k": {"nested": 1}})]}, 400, "invalid", "events.0.props.k"),
        ({"events": [event(1, props={f"k{i}": i for i in range(21)})]}, 400, "invalid", "events.0.props"),
        ({"events": [event(1, ts=now_ms() + 3_600_000)]}, 400, "timestamp_in_future", "events.0.ts"),
        ({"events": [event(1, ts=now_ms() - 3 * 86_400_000)]}, 400, "timestamp_too_old", "events.0.ts"),
        ({"events": [event(1, ts="2999-01-01T00:00:00+09:00")]}, 400, "timestamp_in_future", "events.0.ts"),
        ({"events": [event(1, id="short")]}, 400, "invalid", "events.0.id"),
        ({"events": [event(1, referrer="a\x00b")]}, 400, "invalid", "events.0.referrer"),
        (b"x" * (1024 * 1024), 413, "body_too_large", None),
    ],
)
def test_bad_batches_are_refused_and_store_nothing(
    api: Api, body: Any, status: int, code: str, field: str | None
) -> None:
    before = item_count()
    got, _, raw = api("POST", "/v1/events", body)
    assert got == status
    error = error_of(raw)
    assert error["code"] == code
    assert error.get("field", "").startswith(field or "")
    assert error["message"]
    assert item_count() == before


def test_one_bad_event_rejects_the_whole_batch(api: Api) -> None:
    status, _, _ = api("POST", "/v1/events", [event(1), event(2), event(3, ts=now_ms() + 86_400_000)])
    assert status == 400
    assert store().visitor_events("visitor-0001") == []


def test_markup_in_text_fields_is_stored_as_text(api: Api) -> None:
    script = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    payload = event(1, url=f"{SITE}/?q=<script>", referrer=script, props={"topic": script, "label": script})
    assert api("POST", "/v1/events", [payload])[0] == 202
    (stored,) = store().visitor_events("visitor-0001")
    assert stored.referrer == script
    assert stored.props == {"topic": script, "label": script}
    assert stored.url == f"{SITE}/?q=<script>"


def test_events_from_a_foreign_origin_are_refused(api: Api) -> None:
    status, _, _body = api("POST", "/v1/events", [event(1)], headers={"origin": "https://evil.example.com"})
    assert status == 403
    assert item_count() == 0


# --- identify -----------------------------------------------------------------------------------


def test_identify_by_form_creates_the_lead_with_consent(api: Api) -> None:
    status, _, _ = api(
        "POST",
        "/v1/identify",
        {
            "visitor_id": "visitor-0009",
            "email": "ＨＡＮＡＫＯ@Example.jp",
            "name": "山田 花子",
            "consent": {"marketing_email": True, "text": "ご案内メールの受け取りに同意します"},
        },
    )
    assert status == 200
    lead = store().lead_by_email("hanako@example.jp")
    assert lead is not None and lead.email == "hanako@example.jp" and lead.name == "山田 花子"
    assert lead.consent is not None and lead.consent["marketing_email"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"visitor_id": "visitor-0001"}, "token"),
        ({"visitor_id": "visitor-0001", "email": "x@example.jp", "token": "a.b"}, "token"),
        ({"visitor_id": "visitor-0001", "email": "not-an-address"}, "email"),
        ({"visitor_id": "v", "email": "x@example.jp"}, "visitor_id"),
        ({"visitor_id": "visitor-0001", "token": "forged.token"}, "token"),
    ],
)
def test_bad_identify_is_refused(api: Api, body: dict[str, Any], field: str) -> None:
    status, _, raw = api("POST", "/v1/identify", body)
    assert status == 400
    assert error_of(raw)["field"] == field
    assert item_count() == 0


def test_expired_identify_token_is_refused(api: Api) -> None:
    lead_id = new_lead(api)
    token = sign(Token(Purpose.IDENTIFY, lead_id, now_ms() // 1000 - 1), key())
    status, _, raw = api("POST", "/v1/identify", {"visitor_id": "visitor-0002", "token": token})
    assert status == 400 and "expired" in error_of(raw)["message"]
    assert store().get_visitor_lead("visitor-0002") is None


# --- email links --------------------------------------------------------------------------------


def click_token(lead_id: str, target: str, expires_in: int = 3600) -> str:
    return sign(Token(Purpose.CLICK, lead_id, now_ms() // 1000 + expires_in, target=target, message_id="seq:1"), key())


def test_click_redirects_to_the_target_with_an_identify_token(api: Api) -> None:
    lead_id = new_lead(api)
    status, headers, _ = api("GET", f"/v1/click/{click_token(lead_id, SITE + '/seminar/?a=1')}")
    assert status == 302
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SITE + "/seminar/"
    query = parse_qs(location.query)
    assert query["a"] == ["1"]
    # The landing page's snippet sends the token: the browser becomes the lead.
    assert api("POST", "/v1/identify", {"visitor_id": "visitor-0077", "token": query["rw_id"][0]})[0] == 200
    assert store().get_visitor_lead("visitor-0077") == lead_id
    assert [e.kind for e in store().lead_events(lead_id)] == ["email_click"]


@pytest.mark.parametrize("case", ["forged", "tampered", "garbage", "off_site_target"])
def test_bad_click_never_redirects_off_the_sites(api: Api, case: str) -> None:
    lead_id = new_lead(api)
    before = item_count()
    genuine = click_token(lead_id, SITE + "/")
    token = {
        "forged": sign(Token(Purpose.CLICK, lead_id, 2**31, target="https://evil.example.com/"), b"guessed key"),
        "tampered": click_token(lead_id, "https://evil.example.com/").split(".")[0] + "." + genuine.split(".")[1],
        "garbage": "%3Cscript%3E",
        "off_site_target": click_token(lead_id, "https://evil.example.com/"),
    }[case]
    status, headers, _ = api("GET", f"/v1/click/{token}")
    assert status == 302
    assert headers["location"] == SITE + "/"
    assert item_count() == before


def test_expired_click_goes_to_the_page_but_identifies_no_one(api: Api) -> None:
    lead_id = new_lead(api)
    status, headers, _ = api("GET", f"/v1/click/{click_token(lead_id, SITE + '/seminar/', expires_in=-10)}")
    assert status == 302 and headers["location"] == SITE + "/seminar/"
    assert store().lead_events(lead_id) == []


def test_open_pixel_records_an_open_and_is_always_a_gif(api: Api) -> None:
    lead_id = new_lead(api)
    token = sign(Token(Purpose.OPEN, lead_id, now_ms() // 1000 + 3600, message_id="seq:1"), key())
    status, headers, body = api("GET", f"/v1/open/{token}.gif")
    assert status == 200 and headers["content-type"] == "image/gif" and body.startswith(GIF_MAGIC)
    assert [e.kind for e in store().lead_events(lead_id)] == ["email_open"]
    before = item_count()
    assert api("GET", "/v1/open/forged.token.gif")[2].startswith(GIF_MAGIC)
    assert item_count() == before


def test_pixel_records_a_page_view_without_js_and_ignores_bad_input(api: Api) -> None:
    status, _headers, body = api("GET", f"/v1/pixel.gif?vid=visitor-0005&url={SITE}/pricing")
    assert status == 200 and body.startswith(GIF_MAGIC)
    assert [e.url for e in store().visitor_events("visitor-0005")] == [f"{SITE}/pricing"]
    before = item_count()
    for query in [
        "vid=x&url=" + SITE,
        "vid=visitor-0005&url=https://evil.example.com/",
        "vid=visitor-0005&ts=abc",
        "vid=visitor-0005&url=" + SITE + "&type=purchase",
    ]:
        status, _, body = api("GET", f"/v1/pixel.gif?{query}")
        assert status == 200 and body.startswith(GIF_MAGIC)
    assert item_count() == before


# --- unsubscribe --------------------------------------------------------------------------------


def unsubscribe_token(lead_id: str) -> str:
    return sign(Token(Purpose.UNSUBSCRIBE, lead_id, now_ms() // 1000 + 3600), key())


def test_unsubscribe_page_asks_and_one_click_post_suppresses_at_once(api: Api) -> None:
    lead_id = new_lead(api)
    token = unsubscribe_token(lead_id)
    status, _headers, body = api("GET", f"/v1/unsubscribe/{token}")
    assert status == 200 and "配信を停止する" in body.decode()
    assert store().get_lead(lead_id).unsubscribed_at is None  # type: ignore[union-attr]
    status, _, body = api(
        "POST",
        f"/v1/unsubscribe/{token}",
        b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and "配信を停止しました" in body.decode()
    lead = store().get_lead(lead_id)
    assert lead is not None and lead.unsubscribed_at is not None and lead.suppressed == "unsubscribe"
    # Replayed: still 200, one unsubscribe event.
    assert api("POST", f"/v1/unsubscribe/{token}", b"List-Unsubscribe=One-Click")[0] == 200
    assert [e.kind for e in store().lead_events(lead_id)] == ["unsubscribe"]


def test_expired_unsubscribe_link_still_unsubscribes(api: Api) -> None:
    lead_id = new_lead(api)
    token = sign(Token(Purpose.UNSUBSCRIBE, lead_id, 1), key())
    assert api("POST", f"/v1/unsubscribe/{token}", b"List-Unsubscribe=One-Click")[0] == 200
    assert store().get_lead(lead_id).unsubscribed_at is not None  # type: ignore[union-attr]


def test_forged_unsubscribe_is_refused(api: Api) -> None:
    lead_id = new_lead(api)
    token = sign(Token(Purpose.UNSUBSCRIBE, lead_id, 2**31), b"guessed key")
    status, _, body = api("POST", f"/v1/unsubscribe/{token}", b"")
    assert status == 400 and "無効" in body.decode()
    assert store().get_lead(lead_id).unsubscribed_at is None  # type: ignore[union-attr]


# --- activities ---------------------------------------------------------------------------------


def activity(**kw: Any) -> dict[str, Any]:
    return {"email": "taro@example.co.jp", "type": "purchase", "occurred_at": "2026-05-01T10:00:00+09:00", **kw}


def test_activities_need_the_api_key(api: Api) -> None:
    for headers in ({}, {"x-api-key": "wrong"}):
        status, _, raw = api("POST", "/v1/activities", {"activities": [activity()]}, headers=headers)
        assert status == 401 and error_of(raw)["code"] == "unauthorized"
    assert item_count() == 0


def test_activities_are_recorded_once_and_create_unknown_leads(api: Api) -> None:
    body = {
        "activities": [activity(url=None), activity(type="sales_conversation", occurred_at="2026-04-01T15:00:00+09:00")]
    }
    status, _, raw = api("POST", "/v1/activities", body, headers={"x-api-key": api_key()})
    assert (status, json.loads(raw)) == (202, {"accepted": 2, "duplicates": 0})
    status, _, raw = api("POST", "/v1/activities", body, headers={"x-api-key": api_key()})
    assert json.loads(raw) == {"accepted": 0, "duplicates": 2}
    lead = store().lead_by_email("taro@example.co.jp")
    assert lead is not None
    assert set(lead.last) >= {"purchase", "sales_conversation"}
    # Created from its history: registered at its first activity.
    assert lead.registered_at == lead.last["sales_conversation"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (activity(type="teleport"), "activities.1.type"),
        (activity(email="nobody"), "activities.1.email"),
        (activity(occurred_at="2999-01-01T00:00:00+09:00"), "activities.1.occurred_at"),
        (activity(occurred_at="1970-01-02T00:00:00+09:00"), "activities.1.occurred_at"),
        (activity(occurred_at="2026-05-01 10:00"), "activities.1.occurred_at"),
    ],
)
def test_bad_activities_are_refused(api: Api, item: dict[str, Any], field: str) -> None:
    status, _, raw = api(
        "POST",
        "/v1/activities",
        {"activities": [activity(id="good-activity-1"), item]},
        headers={"x-api-key": api_key()},
    )
    assert status == 400 and error_of(raw)["field"] == field
    assert item_count() == 0


# --- the rest -----------------------------------------------------------------------------------


def test_snippet_is_cacheable_javascript(api: Api) -> None:
    status, headers, body = api("GET", "/v1/t.js")
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert "max-age" in headers["cache-control"] and body


def test_openapi_lists_every_route(api: Api) -> None:
    status, _, body = api("GET", "/v1/openapi.json")
    doc = json.loads(body)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/v1/events",
        "/v1/identify",
        "/v1/pixel.gif",
        "/v1/click/{token}",
        "/v1/open/{file}",
        "/v1/unsubscribe/{token}",
        "/v1/t.js",
        "/v1/activities",
        "/v1/openapi.json",
    }
