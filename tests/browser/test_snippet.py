"""t.js on the demo site, in headless Chromium: page views, SPA routes, identity stitching, opt-out."""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from reawake.core.aws import secret_json
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.normalize import normalize_email
from reawake.core.store import Store
from reawake.core.tokens import Purpose, Token, sign
from reawake.tracking.recording import ensure_lead
from reawake_tools.timeline import build_timeline
from tests.browser.conftest import Tab

pytestmark = pytest.mark.browser

SNIPPET_READY = "window.reawake && window.reawake.loaded === true"


def path_of(event: Event) -> str:
    parts = urlsplit(event.url or "")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_views(events: list[Event]) -> list[Event]:
    return sorted((e for e in events if e.kind == "page_view"), key=lambda e: e.ts)


def browser_events(store: Store, visitor_id: str) -> list[Event]:
    """What one browser sent: its anonymous events, and, once linked, its events on the lead."""
    events = store.visitor_events(visitor_id)
    lead_id = store.get_visitor_lead(visitor_id)
    if lead_id:
        events += [e for e in store.lead_events(lead_id) if e.visitor_id == visitor_id]
    return events


def visitor_id(tab: Tab) -> str:
    cookie = tab.wait(lambda: tab.cookie("rw_vid"), what="the rw_vid cookie")
    return str(cookie["value"])


def sample_lead(store: Store) -> Lead:
    """A sample lead that no browser has been linked to yet (one is created if the samples are missing)."""
    for lead in store.scan_leads():
        if not store.lead_visitors(lead.lead_id) and lead.suppressed is None:
            return lead
    return ensure_lead(
        store,
        "taro.suzuki@example.co.jp",
        int(time.time() * 1000) - 200 * 86_400_000,
        source="import",
        name="鈴木 太郎",
        company="株式会社サンプル商事",
    )


def test_the_top_page_sends_a_page_view_with_its_topic(tab: Tab, local_stack: Any) -> None:
    site, store = local_stack.site_url, local_stack.store()
    tab.page.goto(site + "/")

    vid = visitor_id(tab)
    cookie = tab.cookie("rw_vid")
    assert cookie is not None and re.fullmatch(r"[0-9a-f]{32}", vid)
    assert cookie["domain"] == urlsplit(site).hostname, "first-party: set on the site's own host"
    assert (cookie["path"], cookie["sameSite"], cookie["secure"]) == ("/", "Lax", False)  # Secure on https only
    assert cookie["expires"] - time.time() > 390 * 86_400, "asked for two years; Chromium caps it at 400 days"

    (view,) = tab.wait(lambda: page_views(browser_events(store, vid)), what="the page view to be stored")
    assert view.url == site + "/"
    assert view.props["topic"] == "top"
    assert "サンプル株式会社" in view.props["title"]
    assert view.lead_id is None, "an unknown visitor stays anonymous"

    posts = tab.api_posts("/v1/events")
    assert posts, "the page view went to POST /v1/events"
    assert all(p.headers["content-type"].startswith("text/plain") for p in posts), "a simple request: no preflight"

    tab.page.reload()
    assert visitor_id(tab) == vid, "the same browser keeps its id"
    tab.wait(lambda: len(page_views(browser_events(store, vid))) == 2, what="the second page view")


def test_a_tracked_email_link_identifies_the_visitor_and_keeps_the_earlier_visit(tab: Tab, local_stack: Any) -> None:
    site, store = local_stack.site_url, local_stack.store()
    lead = sample_lead(store)

    tab.page.goto(site + "/product/")  # anonymous, before the email
    vid = visitor_id(tab)
    tab.wait(lambda: page_views(store.visitor_events(vid)), what="the anonymous page view")
    assert store.get_visitor_lead(vid) is None

    key = str(secret_json(os.environ["SIGNING_SECRET_ARN"])["signing_key"]).encode()
    target = f"{site}/seminar/?utm_campaign=autumn#archive"
    token = sign(Token(Purpose.CLICK, lead.lead_id, local_stack.now_s() + 3600, target, "autumn:1"), key)
    tab.page.goto(f"{local_stack.api_url}/v1/click/{token}")

    tab.page.wait_for_function("!location.search.includes('rw_id')")
    assert tab.page.url == target, "the identify token left the address bar; other parameters and the hash stay"

    def stitched() -> list[Any] | None:
        timeline = build_timeline(store, lead.email)
        assert timeline is not None
        views = {
            path_of(e.event): e for e in timeline.entries if e.event.kind == "page_view" and e.event.visitor_id == vid
        }
        return views if {"/product/", "/seminar/?utm_campaign=autumn"} <= set(views) else None

    views = tab.wait(stitched, what="both page views of this browser on the lead's timeline")
    assert store.get_visitor_lead(vid) == lead.lead_id
    earlier, landing = views["/product/"], views["/seminar/?utm_campaign=autumn"]
    assert earlier.before_identification and earlier.event.ts < landing.event.ts
    assert landing.event.lead_id == lead.lead_id and landing.event.props["topic"] == "seminar"
    assert all("rw_id" not in (e.event.url or "") for e in views.values()), "the token is never stored"

    timeline = build_timeline(store, lead.email)
    assert timeline is not None and "email_click" in {e.event.kind for e in timeline.entries}
    fresh = store.get_lead(lead.lead_id)
    assert fresh is not None
    assert {"page_view@topic:product", "page_view@topic:seminar"} <= set(fresh.last), "both visits count for the lead"


