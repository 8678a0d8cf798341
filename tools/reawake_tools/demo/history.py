"""The demo's leads and their year of history: pure, relative to a given ``now``.

Five Japanese leads, registered about 14 months before ``now``, each with the history that puts
it where the story needs it in ``config/segments.yaml`` (``expected``):

- ``clicker`` — read the site and attended a webinar in the first months, then went quiet: ① (no visit for
  30 days) and ② (no webinar for 3 months). The webinar sequence mails them; they click.
- ``nurture`` — still reads the site, but no webinar for months: ② only (the webinar sequence).
- ``followup`` — talked with inside sales, no follow-up since: ③ only (DM, then the owner's call).
- ``watch`` — watched a webinar recording lately, no site visit for two months: ① only (watched).
- ``active`` — on the site this week, at a webinar this month: in no definition.

The CSV texts are what ``reawake leads import`` and ``reawake activities import`` read (the
Japanese headers of ``config/sample/``); the emails carry a run id, so the demo can run again and
again on the same stack.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
SITE = "https://www.example.co.jp"  # the production site of the sample templates and of definition ①
WEBINARS = "https://webinar.example.co.jp"  # the webinar platform: not the site
REGISTERED_DAYS_AGO = 425  # about 14 months
CSV_TIME = "%Y/%m/%d %H:%M"  # read in the stack's time zone (Asia/Tokyo)
LEADS_HEADER = ("メールアドレス", "氏名", "会社名", "担当営業", "登録日", "業種")
ACTIVITIES_HEADER = ("メールアドレス", "種別", "日時", "URL", "トピック", "内容")


@dataclass(frozen=True)
class Activity:
    kind: str
    at: datetime
    url: str = ""
    topic: str = ""
    note: str = ""


@dataclass(frozen=True)
class DemoLead:
    role: str
    email: str
    name: str
    company: str
    industry: str
    owner: str | None
    registered_at: datetime
    activities: tuple[Activity, ...]
    expected: tuple[str, ...]  # the definitions (segment ids) its history is built to enter


# (kind, days before now, HH:MM in Tokyo, url, topic, note)
Row = tuple[str, int, str, str, str, str]

_FIRST_MONTHS: tuple[Row, ...] = (
    ("form_submit", 425, "10:12", f"{SITE}/contact/", "contact", "資料請求フォーム"),
    ("page_view", 425, "10:05", f"{SITE}/", "top", ""),
    ("page_view", 425, "10:08", f"{SITE}/product/", "product", ""),
    ("download", 424, "09:40", f"{SITE}/downloads/sample-dx-cloud.pdf", "product", "製品資料"),
    ("page_view", 390, "13:31", f"{SITE}/seminar/", "seminar", ""),
)

_PEOPLE: dict[str, tuple[str, str, str, str, tuple[str, ...], tuple[Row, ...]]] = {
    # role: (email slug, name, company, industry, expected definitions, history after the first months)
    "clicker": ("yamada", "山田 太郎", "株式会社あおば精機", "製造業", ("dormant-no-visit", "dormant-no-webinar"), (
        ("page_view", 340, "11:20", f"{SITE}/product/", "product", ""),
        ("page_view", 320, "16:45", f"{SITE}/seminar/", "seminar", ""),
        ("webinar_application", 320, "16:50", f"{SITE}/seminar/", "seminar", "休眠顧客の掘り起こし入門"),
        ("webinar_view", 300, "15:00", f"{WEBINARS}/dormant-101", "seminar", "休眠顧客の掘り起こし入門"),
    )),
    "nurture": ("kobayashi", "小林 健", "株式会社みなと設計", "建設業", ("dormant-no-webinar",), (
        ("webinar_view", 240, "14:00", f"{WEBINARS}/step-mail", "seminar", "ステップメール設計のコツ"),
        ("page_view", 120, "10:30", f"{SITE}/product/", "product", ""),
        ("page_view", 20, "17:05", f"{SITE}/", "top", ""),
        ("page_view", 8, "12:15", f"{SITE}/product/", "product", ""),
    )),
    "followup": ("nakamura", "中村 美穂", "ひかり物流株式会社", "物流", ("dormant-no-followup",), (
        ("sales_conversation", 360, "14:30", "", "", "インサイドセールス: 課題ヒアリング"),
        ("sales_followup", 300, "11:00", "", "", "営業: 提案書の送付"),
        ("webinar_application", 60, "09:50", f"{SITE}/seminar/", "seminar", "MA で始める営業 DX"),
        ("webinar_view", 45, "15:00", f"{WEBINARS}/sales-dx", "seminar", "MA で始める営業 DX"),
        ("page_view", 12, "10:40", f"{SITE}/product/", "product", ""),
    )),
    "watch": ("takagi", "高木 さくら", "株式会社こもれび食品", "食品", ("dormant-no-visit",), (
        ("page_view", 200, "09:15", f"{SITE}/product/", "product", ""),
        ("page_view", 60, "18:20", f"{SITE}/seminar/", "seminar", ""),
        ("webinar_view", 50, "20:00", f"{WEBINARS}/dormant-101", "seminar", "休眠顧客の掘り起こし入門 (録画)"),
    )),
    "active": ("mori", "森 直樹", "しらかばソフト株式会社", "IT", (), (
        ("webinar_view", 25, "15:00", f"{WEBINARS}/sales-dx", "seminar", "MA で始める営業 DX"),
        ("page_view", 10, "11:00", f"{SITE}/seminar/", "seminar", ""),
        ("page_view", 3, "14:20", f"{SITE}/product/", "product", ""),
    )),
}
ROLES = tuple(_PEOPLE)


def days_before(now: datetime, days: int, hhmm: str) -> datetime:
    """HH:MM in Tokyo on the day ``days`` before now's day there."""
    day = now.astimezone(TOKYO).date() - timedelta(days=days)
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def demo_email(run_id: str, slug: str) -> str:
    return f"demo-{run_id}-{slug}@example.jp"


def demo_leads(run_id: str, now: datetime, owners: list[str]) -> list[DemoLead]:
    """The five leads of one run, their history relative to ``now``; owners taken in turn (none
    when the list is empty: alerts then go to the team address)."""
    leads = []
    for index, (role, (slug, name, company, industry, expected, later)) in enumerate(_PEOPLE.items()):
        rows = sorted(_FIRST_MONTHS + later, key=lambda r: days_before(now, r[1], r[2]))
        activities = tuple(Activity(kind, days_before(now, days, hhmm), url, topic, note)
                           for kind, days, hhmm, url, topic, note in rows)
        leads.append(DemoLead(
            role=role, email=demo_email(run_id, slug), name=name, company=company, industry=industry,
            owner=owners[index % len(owners)] if owners else None,
            registered_at=days_before(now, REGISTERED_DAYS_AGO, "10:00"),
            activities=activities, expected=expected,
        ))
    return leads


def _csv(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def leads_csv(leads: list[DemoLead]) -> str:
    return _csv(LEADS_HEADER, [(x.email, x.name, x.company, x.owner or "", f"{x.registered_at:{CSV_TIME}}",
                                x.industry) for x in leads])


def activities_csv(leads: list[DemoLead]) -> str:
    return _csv(ACTIVITIES_HEADER, [(x.email, a.kind, f"{a.at.astimezone(TOKYO):{CSV_TIME}}", a.url, a.topic, a.note)
                                    for x in leads for a in x.activities])
