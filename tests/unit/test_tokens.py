"""Signed tokens in email links: only genuine, unexpired, same-purpose tokens are honoured."""

from __future__ import annotations

import pytest

from reawake.tokens import Purpose, Token, TokenError, sign, verify

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
