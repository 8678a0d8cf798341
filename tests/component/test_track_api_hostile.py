"""Hostile input on the tracking API (issue 9): any token string, numbers DynamoDB cannot hold,
other methods, HEAD on links, other media types. Always a 4xx (or the GIF / the on-site redirect a
link promises), never a 5xx, nothing stored from a refused request."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reawake.core.tokens import Purpose, Token, sign
from tests.component.test_track_api import (
    GIF_MAGIC,
    Api,
    activity,
    api_key,
    error_of,
    event,
    item_count,
    key,
    new_lead,
    now_ms,
    store,
)
from tests.conftest import SITE

FIXTURE_OK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def token_routes(api: Api, token: str) -> dict[str, tuple[int, dict[str, str], bytes]]:
    path = quote(token, safe="")
    return {
        "click": api("GET", f"/v1/click/{path}"),
        "open": api("GET", f"/v1/open/{path}.gif"),
        "unsubscribe page": api("GET", f"/v1/unsubscribe/{path}"),
        "unsubscribe": api("POST", f"/v1/unsubscribe/{path}", b"List-Unsubscribe=One-Click",
                           headers={"content-type": "application/x-www-form-urlencoded"}),
        "identify": api("POST", "/v1/identify", {"visitor_id": "visitor-0001", "token": token}),
    }


def assert_refused(answers: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
    status, headers, _ = answers["click"]
    assert status == 302 and headers["location"] == SITE + "/", "a bad link lands on the site, unidentified"
    status, headers, body = answers["open"]
    assert status == 200 and headers["content-type"] == "image/gif" and body.startswith(GIF_MAGIC)
    assert answers["unsubscribe page"][0] == 400
    assert answers["unsubscribe"][0] == 400
    status, _, body = answers["identify"]
    assert status == 400 and error_of(body)["field"] == "token"


ODD_TOKENS = ["é", "トークン.署名", "e30.AAAA\u00e9", "a" * 5000, "a.b.c", "\x00", "%00", " ", "..", "e30."]


def test_odd_tokens_are_refused_on_every_token_route(api: Api) -> None:
    new_lead(api)
    before = item_count()
    for token in ODD_TOKENS:
        assert_refused(token_routes(api, token))
    assert item_count() == before


def signed_raw(payload: str) -> str:
    from tests.unit.test_tokens import signed_raw as sign_with

    return sign_with(payload, key())  # the stack's signing key: genuine tokens with absurd content


ABSURD_PAYLOADS = [
    '{{"p":"{p}","l":"LEAD","e":1e400}}',
    '{{"p":"{p}","l":"LEAD","e":"9999999999"}}',
    '{{"p":"{p}","l":["LEAD"],"e":9999999999}}',
    '{{"p":"{p}","l":"LEAD","e":9999999999,"u":{{"href":"https://www.example.co.jp/"}}}}',
    '{{"p":"{p}","l":"LEAD","e":9999999999,"m":1}}',
]


def test_absurd_but_signed_tokens_are_refused_on_every_token_route(api: Api) -> None:
    lead_id = new_lead(api)
    before = item_count()
    for purpose in "coui":
        for payload in ABSURD_PAYLOADS:
            assert_refused(token_routes(api, signed_raw(payload.format(p=purpose).replace("LEAD", lead_id))))
    assert item_count() == before
    assert store().get_lead(lead_id).suppressed is None  # type: ignore[union-attr]
    # Positive control: the same signing, sane content, is honoured.
    sane = signed_raw(f'{{"p":"u","l":"{lead_id}","e":9999999999}}')
    assert api("POST", f"/v1/unsubscribe/{sane}")[0] == 200


@FIXTURE_OK
@given(token=st.text(min_size=1, max_size=300)
       | st.builds("{}.{}".format, st.text(max_size=200), st.text(max_size=40))  # the shape of a token, any characters
       | st.from_regex(r"\A[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{1,30}\Z"))
def test_any_string_as_a_token_is_refused_on_every_token_route(api: Api, token: str) -> None:
    before = item_count()
    assert_refused(token_routes(api, token))
    assert item_count() == before


# --- numbers ------------------------------------------------------------------------------------

UNSTORABLE = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "5e-324", "1e-131", "1e126", "1" + "0" * 40,
              "123456789012345678901234567890123456789"]


def raw_batch(number: str, **kw: Any) -> bytes:
    """A batch with ``number`` written as is in the JSON text (json.dumps cannot write 1e400)."""
    return json.dumps({"events": [event(1, props={"n": "NUMBER"}, **kw)]}).replace('"NUMBER"', number).encode()


def test_a_number_dynamodb_cannot_hold_is_refused_naming_the_field(api: Api) -> None:
    for number in UNSTORABLE:
        status, _, body = api("POST", "/v1/events", raw_batch(number))
        assert status == 400 and error_of(body)["field"] == "events.0.props.n", number
        raw = json.dumps({"activities": [activity(props={"n": "NUMBER"})]}).replace('"NUMBER"', number).encode()
        status, _, body = api("POST", "/v1/activities", raw, headers={"x-api-key": api_key()})
        assert status == 400 and error_of(body)["field"] == "activities.0.props.n", number
    assert item_count() == 0


def as_decimal(value: float) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def test_numbers_at_the_edges_are_stored_exactly(api: Api) -> None:
    edges = ["1e-130", "-1e-130", "9.9e125", "-0.5", "1" * 38, "-" + "9" * 38, "0", "1e125"]
    for n, number in enumerate(edges):
        assert api("POST", "/v1/events", raw_batch(number, id=f"edge{n:06d}"))[0] == 202, number
    saved = {e.id: e.props["n"] for e in store().visitor_events("visitor-0001")}
    assert {k: as_decimal(v) for k, v in saved.items()} == {f"edge{n:06d}": Decimal(x) for n, x in enumerate(edges)}


@FIXTURE_OK
@given(number=st.integers() | st.floats() | st.floats(min_value=-1e-120, max_value=1e-120)
       | st.integers(min_value=10**36, max_value=10**40))
def test_any_json_number_in_props_is_stored_exactly_or_refused(api: Api, number: float) -> None:
    text = json.dumps(number)  # NaN and Infinity as Python (and JavaScript's JSON5-ish clients) write them
    ident = f"n{abs(hash(text)):016x}"
    status, _, body = api("POST", "/v1/events", raw_batch(text, id=ident, visitor_id=ident))
    if status == 400:
        assert error_of(body)["field"] == "events.0.props.n"
        assert store().visitor_events(ident) == []
        return
    assert status == 202, body
    (saved,) = store().visitor_events(ident)
    assert as_decimal(saved.props["n"]) == Decimal(text)


# --- methods --------------------------------------------------------------------------------------


def test_a_method_a_path_does_not_take_is_405_with_allow_and_an_unknown_path_404(api: Api) -> None:
    for method, path, allow in [
        ("TRACE", "/v1/events", "POST, OPTIONS"),
        ("DELETE", "/v1/click/abc", "GET, HEAD, OPTIONS"),
        ("PUT", "/v1/unsubscribe/abc", "GET, POST, HEAD, OPTIONS"),
        ("POST", "/v1/t.js", "GET, HEAD, OPTIONS"),
        ("PROPFIND", "/v1/openapi.json", "GET, HEAD, OPTIONS"),
    ]:
        status, headers, body = api(method, path)
        assert status == 405 and headers["allow"] == allow, (method, path)
        assert error_of(body)["code"] == "method_not_allowed"
    status, _, body = api("GET", "/v1/nothing-here")
    assert status == 404 and error_of(body)["code"] == "not_found"
    assert item_count() == 0


def test_head_answers_like_get_and_records_nothing(api: Api) -> None:
    lead_id = new_lead(api)
    now_s = now_ms() // 1000
    click = sign(Token(Purpose.CLICK, lead_id, now_s + 3600, target=SITE + "/seminar/"), key())
    opened = sign(Token(Purpose.OPEN, lead_id, now_s + 3600, message_id="seq:1"), key())
    urls = [f"/v1/click/{click}", f"/v1/open/{opened}.gif", f"/v1/pixel.gif?vid=visitor-0009&url={SITE}/pricing"]
    before = item_count()
    heads = [api("HEAD", url) for url in urls]
    assert [status for status, _, _ in heads] == [302, 200, 200]
    assert item_count() == before, "HEAD recorded something"
    # Positive control: the same GETs answer as HEAD did and record a click, an open and a page view.
    for url, (head_status, head_headers, _) in zip(urls, heads, strict=True):
        get_status, get_headers, _ = api("GET", url)
        assert (head_status, head_headers["content-type"]) == (get_status, get_headers["content-type"])
    assert sorted(e.kind for e in store().lead_events(lead_id)) == ["email_click", "email_open"]
    assert [e.kind for e in store().visitor_events("visitor-0009")] == ["page_view"]


def test_head_of_the_unsubscribe_page_does_not_unsubscribe(api: Api) -> None:
    lead_id = new_lead(api)
    token = sign(Token(Purpose.UNSUBSCRIBE, lead_id, now_ms() // 1000 + 3600), key())
    assert api("HEAD", f"/v1/unsubscribe/{token}")[0] == 200
    assert store().get_lead(lead_id).suppressed is None  # type: ignore[union-attr]


# --- media types ----------------------------------------------------------------------------------


def test_json_bodies_are_taken_as_json_or_text_plain_and_other_media_types_are_415(api: Api) -> None:
    for content_type in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]:
        for path, headers in (("/v1/events", {}), ("/v1/identify", {}), ("/v1/activities", {"x-api-key": api_key()})):
            status, _, body = api("POST", path, [event(1)], headers={"content-type": content_type, **headers})
            assert status == 415 and error_of(body)["field"] == "content-type"
    assert item_count() == 0
    for n, content_type in enumerate(["text/plain", "text/plain;charset=UTF-8", "application/json; charset=utf-8"]):
        assert api("POST", "/v1/events", [event(n)], headers={"content-type": content_type})[0] == 202
