"""Revisit alerts, the domain: pure functions, ``now`` passed in.

A *revisit* is an event that tracking flagged (``revisit: true``) because the lead was dormant when
it happened. For each one the alert function asks, in this order:

1. **Is it a person?** (``classify``) Prefetch/prerender/HEAD requests, known bots and crawlers
   (User-Agent), events older than ``max_age`` (a migrated history, a replay) and mail-security
   scanners never alert: an ``email_click`` within ``scanner_seconds`` of that message's
   delivery, or one of ``burst_clicks`` clicks of the lead within ``burst_ms``. Such revisits are
   recorded (``ALERT_SUPPRESSED`` notes) with the reason.
2. **Was the owner told already?** At most one alert per lead per ``window_ms`` (the adapter's
   conditional write; ``window_start`` here).
3. **What does the salesperson need to act?** (``build_alert``) who (name, company, owner), why
   dormant (segments, since when, the last activity before going quiet), what now (the pages of
   this visit so far, the email or campaign that brought them, score and band) and a CRM link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from reawake.core.events import Event
from reawake.core.kinds import KIND_JA, VISIT_KINDS
from reawake.core.leads import Lead
from reawake.core.leads import went_quiet as went_quiet_by
from reawake.core.urls import defang, host_of, reads_differently, site_url, web_url

HOUR_MS = 3_600_000
VISIT_GAP_MS = 30 * 60_000  # a visit ends after 30 minutes without an event (the usual web-analytics session)

#: User-Agent fragments of crawlers, bots, link expanders, HTTP libraries and headless browsers.
#: ``HeadlessChrome`` is here on purpose: people do not browse headless, scanners and crawlers do
#: (the browser tests' page views are still recorded; they only never alert). ``CUBOT`` is a phone maker.
DEFAULT_BOT_PATTERN = re.compile(
    r"(?<!cu)(bot|crawler|spider|crawl|slurp)\b|(?<!cu)bot[-/ ;]|headlesschrome|phantomjs|puppeteer|playwright|selenium"
    r"|python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|java/|okhttp|node-fetch|axios/"
    r"|libwww|facebookexternalhit|bingpreview|preview|yahoo! slurp|ia_archiver|googleimageproxy|lighthouse"
    r"|scanner|barracuda|mimecast|proofpoint|symantec|trendmicro|forcepoint|safelinks",
    re.IGNORECASE,
)
#: Fetch purposes (``Sec-Purpose`` / ``Purpose`` / HEAD) that are not a person looking at a page.
NOT_A_VIEW = frozenset({"prefetch", "prerender", "preview", "head"})
#: Sources whose events come with a browser's User-Agent (activities and SES feedback do not).
BROWSER_SOURCES = frozenset({"browser", "pixel", "email"})


@dataclass(frozen=True)
class AlertSettings:
    window_ms: int = 12 * HOUR_MS
    crm_url_template: str = ""
    team_address: str = ""
    topic_arn: str = ""
    scanner_seconds: float = 10.0
    burst_clicks: int = 3
    burst_ms: int = 1000
    max_age_ms: int = 24 * HOUR_MS
    click_settle_ms: int = 2000  # wait this long after a click before judging it (its siblings arrive)
    site_origins: tuple[str, ...] = ()  # only pages on these become links in the mail


@dataclass(frozen=True)
class Suppression:
    reason: str  # prefetch | bot | stale | scanner_fast_click | scanner_burst
    detail: str


# --- 1. a person? -------------------------------------------------------------------------------


def is_bot(user_agent: str | None, pattern: re.Pattern[str] = DEFAULT_BOT_PATTERN) -> bool:
    """True for a known bot, crawler, library or headless browser, and for no User-Agent at all."""
    return not user_agent or not user_agent.strip() or pattern.search(user_agent) is not None


def classify(
    event: Event, recent: Sequence[Event], now_ms: int, settings: AlertSettings,
    pattern: re.Pattern[str] = DEFAULT_BOT_PATTERN,
) -> Suppression | None:
    """Why this revisit must not alert, or None when it is a person coming back.

    ``recent``: the lead's events around it (deliveries and clicks: for an ``email_click``)."""
    purpose = (event.fetch_purpose or "").lower()
    if purpose in NOT_A_VIEW:
        return Suppression("prefetch", f"fetch purpose {purpose}")
    if event.source in BROWSER_SOURCES and is_bot(event.user_agent, pattern):
        return Suppression("bot", f"user agent {(event.user_agent or '(none)')[:80]!r}")
    if now_ms - event.ts > settings.max_age_ms:
        return Suppression("stale", f"{(now_ms - event.ts) // 60_000} minutes old")
    if event.kind == "email_click":
        return scanner_click(event, recent, settings)
    return None


