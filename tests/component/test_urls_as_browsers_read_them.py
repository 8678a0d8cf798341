"""URLs read the way browsers read them, through the real handlers on moto (issue 9, item 3).

``https://evil.example\\@www.example.co.jp/`` is on www.example.co.jp for urllib and on evil.example
for every browser. Sent as a page view for a customer's browser it must never become a link in the
salesperson's alert; as a click target it must never be redirected to; in a template it is refused
by the check and goes out as a dead link; the demo site never redirects off itself.
"""

from __future__ import annotations

import email
import http.client
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ada_url
import pytest

from reawake.core import urls
from reawake.core.tokens import Purpose, verify
from tests.component.test_alert_function import CHROME, OWNER, dormant_lead, env, handler, mail_to, stream
from tests.component.test_track_api import Api, click_token, error_of, item_count, key, new_lead, store
from tests.conftest import ROOT, SITE
from tests.url_corpus import CORPUS

ALERT_FIXTURES = (env, handler, stream)  # the alert function's fixtures, used by name below
EVIL_PAGE = "https://evil.example\\@www.example.co.jp/login"
#: Corpus URLs a non-browser parser (today's allow-list) read as on the site, that a browser does not.
MISREAD = [u for u, _, on_site in CORPUS if not on_site and urls.naive_host(u) == "www.example.co.jp"]
ON_SITE_HOSTS = {"www.example.co.jp"}


def page_view(n: int, url: str, visitor: str = "attacker-0001") -> dict[str, Any]:
    return {"id": f"evil{n:08d}", "type": "page_view", "ts": int(time.time() * 1000), "visitor_id": visitor,
            "url": url, "props": {"title": "再ログインしてください https://evil.example/login"}}


def parts(message: email.message.Message) -> tuple[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode("utf-8")
    return found["text/plain"], found["text/html"]


def test_misread_urls_exist_in_the_corpus() -> None:
    assert "https://evil.example\\@www.example.co.jp/" in MISREAD and len(MISREAD) >= 4


# --- a page view for a customer's browser -> the salesperson's alert -------------------------------


def test_the_backslash_url_sent_as_a_customers_page_view_never_becomes_a_link_in_the_alert(
    api: Api, request: pytest.FixtureRequest,
) -> None:
    from reawake.core.aws import secret_json

    alert_stream, alert_handler = request.getfixturevalue("stream"), request.getfixturevalue("handler")

    lead = dormant_lead("t.yamada@sakura-seiki.example.jp")
    browser = {"origin": SITE, "user-agent": CHROME}
    # An attacker only needs the customer's address: the form identifies their browser as the lead.
    assert api("POST", "/v1/identify", {"visitor_id": "attacker-0001", "email": lead.email}, browser)[0] == 200
    before = item_count()
    status, _, body = api("POST", "/v1/events", [page_view(1, EVIL_PAGE)], browser)
    assert status == 400 and (error_of(body)["code"], error_of(body)["field"]) == ("unknown_site", "events.0.url")
    assert item_count() == before, "nothing stored"
    status, _, _ = api("GET", f"/v1/pixel.gif?vid=attacker-0001&url={quote(EVIL_PAGE, safe='')}", b"", browser)
    assert status == 200 and item_count() == before, "the pixel records nothing either"
    # The same URL still arrives by a trusted route (activities take any absolute URL: history from
    # another tool), next to a real page of the site: the mail must hold its own line.
    api_key = str(secret_json(os.environ["API_KEY_SECRET_ARN"])["api_key"])
    activity = {"email": lead.email, "type": "page_view", "occurred_at": int(time.time() * 1000) - 2000,
                "url": EVIL_PAGE, "props": {"title": "再ログイン https://evil.example/login"}}
    assert api("POST", "/v1/activities", {"activities": [activity]}, {"x-api-key": api_key})[0] == 202
    assert api("POST", "/v1/events", [page_view(2, SITE + "/product/")], browser)[0] == 202

    assert alert_handler(alert_stream()) == {"batchItemFailures": []}
    (message,) = mail_to(OWNER)
    text, html = parts(message)
    links = re.findall(r'href="([^"]*)"', html)
    assert f"{SITE}/product/" in links, "positive control: the site's page is a link"
    assert {urls.host_of(link) for link in links} <= ON_SITE_HOSTS | {"crm.example.co.jp"}
    assert "evil.example" not in html and "evil.example" not in text
    assert "evil[.]example" in text, "shown to the salesperson as words"


@pytest.mark.parametrize(("origin", "status"), [
    (SITE, 202),
    ("https://evil.example\\@www.example.co.jp", 403),
    ("https://www.example.co.jp@evil.example", 403),
    ("https://www.example.co.jp.", 403),
    ("null", 403),
])
def test_the_origin_check_reads_the_header_as_a_browser_would(api: Api, origin: str, status: int) -> None:
    assert api("POST", "/v1/events", [page_view(1, SITE + "/")], {"origin": origin})[0] == status


# --- click targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", MISREAD)
@pytest.mark.parametrize("expires_in", [3600, -10], ids=["valid", "expired"])
def test_a_signed_click_target_a_browser_reads_off_site_never_redirects_there(
    api: Api, target: str, expires_in: int,
) -> None:
    lead_id = new_lead(api)
    before = item_count()
    status, headers, _ = api("GET", f"/v1/click/{click_token(lead_id, target, expires_in)}")
    assert status == 302 and headers["location"] == SITE + "/", "the site's home page"
    assert item_count() == before, "no click recorded for a link we would not follow"


def test_a_click_target_is_redirected_to_as_the_browser_reads_it(api: Api) -> None:
    lead_id = new_lead(api)
    status, headers, _ = api("GET", f"/v1/click/{click_token(lead_id, 'https://ｗｗｗ.example.co.jp/x/%2e%2e/seminar/#a')}")
    assert status == 302
    location = urls.parse(headers["location"])
    assert location is not None and not urls.reads_differently(headers["location"])
    assert (location.origin, location.path, location.fragment) == (SITE, "/seminar/", "a")
    assert location.query.startswith("rw_id=")
    assert [e.url for e in store().lead_events(lead_id)] == [f"{SITE}/seminar/#a"]


# --- template links ---------------------------------------------------------------------------------


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Path, Path]:
    templates, config = tmp_path / "templates", tmp_path / "config"
    shutil.copytree(ROOT / "templates", templates)
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("sample"))
    page = templates / "case-study.html.j2"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", f'<p><a href="{EVIL_PAGE}">マイページにログイン</a></p></body>'), encoding="utf-8")
    return templates, config


