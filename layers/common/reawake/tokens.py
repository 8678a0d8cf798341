"""HMAC-signed tokens carried in email links.

A token is ``base64url(payload JSON) "." base64url(HMAC-SHA256[:16])``. The payload names its
purpose (``p``), the lead (``l``), an optional target URL (``u``) and message id (``m``), and
an expiry (``e``, epoch seconds). A token signed for one purpose is never accepted for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum

MAX_TOKEN_LENGTH = 2048


class Purpose(StrEnum):
    CLICK = "c"
    OPEN = "o"
    UNSUBSCRIBE = "u"
    IDENTIFY = "i"


@dataclass(frozen=True)
class Token:
    purpose: Purpose
    lead_id: str
    expires_at: int
    target: str | None = None
    message_id: str | None = None


class TokenError(ValueError):
    """The token is malformed, forged, tampered with, for another purpose, or expired."""

    def __init__(self, reason: str, expired_token: Token | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Set when only the expiry failed: the signed payload can be trusted for where it
        #: points, not for who it identifies.
        self.expired_token = expired_token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:16])


def sign(token: Token, key: bytes) -> str:
    payload: dict[str, str | int] = {"p": token.purpose.value, "l": token.lead_id, "e": token.expires_at}
    if token.target is not None:
        payload["u"] = token.target
    if token.message_id is not None:
        payload["m"] = token.message_id
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{body}.{_mac(key, body)}"


def verify(text: str, key: bytes, purpose: Purpose, now: int) -> Token:
    """Return the token's content, or raise TokenError saying why it is refused."""
    if not text or len(text) > MAX_TOKEN_LENGTH or text.count(".") != 1:
        raise TokenError("malformed")
    body, mac = text.split(".")
    if not hmac.compare_digest(_mac(key, body), mac):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(body))
        token = Token(
            purpose=Purpose(payload["p"]),
            lead_id=str(payload["l"]),
            expires_at=int(payload["e"]),
            target=payload.get("u"),
            message_id=payload.get("m"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed") from exc
    if token.purpose is not purpose:
        raise TokenError("wrong purpose")
    if token.expires_at < now:
        raise TokenError("expired", expired_token=token)
    return token