def scanner_click(click: Event, recent: Sequence[Event], settings: AlertSettings) -> Suppression | None:
    """A mail-security scanner: it follows the links within seconds of delivery, all at once."""
    if click.message_id:
        for delivery in recent:
            if delivery.kind == "email_delivery" and delivery.message_id == click.message_id:
                seconds = (click.ts - delivery.ts) / 1000
                if 0 <= seconds < settings.scanner_seconds:
                    return Suppression("scanner_fast_click", f"clicked {seconds:.1f} s after delivery")
    times = sorted({e.ts for e in recent if e.kind == "email_click"} | {click.ts})
    # Any stretch of burst_ms that holds this click and burst_clicks clicks in all.
    for start in times:
        if start <= click.ts < start + settings.burst_ms:
            count = sum(1 for t in times if start <= t < start + settings.burst_ms)
            if count >= settings.burst_clicks:
                return Suppression("scanner_burst", f"{count} clicks within {settings.burst_ms} ms")
    return None


# --- 2. the throttle ----------------------------------------------------------------------------


def window_start(now_ms: int, settings: AlertSettings) -> int:
    """An alert at ``now`` is allowed when the lead's last alert is before this moment."""
    return now_ms - settings.window_ms


def alert_id(lead_id: str, claimed_at: int) -> str:
    """The alert's id: also its mail's Message-ID seed, so a retried send keeps its Message-ID."""
    return f"alert:{lead_id}:{claimed_at}"


# --- 3. the content -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    ts: int
    url: str  # the link to show: the page as a browser reads it, "" when it is not on one of the sites
    title: str  # plain words: link-like text from outside is defanged
    kind: str


def shown_page(ts: int, url: str, title: str, kind: str, site_origins: tuple[str, ...]) -> Page:
    """A page for the salesperson's mail. An event's URL and title come from whoever sent the event
    (a page view with a customer's email is enough to reach this mail): a URL becomes a link only
    when a browser would open it on one of the sites; any other is shown as defanged words."""
    on_site = site_url(url, site_origins)
    words = defang(title, site_origins)
    if on_site is not None:
        return Page(ts, on_site.href, words, kind)
    return Page(ts, "", words or defang(url[:300], site_origins), kind)


@dataclass(frozen=True)
class Alert:
    id: str
    lead_id: str
    name: str
    company: str
    email: str
    owner_email: str | None  # None: the lead has no owner, the team is told
    owner_name: str
    to_address: str
    segments: tuple[tuple[str, str, int], ...]  # (id, name, entered at)
    dormant_since: int | None
    last_activity: tuple[str, int] | None  # (kind, ts) before going quiet
    revisit_at: int
    pages: tuple[Page, ...]
    brought_by: str  # the email, campaign or referrer that brought them
    score: float
    band: str | None
    crm_url: str
    opted_out: bool
    attrs: Mapping[str, object] = field(default_factory=dict)

    @property
    def primary_segment(self) -> str:
        return self.segments[0][0] if self.segments else "none"


def last_activity_before(lead: Lead, moment: int | None) -> tuple[str, int] | None:
    """The latest visit-kind activity strictly before ``moment`` (when it went quiet).

    ``lead.last`` already holds the revisit itself, so the day buckets (kept for the retention)
    and the older ``last`` values are read: the day is exact, the time is the day's start when
    only a bucket is left."""
    if moment is None:
        return None
    best: tuple[str, int] | None = None
    for key, ts in lead.last.items():
        if "@" not in key and key in VISIT_KINDS and ts < moment and (best is None or ts > best[1]):
            best = (key, ts)
    return best


def page_path(url: str) -> str:
    parsed = web_url(url)
    return parsed.path if parsed else url


