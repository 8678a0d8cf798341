"""Signed tokens in email links: only genuine, unexpired, same-purpose tokens are honoured."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reawake.core.tokens import Purpose, Token, TokenError, sign, verify

KEY = b"test-signing-key-0123456789"
NOW = 1_800_000_000


def click(expires_at: int = NOW + 3600, target: str = "https://www.example.co.jp/seminar/") -> Token:
    return Token(Purpose.CLICK, "lead123", expires_at, target=target, message_id="webinar:1")


def test_round_trip_keeps_lead_target_and_message() -> None:
    token = verify(sign(click(), KEY), KEY, Purpose.CLICK, NOW)
    assert token == click()


def test_japanese_target_url_survives() -> None:
    target = "https://www.example.co.jp/セミナー/?q=休眠"
    assert verify(sign(click(target=target), KEY), KEY, Purpose.CLICK, NOW).target == target


def test_tampered_payload_is_refused() -> None:
    genuine = sign(click(), KEY)
    evil = sign(click(target="https://evil.example.com/"), b"attacker key")
    forged = evil.split(".")[0] + "." + genuine.split(".")[1]
    with pytest.raises(TokenError, match="bad signature"):
        verify(forged, KEY, Purpose.CLICK, NOW)


def test_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(TokenError, match="bad signature"):
        verify(sign(click(), b"another key"), KEY, Purpose.CLICK, NOW)


def test_expired_token_is_refused_but_says_where_it_pointed() -> None:
    with pytest.raises(TokenError) as info:
        verify(sign(click(expires_at=NOW - 1), KEY), KEY, Purpose.CLICK, NOW)
    assert info.value.reason == "expired"
    assert info.value.expired_token is not None
    assert info.value.expired_token.target == "https://www.example.co.jp/seminar/"


def test_token_for_another_purpose_is_refused() -> None:
    with pytest.raises(TokenError, match="wrong purpose"):
        verify(sign(click(), KEY), KEY, Purpose.UNSUBSCRIBE, NOW)


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "x" * 3000, "!!!.???", "e30.AAAA"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(TokenError):
        verify(text, KEY, Purpose.CLICK, NOW)


# --- hostile input: verify is total (a TokenError, never another exception) ---------------------


def signed_raw(payload_json: str, key: bytes = KEY) -> str:
    """A token whose payload is any JSON text, signed with the real key: absurd but genuine."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    body = b64(payload_json.encode("utf-8"))
    return f"{body}.{b64(hmac.new(key, body.encode('ascii'), hashlib.sha256).digest()[:16])}"


@pytest.mark.parametrize(
    "payload",
    [
        '{"p":"c","l":"lead123","e":1e400}',  # an expiry that is infinity once parsed
        '{"p":"c","l":"lead123","e":-1e400}',
        '{"p":"c","l":"lead123","e":NaN}',
        '{"p":"c","l":"lead123","e":1800000000.5}',
        '{"p":"c","l":"lead123","e":"1800000000"}',
        '{"p":"c","l":"lead123","e":true}',
        '{"p":"c","l":"lead123","e":1' + "0" * 40 + "}",
        '{"p":"c","l":{"x":1},"e":1800000000}',
        '{"p":"c","l":"","e":1800000000}',
        '{"p":"c","l":"lead123","e":1800000000,"u":["https://www.example.co.jp/"]}',
        '{"p":"c","l":"lead123","e":1800000000,"m":42}',
        '{"p":["c"],"l":"lead123","e":1800000000}',
        '{"p":"z","l":"lead123","e":1800000000}',
        '["c","lead123",1800000000]',
        "null",
        "1e400",
        "[" * 1000 + "]" * 1000,  # deeper than the JSON parser goes
        '{"p":"c","l":"lead123"',
    ],
)
def test_absurd_but_signed_payload_is_refused(payload: str) -> None:
    with pytest.raises(TokenError, match="malformed"):
        verify(signed_raw(payload), KEY, Purpose.CLICK, NOW)


def test_signed_raw_positive_control() -> None:
    token = verify(signed_raw('{"p":"c","l":"lead123","e":1800000001}'), KEY, Purpose.CLICK, NOW)
    assert token == Token(Purpose.CLICK, "lead123", 1_800_000_001)


@pytest.mark.parametrize("text", ["é.AAAA", "e30.é", "ｅ30.AAAA", "e30.AAAA\n", "e30.AAA=", "e30 .AAAA", "\x00.\x00"])
def test_non_ascii_or_odd_characters_are_refused(text: str) -> None:
    with pytest.raises(TokenError, match="malformed"):
        verify(text, KEY, Purpose.CLICK, NOW)


@given(
    st.text(max_size=3000)
    | st.builds("{}.{}".format, st.text(max_size=200), st.text(max_size=40))  # the shape of a token, any characters
    | st.from_regex(r"\A[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,40}\Z")
)
@settings(max_examples=300)
def test_any_string_is_refused_with_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        verify(text, KEY, Purpose.CLICK, NOW)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("plemu"), inner),
                    max_leaves=8))
@settings(max_examples=300)
def test_any_signed_json_is_a_token_or_a_token_error(payload: object) -> None:
    import json

    try:
        token = verify(signed_raw(json.dumps(payload)), KEY, Purpose.CLICK, NOW)
    except TokenError:
        return
    assert isinstance(token.lead_id, str) and isinstance(token.expires_at, int) and token.expires_at >= NOW
