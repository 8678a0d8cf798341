"""Is it a person? The machines that look like visitors, as the revisit alerts and the report's
counters recognize them (one set of rules, so an alert and a counted return agree).

- prefetch, prerender, preview and HEAD requests (``Sec-Purpose`` / ``Purpose``);
- known bots, crawlers, link expanders, HTTP libraries and headless browsers (User-Agent), and no
  User-Agent at all — only for sources that send a browser's (activities and SES feedback do not);
- mail-security scanners: a click within ``scanner_seconds`` of its mail's delivery, or one of
  ``burst_clicks`` clicks within ``burst_ms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from reawake.core.events import Event

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


def is_bot(user_agent: str | None, pattern: re.Pattern[str] = DEFAULT_BOT_PATTERN) -> bool:
    """True for a known bot, crawler, library or headless browser, and for no User-Agent at all."""
    return not user_agent or not user_agent.strip() or pattern.search(user_agent) is not None


def is_prefetch(event: Event) -> bool:
    return (event.fetch_purpose or "").lower() in NOT_A_VIEW


def is_bot_event(event: Event, pattern: re.Pattern[str] = DEFAULT_BOT_PATTERN) -> bool:
    return event.source in BROWSER_SOURCES and is_bot(event.user_agent, pattern)


def is_machine(event: Event) -> bool:
    """Prefetch, a bot or a library."""
    return is_prefetch(event) or is_bot_event(event)


@dataclass(frozen=True)
class ScannerRules:
    scanner_seconds: float = 10.0
    burst_clicks: int = 3
    burst_ms: int = 1000


def fast_click_seconds(click_ts: int, delivered_ts: int | None, rules: ScannerRules) -> float | None:
    """The seconds from delivery to a click too fast for a person (a scanner), or None."""
    if delivered_ts is None:
        return None
    seconds = (click_ts - delivered_ts) / 1000
    return seconds if 0 <= seconds < rules.scanner_seconds else None


def burst_size(click_ts: int, click_times: Iterable[int], rules: ScannerRules) -> int | None:
    """The clicks of a scanner's burst this click is in (``burst_clicks`` or more within any stretch
    of ``burst_ms`` that starts at one of ``click_times`` and holds it), or None. ``click_times``:
    the clicks remembered around it (the alert passes this one too; the report's memory of clicks
    is one minute)."""
    times = sorted(set(click_times))
    for start in times:
        if start <= click_ts < start + rules.burst_ms:
            count = sum(1 for t in times if start <= t < start + rules.burst_ms)
            if count >= rules.burst_clicks:
                return count
    return None
