"""Revisit alerts, the pure part: who is a person, the throttle window, and what the salesperson reads."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake.alerts.domain import (
    AlertSettings,
    alert_id,
    build_alert,
    classify,
    sns_message,
    template_context,
    visit_pages,
    window_start,
)
from reawake.core.bots import is_bot
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.mail.lead_facts import crm_url

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = int(datetime(2026, 11, 24, 14, 30, tzinfo=TOKYO).timestamp() * 1000)
DAY = 86_400_000
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
SITES = ("https://www.example.co.jp",)
SETTINGS = AlertSettings(crm_url_template="https://crm.example.co.jp/leads/{lead_id}?q={company}",
                         team_address="sales@example.co.jp", site_origins=SITES)


def event(kind: str = "page_view", ts: int = NOW - 1000, ua: str | None = CHROME, **kw: object) -> Event:
    defaults: dict[str, object] = {"source": "email" if kind == "email_click" else "browser", "lead_id": "lead1",
                                   "url": "https://www.example.co.jp/product/"}
    defaults.update(kw)
    return Event(id=f"e{ts}{kind}", kind=kind, ts=ts, user_agent=ua, **defaults)  # type: ignore[arg-type]


# --- a person? -------------------------------------------------------------------------------------


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36",
    "python-requests/2.32", "curl/8.5.0", "Go-http-client/2.0", "",
])
def test_bots_crawlers_and_libraries(ua: str) -> None:
    assert is_bot(ua)
    found = classify(event(ua=ua), [], NOW, SETTINGS)
    assert found is not None and found.reason == "bot"


@pytest.mark.parametrize("ua", [CHROME, IPHONE, "Mozilla/5.0 (Linux; Android 14; CUBOT_X30) Chrome/131.0 Mobile",
                                "Mozilla/5.0 (Linux; Android 13; CUBOT P60) Chrome/131.0 Mobile",
                                "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari"])
def test_people(ua: str) -> None:
    assert not is_bot(ua)
    assert classify(event(ua=ua), [], NOW, SETTINGS) is None


def test_prefetch_prerender_and_head_are_not_a_view() -> None:
    for purpose in ("prefetch", "prerender", "preview", "head"):
        found = classify(event(fetch_purpose=purpose), [], NOW, SETTINGS)
        assert found is not None and found.reason == "prefetch"


def test_server_reported_activities_need_no_user_agent_but_must_be_fresh() -> None:
    assert classify(event("webinar_view", source="activity", ua=None), [], NOW, SETTINGS) is None
    old = classify(event("webinar_view", ts=NOW - 2 * DAY, source="activity", ua=None), [], NOW, SETTINGS)
    assert old is not None and old.reason == "stale"


def test_a_click_within_seconds_of_its_delivery_is_a_scanner() -> None:
    delivery = event("email_delivery", ts=NOW - 60_000, source="ses", message_id="m1", ua=None)
    quick = event("email_click", ts=NOW - 60_000 + 4_000, message_id="m1")
    found = classify(quick, [delivery], NOW, SETTINGS)
    assert found is not None and found.reason == "scanner_fast_click"
    late = event("email_click", ts=NOW - 60_000 + 11_000, message_id="m1")
    assert classify(late, [delivery], NOW, SETTINGS) is None, "10 s by default"
    other = event("email_click", ts=NOW - 60_000 + 4_000, message_id="m2")
    assert classify(other, [delivery], NOW, SETTINGS) is None, "another message's delivery does not count"
    assert classify(quick, [delivery], NOW, AlertSettings(scanner_seconds=3)) is None, "configurable"


def test_many_links_within_a_second_is_a_scanner() -> None:
    clicks = [event("email_click", ts=NOW - 5000 + i * 300, url=f"https://www.example.co.jp/{i}") for i in range(3)]
    for click in clicks:
        found = classify(click, clicks, NOW, SETTINGS)
        assert found is not None and found.reason == "scanner_burst"
    two = clicks[:2]
    assert classify(two[0], two, NOW, SETTINGS) is None, "two clicks are a person opening two links"
    spread = [event("email_click", ts=NOW - 5000 + i * 600) for i in range(3)]
    assert classify(spread[1], spread, NOW, SETTINGS) is None, "three clicks over 1.2 s"


# --- the throttle ----------------------------------------------------------------------------------


def test_the_window() -> None:
    assert window_start(NOW, SETTINGS) == NOW - 12 * 3_600_000
    assert window_start(NOW, AlertSettings(window_ms=3_600_000)) == NOW - 3_600_000
    assert alert_id("lead1", NOW) == f"alert:lead1:{NOW}"


# --- the content -------------------------------------------------------------------------------------


def dormant_lead(**kw: object) -> Lead:
    since = NOW - 40 * DAY
    base: dict[str, object] = dict(
        lead_id="lead1", email="t.yamada@sakura-seiki.example.jp", registered_at=NOW - 400 * DAY, name="山田 太郎",
        company="株式会社さくら精機", owner="sato.kenji@example.co.jp",
        segments={"dormant-no-visit": since, "dormant-no-webinar": since - DAY}, dormant_since=since - DAY,
        last={"page_view": NOW - 1000, "email_open": NOW - 50 * DAY, "webinar_view": NOW - 90 * DAY},
        days={"page_view#20260801": 2, "page_view#20261124": 1}, score=12.5)
    base.update(kw)
    return Lead(**base)  # type: ignore[arg-type]


def test_the_alert_says_who_why_and_what_now() -> None:
    lead = dormant_lead()
    came_in = event("email_click", ts=NOW - 120_000, message_id="win-back:0:x", props={"campaign": "win-back"})
    views = [event(ts=NOW - 100_000 + i * 10_000, props={"title": f"ページ{i}"}, url=f"https://www.example.co.jp/{i}")
             for i in range(3)]
    names = {"dormant-no-visit": "登録90日以上・直近30日サイト訪問なし", "dormant-no-webinar": "ウェビナーなし"}
    alert = build_alert(lead, views[0], [came_in, *views], NOW, SETTINGS, "佐藤 健二", names, 12.5, "warm")
    assert (alert.to_address, alert.owner_name) == ("sato.kenji@example.co.jp", "佐藤 健二")
    assert [s[0] for s in alert.segments] == ["dormant-no-webinar", "dormant-no-visit"], "oldest membership first"
    assert alert.last_activity == ("webinar_view", NOW - 90 * DAY), "the last visit-kind activity before going quiet"
    assert [p.title for p in alert.pages] == ["", "ページ0", "ページ1", "ページ2"], "the click's landing, then pages"
    assert alert.brought_by == "メール（win-back）のリンク"
    assert alert.crm_url == "https://crm.example.co.jp/leads/lead1?q=%E6%A0%AA%E5%BC%8F%E4%BC%9A%E7%A4%BE%E3%81%95%E3%81%8F%E3%82%89%E7%B2%BE%E6%A9%9F"
    context = template_context(alert, lead, TOKYO)
    assert context["revisit_at"] == "2026年11月24日 14:28"
    assert context["band"] == "ウォーム" and context["score"] == "12.5"
    assert context["last_activity"] == "2026年8月26日（ウェビナー視聴）"


def test_the_last_activity_before_going_quiet_is_not_hidden_by_the_revisit_of_the_same_kind() -> None:
    # `last["page_view"]` is the revisit itself; the day buckets still know the page view of 1 October.
    lead = dormant_lead(days={"page_view#20261001": 3, "page_view#20261124": 1})
    alert = build_alert(lead, event(), [], NOW, SETTINGS, None, {}, 0.0, None)
    assert template_context(alert, lead, TOKYO)["last_activity"] == "2026年10月1日（ページ閲覧）"


def test_a_lead_without_an_owner_goes_to_the_team() -> None:
    alert = build_alert(dormant_lead(owner=None), event(), [], NOW, SETTINGS, None, {}, 0.0, None)
    assert alert.to_address == "sales@example.co.jp" and alert.owner_email is None
    subject, _, attributes = sns_message(alert, TOKYO)
    assert attributes["owner"]["StringValue"] == "team" and attributes["band"]["StringValue"] == "none"
    assert subject.isascii(), "SNS subjects must be ASCII"


def test_what_brought_them_without_an_email() -> None:
    lead = dormant_lead()
    referred = event(referrer="https://www.google.com/search?q=x")
    assert build_alert(lead, referred, [], NOW, SETTINGS, None, {}, 0, None).brought_by == "参照元 www[.]google[.]com"
    campaign = event(url="https://www.example.co.jp/?utm_campaign=autumn")
    assert build_alert(lead, campaign, [], NOW, SETTINGS, None, {}, 0, None).brought_by == "キャンペーン「autumn」"
    direct = build_alert(lead, event(), [], NOW, SETTINGS, None, {}, 0, None)
    assert direct.brought_by.startswith("直接アクセス")


def test_a_visit_ends_after_30_quiet_minutes() -> None:
    old = event(ts=NOW - 2 * 3_600_000, url="https://www.example.co.jp/old")
    now = event(ts=NOW - 1000)
    assert [p.url for p in visit_pages(now, [old, now], SITES)] == ["https://www.example.co.jp/product/"]


def test_the_chatbot_message() -> None:
    alert = build_alert(dormant_lead(), event(props={"title": "製品紹介"}), [], NOW, SETTINGS, "佐藤 健二",
                        {"dormant-no-visit": "休眠①"}, 3, "cold")
    _, message, attributes = sns_message(alert, TOKYO)
    body = json.loads(message)
    assert body["version"] == "1.0" and body["source"] == "custom"
    assert body["content"]["textType"] == "client-markdown"
    assert "株式会社さくら精機 山田 太郎様" in body["content"]["title"]
    assert "製品紹介" in body["content"]["description"] and "休眠①" in body["content"]["description"]
    assert {k: v["StringValue"] for k, v in attributes.items()} == {
        "owner": "sato.kenji@example.co.jp", "segment": "dormant-no-webinar", "band": "cold"}


def test_crm_url_template() -> None:
    lead = dormant_lead()
    assert crm_url("", lead) == ""
    assert crm_url("https://crm/{email}", lead) == "https://crm/t.yamada%40sakura-seiki.example.jp"
    assert crm_url("https://evil.example\\@crm.example.co.jp/{lead_id}", lead) == "", "reads as one host, opens another"
    assert crm_url("javascript:alert('{lead_id}')", lead) == ""


def test_the_alert_mail_renders_in_japanese_without_marketing_parts() -> None:
    from reawake.mail.config import load_mail_config_file
    from reawake.mail.mime import build_message
    from reawake.mail.transactional import render_transactional
    from tests.conftest import ROOT

    alert = build_alert(dormant_lead(), event(props={"title": "製品紹介 <script>"}), [], NOW, SETTINGS, "佐藤 健二",
                        {}, 3, "cold")
    mail = load_mail_config_file(ROOT / "config" / "mail.yaml")
    rendered = render_transactional("alert-revisit", template_context(alert, dormant_lead(), TOKYO), mail, alert.id)
    assert rendered.subject == "【再訪アラート】株式会社さくら精機 山田 太郎様がサイトに戻ってきました"
    assert rendered.from_addr == "Reawake 再訪アラート <info@example.co.jp>"
    assert "製品紹介 &lt;script&gt;" in rendered.html, "autoescaped"
    assert "配信停止" not in rendered.text and not rendered.unsubscribe_url
    raw = build_message(rendered, alert.to_address, now_ms=NOW).decode()
    assert "List-Unsubscribe" not in raw and f"X-Reawake-Message: {alert.id}" in raw


def test_a_page_a_browser_opens_off_the_sites_is_shown_as_words_never_as_a_link() -> None:
    """Anyone can send a page view for a customer's browser (identify with their email first): the
    salesperson's mail links only to pages a browser opens on the sites."""
    import re

    from reawake.core import urls
    from reawake.mail.config import load_mail_config_file
    from reawake.mail.transactional import render_transactional
    from tests.conftest import ROOT

    lead = dormant_lead()
    ours = event(ts=NOW - 3000, url="https://www.example.co.jp/product/", props={"title": "製品紹介"},
                 referrer="https://evil.example/")
    phishing = event(ts=NOW - 2000, url="https://evil.example\\@www.example.co.jp/login",
                     props={"title": "再ログイン https://evil.example/login"})
    odd = event(ts=NOW - 1000, url="https://www.example.co.jp@evil.example/")
    alert = build_alert(lead, odd, [ours, phishing], NOW, SETTINGS, "佐藤 健二", {}, 3, "cold")
    assert [p.url for p in alert.pages] == ["https://www.example.co.jp/product/", "", ""]
    assert alert.brought_by == "参照元 evil[.]example"
    rendered = render_transactional("alert-revisit", template_context(alert, lead, TOKYO),
                                    load_mail_config_file(ROOT / "config" / "mail.yaml"), alert.id)
    hosts = {urls.host_of(h) for h in re.findall(r'href="([^"]*)"', rendered.html)}
    assert hosts == {"www.example.co.jp", "crm.example.co.jp"}, "positive control: the site's page is a link"
    assert "evil.example" not in rendered.html and "evil.example" not in rendered.text
    assert "evil[.]example" in rendered.text and "リンクなし" in rendered.text, "shown, as words"
    _, message, _ = sns_message(alert, TOKYO)
    assert "evil.example" not in message


