"""A generated, seeded dataset of leads with realistic histories, for segment and scoring tests.

Raw events are made first; each Lead's aggregates come from ``reawake.core.leads.fold_events`` and its
score from ``reawake.core.scoring.apply_events`` fed in several ingest batches, as production does.
Besides random histories the dataset holds deliberate edge cases (``Dataset.edges``): events and
registrations exactly on the 30-day / 90-day / 3-month / 1-year cutoffs and one millisecond
before them, events at 23:59:59.999 and 00:00:00.000 JST around the first counted day, leads
with no events, imported-only leads, unsubscribed and bounced leads.

``Dataset.truth`` keeps what the generator meant by each imported field (the date or number
behind ``"2025/04/01"`` or ``"１，２００"``), so the brute-force reference never has to parse.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.durations import Duration, cutoff
from reawake.core.events import Event
from reawake.core.leads import Lead, fold_events, legacy_lead_id
from reawake.core.scoring import ScoringConfig, apply_events

TOKYO = ZoneInfo("Asia/Tokyo")
SITE = "https://www.example.co.jp"
SHOP = "https://shop.example.co.jp"
DAY = 86_400_000
RETENTION_DAYS = 400


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))) // timedelta(milliseconds=1)


NOW = ms(datetime(2026, 11, 23, 10, 0, tzinfo=TOKYO))

PATHS = [
    "/",
    "/pricing",
    "/seminar/",
    "/seminar/2026/tokyo",
    "/seminar/2026/",
    "/seminar/2025/osaka/",
    "/seminar/index.html",
    "/products/a/detail.html",
    "/products/b/",
    "/blog/2025/dx-tips",
    "/case-study/manufacturing",
    "/seminar",
]
TOPICS = ["pricing", "seminar", "case-study", "product-a", "導入事例"]
CAMPAIGNS = ["spring", "autumn", "webinar-2026", "展示会2025"]
BROWSER_KINDS = ["page_view"] * 12 + ["download", "form_submit", "webinar_view", "email_click", "email_open"]
ACTIVITY_KINDS = [
    "purchase",
    "webinar_application",
    "webinar_view",
    "sales_conversation",
    "sales_followup",
    "product_use",
    "product_use",
    "conversion",
]
INDUSTRIES = ["製造業", "情報通信業", "小売業", "ｻｰﾋﾞｽ業", "Manufacturing"]
COMPANIES = ["株式会社サンプル", "（株）サンプル商事", "Example株式会社", "合同会社テスト", "ＡＢＣ工業"]
OWNERS = ["tanaka@example.co.jp", "suzuki@example.co.jp", "Sato@Example.co.jp", None]


@dataclass
class Dataset:
    now_ms: int
    leads: list[Lead]
    events: dict[str, list[Event]]  # lead_id -> raw events
    truth: dict[str, dict[str, Any]]  # lead_id -> imported field name -> the value meant (ms or number)
    edges: dict[str, str] = field(default_factory=dict)  # label -> lead_id


class _Gen:
    def __init__(self, seed: int, now_ms: int, scoring: ScoringConfig) -> None:
        self.rng = random.Random(seed)
        self.now = now_ms
        self.scoring = scoring
        self.counter = 0
        self.leads: list[Lead] = []
        self.events: dict[str, list[Event]] = {}
        self.truth: dict[str, dict[str, Any]] = {}
        self.edges: dict[str, str] = {}

    def cut(self, text: str) -> int:
        amount = int("".join(c for c in text if c.isdigit()))
        return cutoff(Duration(amount, text.lstrip("0123456789")), self.now, TOKYO)  # type: ignore[arg-type]

    def event(self, kind: str, ts: int, *, site: str | None = None, path: str | None = None, **props: Any) -> Event:
        self.counter += 1
        url = None
        if site is not None:
            url = site + (path or "/")
            if "utm" in props:
                url += f"?utm_campaign={props.pop('utm')}&utm_source=mail"
        clean = {k: v for k, v in props.items() if v is not None}
        return Event(
            id=f"ev{self.counter:010d}", kind=kind, ts=ts, source="browser" if url else "activity", url=url, props=clean
        )

    def random_event(self, ts: int) -> Event:
        rng = self.rng
        if rng.random() < 0.7:
            kind = rng.choice(BROWSER_KINDS)
            site = SITE if rng.random() < 0.8 else SHOP
            return self.event(
                kind,
                ts,
                site=site,
                path=rng.choice(PATHS),
                topic=rng.choice(TOPICS) if rng.random() < 0.4 else None,
                campaign=rng.choice(CAMPAIGNS) if rng.random() < 0.1 else None,
                utm=rng.choice(CAMPAIGNS) if rng.random() < 0.1 else None,
            )
        kind = rng.choice(ACTIVITY_KINDS)
        return self.event(kind, ts, topic=rng.choice(TOPICS) if rng.random() < 0.2 else None)

    def attrs(self, lead_id: str) -> dict[str, Any]:
        rng = self.rng
        attrs: dict[str, Any] = {}
        truth: dict[str, Any] = {}
        if rng.random() < 0.7:
            attrs["業種"] = rng.choice(INDUSTRIES)
        if rng.random() < 0.7:
            size = rng.choice([5, 50, 99, 100, 101, 300, 1200, 5000])
            attrs["従業員数"] = rng.choice([size, str(size), f"{size:,}", str(size).translate(_FULL_WIDTH), "不明"])
            truth["従業員数"] = None if attrs["従業員数"] == "不明" else size
        if rng.random() < 0.6:
            day = self.now - rng.randrange(0, 3 * 365) * DAY
            local = datetime.fromtimestamp(day / 1000, TOKYO)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            style = rng.randrange(4)
            if style == 0:
                attrs["最終契約日"], truth["最終契約日"] = f"{local:%Y/%m/%d}", ms(midnight)
            elif style == 1:
                attrs["最終契約日"], truth["最終契約日"] = f"{local:%Y-%m-%d}", ms(midnight)
            elif style == 2:
                attrs["最終契約日"], truth["最終契約日"] = f"{local.year}年{local.month}月{local.day}日", ms(midnight)
            else:
                attrs["最終契約日"], truth["最終契約日"] = rng.choice(["不明", "", "未契約"]), None
        if rng.random() < 0.3:
            attrs["ランク"] = rng.choice(["A", "B", "C", "ａ", ""])
        self.truth[lead_id] = truth
        return attrs

    def add(
        self,
        label: str | None,
        registered_at: int,
        events: list[Event],
        *,
        attrs: dict[str, Any] | None = None,
        unsubscribed: bool = False,
        suppressed: str | None = None,
        converted: bool = False,
        source: str = "import",
    ) -> Lead:
        rng = self.rng
        index = len(self.leads)
        email = f"lead{index:05d}@example.jp"
        lead_id = legacy_lead_id(email)  # deterministic, like a lead imported before random ids
        lead = Lead(
            lead_id=lead_id,
            email=email,
            registered_at=registered_at,
            name=f"山田 太郎{index}",
            company=rng.choice(COMPANIES) if rng.random() < 0.9 else None,
            owner=rng.choice(OWNERS),
            attrs=attrs if attrs is not None else self.attrs(lead_id),
            unsubscribed_at=self.now - rng.randrange(1, 100) * DAY if unsubscribed else None,
            suppressed=suppressed or ("unsubscribe" if unsubscribed else None),
            converted_at=self.now - rng.randrange(1, 500) * DAY if converted else None,
            source=source,
        )
        self.truth.setdefault(lead_id, {})
        events = [e.for_lead(lead_id) for e in events]
        lead = fold_events(lead, events, TOKYO, self.now, RETENTION_DAYS)
        # Score as ingest does: batches in time order, each valued when it arrived.
        ordered = sorted(events, key=lambda e: e.ts)
        batches = rng.randrange(1, 5)
        size = max(1, -(-len(ordered) // batches))
        for start in range(0, len(ordered), size):
            batch = ordered[start : start + size]
            arrived = min(self.now, batch[-1].ts + rng.randrange(0, 3) * DAY)
            lead = apply_events(lead, batch, self.scoring, arrived)
        self.leads.append(lead)
        self.events[lead_id] = events
        if label:
            self.edges[label] = lead_id
        return lead

    def random_lead(self) -> None:
        rng = self.rng
        profile = rng.choices(
            ["active", "dormant", "new", "imported_only", "no_events", "activity_only"], [30, 35, 10, 10, 5, 10]
        )[0]
        registered = self.now - rng.randrange(1, 3 * 365 * 24) * 3_600_000
        if profile == "new":
            registered = self.now - rng.randrange(1, 60 * 24) * 3_600_000
        events: list[Event] = []
        if profile in ("active", "dormant", "new"):
            count = rng.randrange(1, 40)
            latest = self.now if profile != "dormant" else self.now - rng.randrange(20, 500) * DAY
            earliest = min(registered, latest - DAY)
            for _ in range(count):
                events.append(self.random_event(rng.randrange(earliest, latest)))
        elif profile == "activity_only":
            for _ in range(rng.randrange(1, 15)):
                ts = rng.randrange(self.now - 3 * 365 * DAY, self.now)
                events.append(self.event(rng.choice(ACTIVITY_KINDS), ts))
        self.add(
            None,
            registered,
            events,
            attrs={} if profile == "no_events" else None,
            unsubscribed=rng.random() < 0.04,
            suppressed="bounce" if rng.random() < 0.03 else None,
            converted=rng.random() < 0.05,
            source="form" if profile == "no_events" else "import",
        )

    def edge_leads(self) -> None:
        old = self.now - 400 * DAY
        c30, c90, c3mo, c1y = self.cut("30d"), self.cut("90d"), self.cut("3mo"), self.cut("1y")
        self.add("registered-exactly-90d", c90, [])
        self.add("registered-90d-minus-1ms", c90 - 1, [])
        self.add("registered-90d-plus-1ms", c90 + 1, [])
        self.add("visit-exactly-30d", old, [self.event("page_view", c30, site=SITE, path="/")])
        self.add("visit-30d-minus-1ms", old, [self.event("page_view", c30 - 1, site=SITE, path="/")])
        self.add("visit-30d-other-site", old, [self.event("page_view", c30 + DAY, site=SHOP, path="/")])
        self.add("webinar-exactly-3mo", old, [self.event("webinar_view", c3mo)])
        self.add("webinar-application-3mo-minus-1ms", old, [self.event("webinar_application", c3mo - 1)])
        talk = self.event("sales_conversation", old)
        self.add("followup-exactly-3mo", old, [talk, self.event("sales_followup", c3mo)])
        self.add(
            "followup-3mo-minus-1ms",
            old,
            [self.event("sales_conversation", old), self.event("sales_followup", c3mo - 1)],
        )
        self.add("followup-without-conversation", old, [self.event("sales_followup", old)])
        self.add("purchase-exactly-3mo", old, [self.event("purchase", c3mo)])
        self.add("purchase-3mo-minus-1ms", old, [self.event("purchase", c3mo - 1)])
        self.add("use-exactly-1y", old, [self.event("product_use", c1y)])
        self.add("use-1y-minus-1ms", old, [self.event("product_use", c1y - 1)])
        # The first counted day of "within 30d" is the day of the cutoff (2026-10-24 JST).
        first_day = datetime.fromtimestamp(c30 / 1000, TOKYO).replace(hour=0, minute=0, second=0, microsecond=0)
        before_midnight = ms(first_day) - 1  # 2026-10-23 23:59:59.999 JST
        at_midnight = ms(first_day)  # 2026-10-24 00:00:00.000 JST
        pricing = {"site": SITE, "path": "/pricing", "topic": "pricing"}
        self.add(
            "pricing-2-on-first-day-1-before",
            old,
            [
                self.event("page_view", at_midnight, **pricing),
                self.event("page_view", at_midnight + 5 * 60_000, **pricing),
                self.event("page_view", before_midnight, **pricing),
            ],
        )
        self.add("pricing-3-on-first-day", old, [self.event("page_view", at_midnight + i, **pricing) for i in range(3)])
        self.add("no-events-no-attrs", old, [], attrs={})
        self.add(
            "imported-only", old, [], attrs={"業種": "製造業", "従業員数": "１，２００", "最終契約日": "2025/04/01"}
        )
        self.truth[self.edges["imported-only"]] = {
            "従業員数": 1200,
            "最終契約日": ms(datetime(2025, 4, 1, tzinfo=TOKYO)),
        }
        self.add(
            "unsubscribed-hot",
            old,
            [self.event("conversion", self.now - i * 3_600_000) for i in range(5)],
            unsubscribed=True,
        )
        self.add(
            "bounced-hot",
            old,
            [self.event("conversion", self.now - i * 3_600_000) for i in range(5)],
            suppressed="bounce",
        )
        self.add("hot", old, [self.event("conversion", self.now - i * 3_600_000) for i in range(5)])


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def generate(scoring: ScoringConfig, leads: int = 2500, seed: int = 20261123, now_ms: int = NOW) -> Dataset:
    gen = _Gen(seed, now_ms, scoring)
    gen.edge_leads()
    while len(gen.leads) < leads:
        gen.random_lead()
    return Dataset(now_ms, gen.leads, gen.events, gen.truth, gen.edges)
