"""Browser tests: Debian's headless Chromium, driven by Playwright, against the local stack.

Nothing is downloaded: Playwright only drives /usr/bin/chromium (``make chromium`` installs it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    timeout: float = 10.0,
    what: str = "the condition",
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """Poll probe until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        pause(delay)
        delay = min(delay * 1.5, 0.5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class Tab:
    """A fresh browser profile (no cookies) with one page, and what it said and sent."""

    context: Any
    page: Any
    api_url: str
    errors: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def api_posts(self, path: str) -> list[Any]:
        """Requests the page sent to the API's path (sendBeacon and fetch alike)."""
        return [r for r in self.requests if r.method == "POST" and r.url == self.api_url + path]

    def wait(self, probe: Callable[[], T], what: str, timeout: float = 10.0) -> T:
        """wait_for, pausing in the browser so its events (requests, console) keep arriving."""
        return wait_for(probe, timeout, what, lambda seconds: self.page.wait_for_timeout(seconds * 1000))

    def cookie(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.context.cookies() if c["name"] == name), None)


@pytest.fixture
def tab(browser: Any, local_stack: Any) -> Iterator[Tab]:
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    tab = Tab(context, page, local_stack.api_url)
    page.on("console", lambda m: tab.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
    context.on("request", lambda request: tab.requests.append(request))
    yield tab
    context.close()
    assert not tab.errors, "the pages and the snippet must not log JavaScript errors"
