"""URLs read the way browsers read them: the corpus of tricky URLs (tests/url_corpus.py, checked against
headless Chromium by tests/browser/test_url_parsing.py), and properties over generated URLs."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import ada_url
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reawake.core import urls
from reawake.core.events import Event
from reawake.core.settings import Settings
from tests import url_corpus
from tests.url_corpus import CORPUS, SITE, SITE_HOST

STACK = Settings(table_name="t", config_bucket="b", signing_secret_arn="", api_key_secret_arn="",
                 site_origins=(SITE,), time_zone=ZoneInfo("Asia/Tokyo"), event_retention_days=400)


@pytest.mark.parametrize(("url", "host", "on_site"), CORPUS, ids=[repr(c[0])[:60] for c in CORPUS])
def test_the_allow_list_reads_each_tricky_url_as_a_browser_does(url: str, host: str | None, on_site: bool) -> None:
    assert STACK.is_site_url(url) is on_site
    parsed = urls.parse(url)
    assert (parsed.host if parsed else None) == host


def browser_opens_on_site(url: str) -> bool:
    """The oracle, straight from the WHATWG parser's attributes: the origin a browser would load, and
    no user name or password."""
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return False
    return bool(parsed.origin == SITE and not parsed.username and not parsed.password)


def generated() -> st.SearchStrategy[str]:
    pieces = (url_corpus.LEAD, url_corpus.SCHEMES, url_corpus.AFTER_SCHEME, url_corpus.USERINFO, url_corpus.HOSTS,
              url_corpus.PORTS, url_corpus.TAILS, url_corpus.TRAIL)
    built = st.tuples(*(st.sampled_from(p) for p in pieces)).map("".join)
    return built | st.text(max_size=40).map(lambda tail: SITE + tail) | st.text(max_size=60)


@settings(max_examples=600, deadline=None)
@given(generated())
@example("https://evil.example\\@www.example.co.jp/")
@example("https://www.example.co.jp\\@evil.example/")
def test_the_allow_list_agrees_with_the_whatwg_parser(url: str) -> None:
    assert STACK.is_site_url(url) is browser_opens_on_site(url)


@settings(max_examples=600, deadline=None)
@given(generated())
def test_a_link_we_emit_reads_the_same_to_any_parser(url: str) -> None:
    """What we emit is the browser's serialization: parsing it again changes nothing, and a parser
    that is not a browser (urllib, a mail filter, a person) reads the same host in it."""
    parsed = urls.site_url(url, (SITE,))
    if parsed is None:
        return
    again = urls.parse(parsed.href)
    assert again is not None and again.href == parsed.href and again.host == SITE_HOST
    assert not urls.reads_differently(parsed.href)
    assert urls.naive_host(parsed.href) == SITE_HOST


def test_a_page_path_is_the_one_the_browser_requests() -> None:
    event = Event(id="e", kind="page_view", ts=0, source="browser", url=f"{SITE}/seminar/%2e%2e/pricing?utm_campaign=x")
    assert event.path == "/pricing", "not counted under /seminar/"
    assert event.site == SITE and event.campaign == "x"
    assert Event(id="e", kind="page_view", ts=0, source="browser", url="https://ｗｗｗ.example.co.jp/").site == SITE


@pytest.mark.parametrize(("header", "allowed"), [
    (SITE, True),
    (SITE + "/", True),
    ("HTTPS://WWW.EXAMPLE.CO.JP", True),
    ("https://www.example.co.jp:443", True),
    ("null", False),
    ("https://evil.example\\@www.example.co.jp", False),
    ("https://www.example.co.jp@evil.example", False),
    ("https://user@www.example.co.jp", False),
    ("https://www.example.co.jp/path", False),
    ("https://www.example.co.jp.", False),
    ("http://www.example.co.jp", False),
    ("https://www.example.co.jp:8443", False),
])
def test_an_origin_header(header: str, allowed: bool) -> None:
    assert urls.is_site_origin(header, (SITE,)) is allowed


def test_configured_origins_and_hosts_are_stored_as_browsers_serialize_them() -> None:
    assert urls.normalize_origin(" https://ｗｗｗ.Example.co.jp:443/ ") == SITE
    assert urls.normalize_origin("https://例え.jp") == "https://xn--r8jz45g.jp"
    assert urls.normalize_origin("not a url") == "not a url", "kept, so it never matches"
    assert urls.normalize_host("ＺＯＯＭ.us.") == "zoom.us"
    assert urls.normalize_host("例え.jp") == "xn--r8jz45g.jp"
    assert [urls.normalize_host(h) for h in ("zoom.us/x", "a@zoom.us", "zoom.us:443", "zoom .us", "")] == [""] * 5


def test_the_identify_parameter_goes_into_the_query_before_the_fragment() -> None:
    def added(url: str) -> str:
        parsed = urls.site_url(url, (SITE,))
        assert parsed is not None
        return urls.with_query_param(parsed, "rw_id", "a.b-c_d")

    assert added(f"{SITE}/a?x=1#top") == f"{SITE}/a?x=1&rw_id=a.b-c_d#top"
    assert added(f"{SITE}") == f"{SITE}/?rw_id=a.b-c_d"
    assert added("https://www.example.co.jp\\@evil.example/") == f"{SITE}/@evil.example/?rw_id=a.b-c_d"


@pytest.mark.parametrize(("text", "shown"), [
    ("ログイン https://evil.example/login はこちら", "ログイン hxxps[:]//evil[.]example/login はこちら"),
    ("see www.evil.example now", "see www[.]evil[.]example now"),
    ("https:evil.example", "https:evil[.]example"),
    ("https://evil.example\\@www.example.co.jp/", "hxxps[:]//evil[.]example\\@www[.]example[.]co[.]jp/"),
    ("サンプル株式会社 | DX Cloud 3.0 (v1.2.3)", "サンプル株式会社 | DX Cloud 3.0 (v1.2.3)"),
    (f"{SITE}/seminar/ と www.example.co.jp", f"{SITE}/seminar/ と www.example.co.jp"),
])
def test_defanged_words_cannot_become_links(text: str, shown: str) -> None:
    assert urls.defang(text, (SITE,)) == shown


def test_a_url_on_the_site_that_reads_as_another_host_is_defanged_too() -> None:
    assert urls.defang("https://www.example.co.jp\\@evil.example/ 例え.jp 東京.大阪", (SITE,)) == (
        "hxxps[:]//www[.]example[.]co[.]jp\\@evil[.]example/ 例え[.]jp 東京.大阪")