def test_each_spa_route_change_is_a_page_view(tab: Tab, local_stack: Any) -> None:
    site, store, page = local_stack.site_url, local_stack.store(), tab.page
    page.goto(site + "/app/")
    vid = visitor_id(tab)
    page.wait_for_function(SNIPPET_READY)

    page.click("text=かんたん診断")  # history.pushState
    page.evaluate("history.replaceState({tab: 2}, '', location.pathname + '?tab=2')")  # same path: no view
    page.click("text=料金シミュレーション")
    page.go_back()  # popstate
    assert urlsplit(page.url).path == "/app/check"

    views = tab.wait(
        lambda: (v := page_views(browser_events(store, vid))) and len(v) >= 4 and v, what="four page views"
    )
    assert [(path_of(v), v.props["topic"]) for v in views] == [
        ("/app/", "dx"),
        ("/app/check", "dx"),
        ("/app/pricing", "pricing"),
        ("/app/check?tab=2", "dx"),
    ]
    assert views[2].props["title"].startswith("料金シミュレーション"), "the title the app set for the route"
    assert views[2].referrer == site + "/app/check", "the previous route is the referrer"


def gpc(tab: Tab, site: str) -> None:
    tab.context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")


def site_flag(tab: Tab, site: str) -> None:
    tab.context.add_init_script("window.reawakeOptOut = true")


def optout_cookie(tab: Tab, site: str) -> None:
    tab.context.add_cookies([{"name": "rw_optout", "value": "1", "url": site}])


def not_opted_out(tab: Tab, site: str) -> None:
    """The positive control: the same steps without an opt-out send the view and the identify."""


@pytest.mark.parametrize("opt_out", [not_opted_out, gpc, site_flag, optout_cookie],
                         ids=["control-not-opted-out", "gpc", "site-flag", "rw_optout-cookie"])
def test_an_opted_out_visitor_sends_nothing(tab: Tab, local_stack: Any, opt_out: Any) -> None:
    site, store, page = local_stack.site_url, local_stack.store(), tab.page
    opt_out(tab, site)
    email = f"optout-{uuid.uuid4().hex[:8]}@example.co.jp"

    page.goto(site + "/seminar/")
    page.wait_for_function(SNIPPET_READY)
    page.click("#watch")  # a webinar view the snippet must not send
    # Awaited: the identify request (if the snippet makes one) has completed when this returns.
    page.evaluate("async e => { await reawake.identify(e, {consent: true}); reawake.flush(); }", email)
    page.goto(site + "/product/")  # leaving the page would flush anything queued
    page.wait_for_function(SNIPPET_READY)
    page.evaluate("reawake.flush()")

    if opt_out is not_opted_out:
        tab.wait(lambda: tab.api_posts("/v1/identify") and len(tab.api_posts("/v1/events")) >= 2,
                 "the identify and the page views of a visitor who did not opt out")
        assert tab.wait(lambda: store.lead_by_email(normalize_email(email)), "the lead the identify created")
        return
    assert tab.api_posts("/v1/events") == [] and tab.api_posts("/v1/identify") == []
    assert tab.cookie("rw_vid") is None, "no visitor cookie either"
    assert store.lead_by_email(normalize_email(email)) is None


def test_the_footer_link_opts_the_browser_out(tab: Tab, local_stack: Any) -> None:
    site, page = local_stack.site_url, tab.page
    with page.expect_request(lambda r: r.url == f"{local_stack.api_url}/v1/events"):
        page.goto(site + "/")  # measured until the visitor opts out
    page.click("text=このブラウザでのアクセス計測を停止する")

    optout = tab.cookie("rw_optout")
    assert optout is not None and optout["value"] == "1"
    assert tab.cookie("rw_vid") is None, "the visitor id is forgotten"
    sent = len(tab.api_posts("/v1/events"))
    page.goto(site + "/product/")
    page.wait_for_function(SNIPPET_READY)
    page.evaluate("reawake.track('custom', {step: 'after opt-out'}); reawake.flush()")
    page.goto(site + "/")
    assert len(tab.api_posts("/v1/events")) == sent


def test_the_contact_form_identifies_by_email_with_consent(tab: Tab, local_stack: Any) -> None:
    site, store, page = local_stack.site_url, local_stack.store(), tab.page
    email = f"Hanako.Yamada+{uuid.uuid4().hex[:8]}@Example.co.jp"
    page.goto(site + "/contact/?subject=seminar-2026-06")
    vid = visitor_id(tab)
    page.fill("input[name=company]", "株式会社やまだ商店")
    page.fill("input[name=name]", "山田 花子")
    page.fill("input[name=email]", email)
    page.fill("textarea[name=message]", "セミナーの資料を送ってください。")
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_selector("#thanks", state="visible")

    lead = tab.wait(
        lambda: (lead_id := store.lead_id_of(normalize_email(email))) is not None
        and store.get_visitor_lead(vid) == lead_id and store.get_lead(lead_id),
        what="the browser linked to the new lead",
    )
    assert (lead.name, lead.company, lead.source) == ("山田 花子", "株式会社やまだ商店", "form")
    assert lead.consent is not None and lead.consent["marketing_email"] is True
    assert "同意します" in lead.consent["text"]
    assert lead.consent["source_url"] == site + "/contact/?subject=seminar-2026-06"

    def submitted() -> list[Event] | None:
        timeline = build_timeline(store, lead.email)
        assert timeline is not None
        events = [e.event for e in timeline.entries]
        return events if {"page_view", "form_submit"} <= {e.kind for e in events} else None

    events = tab.wait(submitted, what="the page view and the form submit on the lead's timeline")
    form = next(e for e in events if e.kind == "form_submit")
    assert form.props == {"form": "contact", "subject": "seminar-2026-06"}
