"""A lead's facts as the mails to our salespeople write them (revisit alerts, call lists): the
band and dates in Japanese, the last activity, the CRM link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from reawake.core.kinds import KIND_JA
from reawake.core.leads import Lead
from reawake.core.urls import reads_differently, web_url

BAND_JA = {"hot": "ホット", "warm": "ウォーム", "cold": "コールド"}


def band_ja(band: str | None) -> str:
    return BAND_JA.get(band or "", band or "なし")


def when(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%Y年%-m月%-d日 %H:%M")


def day(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%Y年%-m月%-d日")


def describe(kind_and_time: tuple[str, int] | None, tz: ZoneInfo) -> str:
    """``2026年8月26日（ウェビナー視聴）``, or 記録なし."""
    if kind_and_time is None:
        return "記録なし"
    kind, ts = kind_and_time
    return f"{day(ts, tz)}（{KIND_JA.get(kind, kind)}）"


def crm_url(template: str, lead: Lead) -> str:
    """The lead's page in the CRM (``CrmUrlTemplate`` with ``{lead_id}``, ``{email}``, ``{company}``),
    or "" when there is none or the result would not open where it reads."""
    if not template:
        return ""
    values = {"lead_id": lead.lead_id, "email": lead.email, "company": lead.company or ""}
    url = template
    for key, value in values.items():
        url = url.replace("{" + key + "}", quote(value, safe=""))
    parsed = web_url(url)  # a link in the mail: only as a browser will read it, and never a misleading one
    return parsed.href if parsed is not None and not reads_differently(url) else ""