def visit_pages(event: Event, recent: Iterable[Event], site_origins: tuple[str, ...] = ()) -> tuple[Page, ...]:
    """The pages of the visit this revisit belongs to, as far as it has got when the alert is
    written (events at most VISIT_GAP_MS apart), oldest first."""
    views = sorted({e.id: e for e in [*recent, event] if e.kind in VISIT_KINDS and e.url}.values(),
                   key=lambda e: (e.ts, e.id))
    visits: list[list[Event]] = []
    for e in views:
        if not visits or e.ts - visits[-1][-1].ts > VISIT_GAP_MS:
            visits.append([])
        visits[-1].append(e)
    visit = next((v for v in visits if any(e.id == event.id for e in v)), [])
    return tuple(shown_page(e.ts, e.url or "", str(e.props.get("title") or ""), e.kind, site_origins) for e in visit)


def brought_by(event: Event, recent: Iterable[Event], site_origins: tuple[str, ...] = ()) -> str:
    """What brought them back: the email link they clicked, the campaign, or the referrer."""
    candidates = [e for e in [*recent, event] if e.ts <= event.ts and event.ts - e.ts <= VISIT_GAP_MS]
    clicks = sorted((e for e in candidates if e.kind == "email_click"), key=lambda e: e.ts)
    if clicks:
        click = clicks[-1]
        campaign = click.campaign or (click.message_id or "").split(":")[0]
        return f"メール（{defang(campaign, site_origins)}）のリンク" if campaign else "メールのリンク"
    first = min(candidates, key=lambda e: e.ts) if candidates else event
    if first.campaign:
        return f"キャンペーン「{defang(first.campaign, site_origins)}」"
    if first.referrer:
        host = host_of(first.referrer)
        if host:
            return f"参照元 {defang(host, site_origins)}"
    return "直接アクセス（ブックマーク・URL入力など）"


def crm_url(template: str, lead: Lead) -> str:
    if not template:
        return ""
    values = {"lead_id": lead.lead_id, "email": lead.email, "company": lead.company or ""}
    url = template
    for key, value in values.items():
        url = url.replace("{" + key + "}", quote(value, safe=""))
    parsed = web_url(url)  # a link in the mail: only as a browser will read it, and never a misleading one
    return parsed.href if parsed is not None and not reads_differently(url) else ""


def build_alert(
    lead: Lead,
    event: Event,
    recent: Sequence[Event],
    claimed_at: int,
    settings: AlertSettings,
    owner_name: str | None,
    segment_names: Mapping[str, str],
    score: float,
    band: str | None,
) -> Alert:
    """Everything the salesperson reads. ``owner_name``: from owners.yaml (None: not listed)."""
    owner_email = lead.owner or None
    if owner_email:
        to_address, shown_owner = owner_email, owner_name or owner_email.split("@")[0]
    else:
        to_address, shown_owner = settings.team_address, "担当なし（チーム宛て）"
    segments = tuple(sorted(((s, segment_names.get(s, s), t) for s, t in lead.segments.items()),
                            key=lambda x: (x[2], x[0])))
    quiet_since = lead.dormant_since if lead.dormant_since is not None else event.ts
    return Alert(
        id=alert_id(lead.lead_id, claimed_at),
        lead_id=lead.lead_id,
        name=lead.name or "",
        company=lead.company or "",
        email=lead.email,
        owner_email=owner_email,
        owner_name=shown_owner,
        to_address=to_address,
        segments=segments,
        dormant_since=lead.dormant_since,
        last_activity=last_activity_before(lead, quiet_since),
        revisit_at=event.ts,
        pages=visit_pages(event, recent, settings.site_origins),
        brought_by=brought_by(event, recent, settings.site_origins),
        score=round(score, 1),
        band=band,
        crm_url=crm_url(settings.crm_url_template, lead),
        opted_out=bool(lead.unsubscribed_at or lead.suppressed),
        attrs=dict(lead.attrs),
    )


BAND_JA = {"hot": "ホット", "warm": "ウォーム", "cold": "コールド"}


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


def went_quiet(alert: Alert, lead: Lead, tz: ZoneInfo) -> tuple[str, str] | None:
    """(kind, ``2026年8月26日``) of the lead's last visit-kind activity before it went dormant: the day
    it went quiet."""
    moment = alert.dormant_since if alert.dormant_since is not None else alert.revisit_at
    quiet = went_quiet_by(lead, VISIT_KINDS, moment, tz)
    return (quiet[0], f"{quiet[1].year}年{quiet[1].month}月{quiet[1].day}日") if quiet else None


def quiet_since(alert: Alert, lead: Lead, tz: ZoneInfo) -> str:
    """Since when the lead has been quiet: its last activity's day, else its registration day ("")."""
    quiet = went_quiet(alert, lead, tz)
    if quiet is not None:
        return quiet[1]
    return day(lead.registered_at, tz) if lead.registered_at else ""


