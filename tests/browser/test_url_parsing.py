"""The URL corpus and the allow-list against a real browser: headless Chromium's ``new URL()``.

tests/url_corpus.py states the host a WHATWG parser gives each tricky URL; here Chromium confirms it,
and agrees with our allow-list (reawake.core.urls) on thousands of generated URLs. No stack is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reawake.core import urls
from tests.url_corpus import CORPUS, SITE, tricky_urls

pytestmark = pytest.mark.browser

#: Where Chromium departs from the URL Standard (and so from Firefox, Safari and ada): it keeps a
#: space in a host, percent-encoded, where the standard fails the parse. Off the site either way.
CHROMIUM_DEVIATIONS = {"https://www.example.co.jp /"}

PARSE = """([inputs, site]) => inputs.map((s) => {
  try {
    const u = new URL(s);
    return {ok: true, host: u.hostname, scheme: u.protocol, href: u.href,
            onSite: u.origin === site && !u.username && !u.password};
  } catch (e) { return {ok: false, host: null, scheme: null, href: null, onSite: false}; }
})"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    opened.goto("about:blank")
    yield opened
    context.close()


def chromium(page: Any, inputs: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(PARSE, [inputs, SITE])
    return result


def test_chromium_gives_the_corpus_hosts_and_verdicts(page: Any) -> None:
    seen = chromium(page, [url for url, _, _ in CORPUS])
    wrong = []
    for (url, host, on_site), got in zip(CORPUS, seen, strict=True):
        if got["onSite"] is not on_site or (url not in CHROMIUM_DEVIATIONS and got["host"] != host):
            wrong.append(f"{url!r}: corpus {host!r}/{on_site}, Chromium {got['host']!r}/{got['onSite']}")
    assert wrong == []


def test_the_allow_list_agrees_with_chromium_on_generated_urls(page: Any) -> None:
    inputs = tricky_urls(3000, seed=20261201)
    seen = chromium(page, inputs)
    verdicts = [urls.is_site_url(url, (SITE,)) for url in inputs]
    disagree = [f"{url!r}: ours {mine}, Chromium {got['onSite']}"
                for url, mine, got in zip(inputs, verdicts, seen, strict=True) if mine is not got["onSite"]]
    print(f"\n{len(inputs)} generated URLs, {sum(verdicts)} on the site, {len(disagree)} disagreements")
    assert disagree == []
    assert 50 < sum(verdicts) < len(inputs) - 50, "positive control: both verdicts are well represented"


def test_links_we_emit_are_the_href_chromium_serializes(page: Any) -> None:
    inputs = [u for u in tricky_urls(3000, seed=7) if urls.web_url(u)]
    seen = chromium(page, inputs)
    differ = []
    for url, got in zip(inputs, seen, strict=True):
        ours = urls.web_url(url)
        assert ours is not None
        if url.strip() not in CHROMIUM_DEVIATIONS and (ours.href, ours.host) != (got["href"], got["host"]):
            differ.append(f"{url!r}: ours {ours.href!r}, Chromium {got['href']!r}")
    assert differ == [] and len(inputs) > 500
