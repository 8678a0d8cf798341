"""Normalization of identities typed by people (often in Japanese input modes)."""

from __future__ import annotations

import re
import unicodedata

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def normalize_email(raw: str) -> str:
    """NFKC (full-width ＠ and letters become ASCII), trimmed, lower-cased; ValueError if not an address."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email