def template_context(alert: Alert, lead: Lead, tz: ZoneInfo, window_hours: float = 12) -> dict[str, object]:
    """The alert mail's variables (already formatted for people in the configured time zone).

    ``segments[].since`` is the day a segment run caught the lead; ``quiet_since`` the day it went
    quiet (its last activity): the 「から」 the salesperson reads."""
    quiet = went_quiet(alert, lead, tz)
    last = f"{quiet[1]}（{KIND_JA.get(quiet[0], quiet[0])}）" if quiet else "記録なし"
    return {
        "lead": {"name": alert.name or "（氏名未登録）", "company": alert.company or "（会社名未登録）",
                 "email": alert.email, "phone": lead.phone, "attrs": dict(alert.attrs)},
        "owner": {"name": alert.owner_name, "email": alert.owner_email or "", "is_team": alert.owner_email is None},
        "segments": [{"id": s, "name": n, "since": day(t, tz)} for s, n, t in alert.segments],
        "dormant_since": day(alert.dormant_since, tz) if alert.dormant_since is not None else "",
        "quiet_since": quiet_since(alert, lead, tz),
        "last_activity": last,
        "revisit_at": when(alert.revisit_at, tz),
        "pages": [{"at": datetime.fromtimestamp(p.ts / 1000, tz).strftime("%H:%M"), "url": p.url,
                   "title": p.title or page_path(p.url), "kind": KIND_JA.get(p.kind, p.kind)}
                  for p in alert.pages],
        "brought_by": alert.brought_by,
        "score": f"{alert.score:g}",
        "band": BAND_JA.get(alert.band or "", alert.band or "なし"),
        "crm_url": alert.crm_url,
        "opted_out": alert.opted_out,
        "lead_id": alert.lead_id,
        "window_hours": f"{window_hours:g}",
    }


def sns_message(alert: Alert, tz: ZoneInfo, quiet: str = "") -> tuple[str, str, dict[str, dict[str, str]]]:
    """(subject, message, message attributes) for the SNS topic. The message is an AWS Chatbot
    custom notification (Slack renders it); the attributes let a subscription filter by owner,
    segment or band. ``quiet``: ``quiet_since`` (the day it went quiet)."""
    who = " ".join(x for x in (alert.company, f"{alert.name}様" if alert.name else "") if x) or alert.lead_id
    pages = "\n".join(f"• {datetime.fromtimestamp(p.ts / 1000, tz):%H:%M} {p.title or p.url}" for p in alert.pages[:10])
    segment_text = "、".join(n for _, n, _ in alert.segments) or "—"
    lines = [
        f"*担当*: {alert.owner_name}",
        f"*休眠理由*: {segment_text}" + (f"（{quiet}から活動なし）" if quiet else ""),
        f"*再訪*: {when(alert.revisit_at, tz)}　*きっかけ*: {alert.brought_by}",
        f"*スコア*: {alert.score:g}（{BAND_JA.get(alert.band or '', alert.band or 'なし')}）",
    ]
    if pages:
        lines.append(f"*閲覧ページ*:\n{pages}")
    if alert.crm_url:
        lines.append(f"<{alert.crm_url}|CRMで開く>")
    message = {
        "version": "1.0",
        "source": "custom",
        "id": alert.id,
        "content": {
            "textType": "client-markdown",
            "title": f":bell: 休眠リードが再訪しました: {who}",
            "description": "\n".join(lines),
            "nextSteps": [f"CRM: {alert.crm_url}"] if alert.crm_url else [],
            "keywords": [s for s, _, _ in alert.segments][:5],
        },
        "metadata": {
            "threadId": alert.lead_id,
            "summary": f"休眠リードの再訪: {who}",
            "additionalContext": {"lead_id": alert.lead_id, "owner": alert.owner_email or "team",
                                  "segment": alert.primary_segment, "band": alert.band or "none"},
        },
    }
    attributes = {
        "owner": {"DataType": "String", "StringValue": alert.owner_email or "team"},
        "segment": {"DataType": "String", "StringValue": alert.primary_segment},
        "band": {"DataType": "String", "StringValue": alert.band or "none"},
    }
    subject = f"Reawake: a dormant lead is back ({alert.lead_id})"  # SNS subjects are ASCII only
    return subject, json.dumps(message, ensure_ascii=False), attributes
