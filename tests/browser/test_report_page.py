"""The HTML report in headless Chromium: it opens from a file with no console error and no request
anywhere, and its charts carry Japanese labels (a screenshot is kept for a person to look at)."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.leads import Lead
from reawake.reports import html
from reawake.reports.crosstab import cross_tab
from reawake.reports.model import build_report
from tests import reportdata

TOKYO = ZoneInfo("Asia/Tokyo")


def test_the_report_opens_offline_and_shows_its_charts_in_japanese(browser: Any, tmp_path: Path) -> None:
    first = reportdata.LAST - timedelta(days=29)
    report = build_report(reportdata.counters(), reportdata.DEFINITIONS, reportdata.SEQUENCES, first,
                          reportdata.LAST, 1_796_000_000_000, reportdata.OWNERS)
    leads = [Lead(lead_id=f"l{n}", email=f"l{n}@example.jp", registered_at=0, attrs={"業種": ["製造業", "小売"][n % 2]},
                  segments={"dormant-no-visit": 0}) for n in range(30)]
    table = cross_tab(leads, [(d.id, d.name) for d in reportdata.DEFINITIONS], "業種", None, 0)
    page_file = tmp_path / "index.html"
    page_file.write_text(html.render(report, TOKYO, table), encoding="utf-8")

    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="ja-JP")
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    assert errors == []
    assert requests == [page_file.as_uri()]  # nothing fetched from anywhere else (no CDN, no font, no image)
    assert page.locator("svg").count() >= len(reportdata.DEFINITIONS) + len(reportdata.SEQUENCES) + 1
    legend = page.locator("svg text", has_text="メンバー数（左軸）")
    assert legend.count() == len(reportdata.DEFINITIONS)
    box = page.locator("svg").first.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    text = page.locator("body").inner_text()
    labels = ("定義ごとの推移", "ファネル", "ホールドアウト比較", "効果あり", "3営業日以内のフォロー", "クロス集計")
    for label in (*labels, "製造業"):
        assert label in text
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])
    context.close()
