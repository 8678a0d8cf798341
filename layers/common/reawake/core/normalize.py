"""Normalization of identities typed by people (often in Japanese input modes)."""

from __future__ import annotations

import re
import unicodedata

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

# Legal-form markers, matched after NFKC (which turns ㈱ and （株） into (株), ㍿ into 株式会社).
# They are removed wherever they stand: 株式会社サンプル, サンプル株式会社 and (株)サンプル are one company.
_LEGAL_FORMS_JA = (
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "一般社団法人",
    "一般財団法人",
    "公益社団法人",
    "公益財団法人",
    "特定非営利活動法人",
    "npo法人",
    "独立行政法人",
    "医療法人",
    "学校法人",
    "社会福祉法人",
    "(株)",
    "(有)",
    "(同)",
    "(資)",
    "(名)",
    "(社)",
    "(財)",
    "(医)",
    "(学)",
    "(福)",
)
# English forms only at the end of the name ("Example Co., Ltd.", "Example Inc.").
_LEGAL_FORM_EN = re.compile(
    r"(?:[\s,]*\b(?:co\.?,?\s*ltd\.?|inc\.?|corp\.?|corporation|ltd\.?|llc|l\.l\.c\.|k\.k\.|g\.k\.))+$"
)
_IGNORED = re.compile(r"[\s・]+")  # spaces (half and full width become " " under NFKC) and middle dots


def normalize_email(raw: str) -> str:
    """NFKC (full-width ＠ and letters become ASCII), trimmed, lower-cased; ValueError if not an address."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


def normalize_text(raw: str) -> str:
    """NFKC, trimmed, inner runs of spaces collapsed to one: for headers and codes typed by people."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def company_key(name: str) -> str | None:
    """The key under which spellings of one company match (the original is kept for display).

    NFKC (full-width letters, half-width kana, ㈱), lower-cased, legal forms removed wherever they
    are, spaces and middle dots removed. None when nothing is left (e.g. only "株式会社").
    """
    key = unicodedata.normalize("NFKC", name).lower().strip()
    key = _LEGAL_FORM_EN.sub("", key)
    for form in _LEGAL_FORMS_JA:
        key = key.replace(form, "")
    key = _IGNORED.sub("", key)
    return key or None