def test_a_template_link_a_browser_opens_elsewhere_is_refused_by_the_check(
    copied: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
) -> None:
    from reawake_tools.cli import main

    templates, config = copied
    code = main(["templates", "check", "case-study", "--dir", str(templates), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 1
    assert "case-study.html.j2: link " in err and "browsers open this link on evil.example" in err


def test_a_template_link_a_browser_opens_elsewhere_goes_out_dead_and_every_click_stays_on_the_site(
    api: Api, copied: tuple[Path, Path],
) -> None:
    """A template uploaded before this check (or a link from a lead's attribute) still never links off
    the site: the rule is '#', as for javascript: links."""
    from reawake.core.leads import Lead
    from reawake.core.settings import get_settings
    from reawake.mail.context import build_context
    from reawake.mail.links import LinkPolicy, LinkSigner
    from reawake.mail.render import render_email
    from reawake.mail.templates import DirectoryTemplateStore

    templates, config = copied
    address = "t.yamada@sakura-seiki.example.jp"
    lead_id = store().claim_lead_id(address)
    lead = Lead(lead_id=lead_id, email=address, registered_at=1_767_657_600_000, name="山田 太郎")
    store().save_lead(lead, None)
    directory = DirectoryTemplateStore(templates, config)
    mail = directory.mail_config()
    now = int(time.time() * 1000)
    context = build_context(lead, directory.owners(), mail.sender, "s", "case-study", now, get_settings().time_zone)
    signer = LinkSigner("https://api.example.com", key(), lead.lead_id, "s:0:x", now, LinkPolicy.current(mail))
    rendered = render_email("case-study", context, directory, signer, mail)

    assert '<a href="#">マイページにログイン</a>' in rendered.html
    clicks = re.findall(r'href="https://api\.example\.com(/v1/click/[^"]+)"', rendered.html)
    assert clicks, "positive control: the template's own links are tracked"
    for click in clicks:
        target = verify(click.rsplit("/", 1)[1], key(), Purpose.CLICK, now // 1000).target or ""
        assert urls.is_site_url(target, (SITE,)) and not urls.reads_differently(target)
        status, headers, _ = api("GET", click)
        assert status == 302 and urls.host_of(headers["location"]) in ON_SITE_HOSTS
    assert "evil.example" not in rendered.html and "evil.example" not in rendered.text


# --- the demo site ----------------------------------------------------------------------------------


@pytest.fixture
def demo_site() -> Iterator[str]:
    from reawake_tools.local.site import SiteServer

    server = SiteServer("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/product", "//evil.example/../product", "/%5Cevil.example/../product",
                                  "/%2F%2Fevil.example/%2e%2e/product", "/\\evil.example/../product"])
def test_the_demo_site_never_redirects_off_itself(demo_site: str, path: str) -> None:
    host, port = demo_site.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 301
    location = response.getheader("location") or ""
    assert location == "/product/", location
    resolved = urls.parse(ada_url.join_url(demo_site + "/", location))  # where a browser goes
    assert resolved is not None and resolved.origin == demo_site