def test_the_alert_says_since_when_the_lead_was_quiet_not_when_the_run_caught_it() -> None:
    """The run caught the lead on 10月14日/15日 (its memberships); it went quiet on 8月26日, its last
    webinar view. 「から」 is the second date; the first is shown as the day of the judgement."""
    from reawake.mail.config import load_mail_config_file
    from reawake.mail.transactional import render_transactional
    from tests.conftest import ROOT

    lead = dormant_lead()
    names = {"dormant-no-visit": "登録90日以上・直近30日サイト訪問なし", "dormant-no-webinar": "ウェビナーなし"}
    alert = build_alert(lead, event(), [], NOW, SETTINGS, "佐藤 健二", names, 3, "cold")
    context = template_context(alert, lead, TOKYO)
    assert context["quiet_since"] == "2026年8月26日"
    rendered = render_transactional("alert-revisit", context, load_mail_config_file(ROOT / "config" / "mail.yaml"),
                                    alert.id)
    assert "2026年8月26日から活動がありませんでした。" in rendered.text
    assert "- 登録90日以上・直近30日サイト訪問なし（2026年10月15日の判定で該当）" in rendered.text
    assert "2026年10月15日から" not in rendered.text and "2026年10月14日から" not in rendered.text
    _, message, _ = sns_message(alert, TOKYO, context["quiet_since"])  # type: ignore[arg-type]
    assert "（2026年8月26日から活動なし）" in json.loads(message)["content"]["description"]
    # Never active at all: quiet since it registered.
    silent = dormant_lead(last={"page_view": NOW - 1000}, days={})
    assert template_context(build_alert(silent, event(), [], NOW, SETTINGS, None, {}, 0, None), silent,
                            TOKYO)["quiet_since"] == "2025年10月20日"
