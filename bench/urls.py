"""The browser-grade allow-list (reawake.core.urls, ada-url) per URL vs. the urllib check it replaced."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from bench.common import SITE, median, report
from reawake.core import urls
from tests.url_corpus import tricky_urls

RUNS = 5
COUNT = 20_000


def urllib_origin(url: str) -> str:
    """The allow-list before issue 9 (for the same-run baseline only: it misreads backslashes)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{parts.hostname if port in (None, default) else f'{parts.hostname}:{port}'}"


def _time(check: object, inputs: list[str]) -> float:
    start = time.perf_counter()
    for url in inputs:
        check(url)  # type: ignore[operator]
    return time.perf_counter() - start


def run() -> dict[str, float]:
    inputs = tricky_urls(COUNT // 2, seed=1) + [f"{SITE}/product/{i}?utm_campaign=x" for i in range(COUNT // 2)]
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(RUNS):
        ours.append(_time(lambda u: urls.is_site_url(u, (SITE,)), inputs))
        baseline.append(_time(lambda u: urllib_origin(u) == SITE, inputs))
    o, b = median(ours) / COUNT * 1e6, median(baseline) / COUNT * 1e6
    report(
        "URL allow-list: reawake.core.urls (WHATWG, ada-url) vs. the urllib check it replaced",
        [
            ("URLs", f"{COUNT} (half tricky, half plain page URLs), {RUNS} runs, median"),
            ("reawake.core.urls.is_site_url", f"{o:.1f} µs per URL"),
            ("urllib.parse.urlsplit check", f"{b:.1f} µs per URL"),
            ("ratio", f"{o / b:.2f}"),
        ],
    )
    return {"ratio": o / b}


if __name__ == "__main__":
    run()
