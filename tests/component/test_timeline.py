"""`reawake leads timeline EMAIL`: a lead's history including what its browser did before it was
identified, oldest first, in Tokyo time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake_tools import cli
from reawake_tools.commands import leads as leads_command
from reawake_tools.imports.activities import import_activities_file
from reawake_tools.imports.leads import import_csv_file
from reawake_tools.timeline import build_timeline, render
from tests.conftest import SITE

Api = Callable[..., tuple[int, dict[str, str], bytes]]
TOKYO = ZoneInfo("Asia/Tokyo")
EMAIL = "taro@example.co.jp"
VISITOR = "visitor-timeline-01"


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def tokyo(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, TOKYO).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def history(api: Api, tmp_path: Path) -> dict[str, int]:
    """Imported lead and purchase, an anonymous visit, identification, then a known visit."""
    now = int(time.time() * 1000)
    times = {"anonymous": now - 2 * 3_600_000, "known": now - 3_600_000}
    settings = get_settings()
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text(
        f"メールアドレス,氏名,会社名,担当営業,業種\n{EMAIL},山田 太郎,株式会社サンプル,sato@example.co.jp,製造業\n",
        encoding="utf-8",
    )
    import_csv_file(store(), leads_csv, settings, now)
    activities_csv = tmp_path / "activities.csv"
    activities_csv.write_text(f"email,type,occurred_at,内容\n{EMAIL},購入,2026/09/15 10:30,年間ライセンス\n")
    import_activities_file(store(), activities_csv, settings, now)

    def view(n: int, ts: int, path: str) -> None:
        event = {"id": f"timeline-event-{n}", "type": "page_view", "ts": ts, "visitor_id": VISITOR, "url": SITE + path}
        assert api("POST", "/v1/events", [event])[0] == 202

    view(1, times["anonymous"], "/pricing/")
    assert api("POST", "/v1/identify", {"visitor_id": VISITOR, "email": EMAIL})[0] == 200
    view(2, times["known"], "/case-studies/")
    return times


def test_timeline_merges_lead_and_browser_history_oldest_first(history: dict[str, int]) -> None:
    timeline = build_timeline(store(), EMAIL)
    assert timeline is not None
    assert timeline.visitors == [VISITOR]
    assert [(e.event.kind, e.before_identification) for e in timeline.entries] == [
        ("purchase", False),
        ("page_view", True),  # the browser's visit before the lead was known
        ("page_view", False),
    ]
    assert [e.event.url for e in timeline.entries[1:]] == [f"{SITE}/pricing/", f"{SITE}/case-studies/"]


def test_timeline_text_shows_profile_and_tokyo_times(history: dict[str, int]) -> None:
    timeline = build_timeline(store(), EMAIL)
    assert timeline is not None
    text = render(timeline, TOKYO)
    lines = text.splitlines()
    assert lines[0] == "山田 太郎 <taro@example.co.jp> 株式会社サンプル"
    assert "担当 (owner) sato@example.co.jp" in lines[1]
    assert "属性 (attributes): 業種=製造業" in text
    events = lines[lines.index("") + 2 :]
    assert events[0].startswith("2026-09-15 10:30   購入 (purchase)")
    assert "内容=年間ライセンス" in events[0]
    assert events[1].startswith(tokyo(history["anonymous"]) + "   ページ閲覧 (page_view)")
    assert f"[識別前 before identification, browser {VISITOR}]" in events[1]
    assert events[2].startswith(tokyo(history["known"]))
    assert "識別前" not in events[2]


def test_limit_shows_the_latest_events(history: dict[str, int]) -> None:
    timeline = build_timeline(store(), EMAIL)
    assert timeline is not None
    text = render(timeline, TOKYO, limit=1)
    assert "showing the latest 1 of 3 events" in text
    assert "購入" not in text


def test_command_prints_the_timeline(
    history: dict[str, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(leads_command, "use_stack", lambda stack: None)
    assert cli.main(["leads", "timeline", "ＴＡＲＯ@example.co.jp"]) == 0  # typed in full width
    out = capsys.readouterr().out
    assert out.startswith("山田 太郎 <taro@example.co.jp>")
    assert "日時 (Asia/Tokyo)" in out


def test_command_for_unknown_or_invalid_email(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(leads_command, "use_stack", lambda stack: None)
    assert cli.main(["leads", "timeline", "nobody@example.jp"]) == 2  # an unknown name (README: exit status)
    assert "no lead with the address nobody@example.jp" in capsys.readouterr().err
    assert cli.main(["leads", "timeline", "not-an-email"]) == 2
    assert "not a valid email address" in capsys.readouterr().err
