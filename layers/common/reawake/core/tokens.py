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
import re
from dataclasses import dataclass
from enum import StrEnum

MAX_TOKEN_LENGTH = 2048
MAX_FIELD_LENGTH = 512  # a lead id, a message id (<sequence>:<step>:<lead>:<ms>): far below
MAX_EXPIRY = 10**11  # epoch seconds, year 5138: later is not an expiry anyone signed
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # base64url "." base64url, ASCII only


class Purpose(StrEnum):
    CLICK = "c"
    OPEN = "o"
    UNSUBSCRIBE = "u"
    IDENTIFY = "i"


_PURPOSES = frozenset(p.value for p in Purpose)


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
    """Return the token's content, or raise TokenError saying why it is refused: a total function,
    whatever the text (a link's path segment is anyone's input)."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_LENGTH or not _SHAPE.fullmatch(text):
        raise TokenError("malformed")
    body, mac = text.split(".")
    if not hmac.compare_digest(_mac(key, body), mac):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, RecursionError) as exc:  # bad base64, UTF-8 or JSON; nesting deeper than the parser goes
        raise TokenError("malformed") from exc
    token = _token_of(payload)
    if token.purpose is not purpose:
        raise TokenError("wrong purpose")
    if token.expires_at < now:
        raise TokenError("expired", expired_token=token)
    return token


def _token_of(payload: object) -> Token:
    """The signed payload, checked field by field: a signature says who wrote it, not that it is sane."""
    if not isinstance(payload, dict):
        raise TokenError("malformed")
    p, lead, expires = payload.get("p"), payload.get("l"), payload.get("e")
    target, message = payload.get("u"), payload.get("m")
    if not (
        isinstance(p, str)
        and p in _PURPOSES
        and _text(lead, MAX_FIELD_LENGTH)
        and type(expires) is int  # not a bool, not a float such as 1e400
        and 0 <= expires <= MAX_EXPIRY
        and (target is None or _text(target, MAX_TOKEN_LENGTH))
        and (message is None or _text(message, MAX_FIELD_LENGTH))
    ):
        raise TokenError("malformed")
    return Token(Purpose(p), str(lead), expires, target, message)


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit
