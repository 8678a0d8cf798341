"""`reawake activities import` on moto: history from another tool, per-row report, no duplicates."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from reawake.core.leads import Lead
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake_tools import cli
from reawake_tools.commands import leads as leads_command
from reawake_tools.imports.activities import import_activities_file
from reawake_tools.imports.csvfile import CsvFileError
from reawake_tools.imports.leads import import_csv_file
from tests.conftest import ROOT, SITE

SAMPLES = ROOT / "config" / "sample"
TOKYO = ZoneInfo("Asia/Tokyo")
HEADER = "メールアドレス,種別,日時,URL,トピック,内容\r\n"


def now_ms() -> int:
    return int(time.time() * 1000)


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def event_count() -> int:
    items = boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"])["Items"]
    return sum(1 for i in items if i["sk"]["S"].startswith("EV#"))


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "activities.csv"
    path.write_bytes(text.encode(encoding))
    return path


def lead(email: str) -> Lead:
    found = store().lead_by_email(email)
    assert found is not None, email
    return found


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=TOKYO).timestamp() * 1000)


def test_sample_history_is_recorded_on_the_sample_leads(aws: Any) -> None:
    settings, now = get_settings(), now_ms()
    import_csv_file(store(), SAMPLES / "leads.csv", settings, now)
    report = import_activities_file(store(), SAMPLES / "activities.csv", settings, now)
    assert (report.rejected, report.duplicates, report.created) == ([], 0, 0)  # every email is a sample lead
    assert report.recorded == report.rows == event_count()
    taro = lead("t.yamada@sakura-seiki.example.jp")
    assert taro.name == "山田 太郎"  # the profile is kept; only aggregates grow
    assert taro.last["page_view"] > 0


def test_reimporting_the_same_file_stores_nothing_twice(aws: Any) -> None:
    settings, now = get_settings(), now_ms()
    path = SAMPLES / "activities.csv"
    import_activities_file(store(), path, settings, now)
    leads_before = {x.lead_id: x for x in store().scan_leads()}
    report = import_activities_file(store(), path, settings, now + 60_000)
    assert (report.recorded, report.duplicates, report.created) == (0, report.rows, 0)
    assert event_count() == report.rows
    assert {x.lead_id: x for x in store().scan_leads()} == leads_before  # aggregates not counted twice


def test_history_updates_aggregates_and_creates_unknown_leads(aws: Any, tmp_path: Path) -> None:
    text = HEADER + (
        f"taro@example.jp,page_view,2026/10/01 10:00,{SITE}/pricing/,pricing,\r\n"
        "taro@example.jp,購入,2026/09/15,,,スタンダードプラン\r\n"
        "taro@example.jp,webinar_application,2026-08-01T19:30:00+09:00,,,DX 入門\r\n"
    )
    report = import_activities_file(store(), write(tmp_path, text), get_settings(), now_ms())
    assert (report.recorded, report.created) == (3, 1)
    taro = lead("taro@example.jp")
    assert taro.registered_at == ms(2026, 8, 1, 19, 30)  # registered at its first activity
    assert taro.source == "activity"
    assert taro.last["page_view"] == ms(2026, 10, 1, 10, 0)  # read as Asia/Tokyo
    assert taro.last["page_view@topic:pricing"] == ms(2026, 10, 1, 10, 0)
    assert taro.last[f"page_view@site:{SITE}"] == ms(2026, 10, 1, 10, 0)
    assert taro.last["purchase"] == ms(2026, 9, 15)
    events = {e.kind: e for e in store().lead_events(taro.lead_id)}
    assert events["purchase"].props == {"内容": "スタンダードプラン"}  # other columns kept as properties
    assert events["page_view"].props == {"topic": "pricing"}
    assert events["page_view"].source == "activity"


def test_broken_rows_are_rejected_with_row_and_column_and_store_nothing(aws: Any, tmp_path: Path) -> None:
    text = HEADER + (
        "good@example.jp,page_view,2026/10/01 10:00,,,\r\n"  # row 2
        "bad-email,page_view,2026/10/01 10:00,,,\r\n"  # row 3
        "typo@example.jp,pageview!,2026/10/01 10:00,,,\r\n"  # row 4
        "when@example.jp,purchase,昨日,,,\r\n"  # row 5
        "future@example.jp,purchase,2099/01/01 00:00,,,\r\n"  # row 6
        "old@example.jp,purchase,1999/12/31 23:59,,,\r\n"  # row 7
        "url@example.jp,page_view,2026/10/01 10:00,javascript:alert(1),,\r\n"  # row 8
        "missing@example.jp,,2026/10/01 10:00,,,\r\n"  # row 9
        "good@example.jp,purchase,2026/10/02 10:00,,,\r\n"  # row 10
    )
    report = import_activities_file(store(), write(tmp_path, text), get_settings(), now_ms())
    rejected = [str(issue) for issue in report.rejected]
    assert rejected[0] == "行 3: email (メールアドレス): not a valid email address: 「bad-email」"
    assert rejected[1].startswith("行 4: type (種別): 未知の種別です (unknown type; use one of: conversion, custom,")
    assert rejected[1].endswith(": 「pageview!」")
    assert rejected[2:] == [
        "行 5: occurred_at (日時): not a date/time (use ISO 8601, YYYY/MM/DD or YYYY/MM/DD HH:MM): 「昨日」",
        "行 6: occurred_at (日時): the timestamp is in the future: 「2099/01/01 00:00」",
        "行 7: occurred_at (日時): the timestamp is too far in the past: 「1999/12/31 23:59」",
        "行 8: url (URL): must be an absolute http(s) URL: 「javascript:alert(1)」",
        "行 9: type (種別): 必須です (required)",
    ]
    assert (report.recorded, report.created, report.exit_code) == (2, 1, 1)
    assert event_count() == 2
    assert [x.email for x in store().scan_leads()] == ["good@example.jp"]  # no lead made by a rejected row


def test_wrong_encoding_and_missing_columns_are_file_errors(aws: Any, tmp_path: Path) -> None:
    with pytest.raises(CsvFileError, match="not a text file in an accepted encoding"):
        import_activities_file(store(), write(tmp_path, HEADER, encoding="utf-16"), get_settings(), now_ms())
    with pytest.raises(CsvFileError, match="required column missing: occurred_at"):
        import_activities_file(
            store(), write(tmp_path, "email,type\r\na@example.jp,purchase\r\n"), get_settings(), now_ms()
        )
    assert event_count() == 0


def test_repeated_row_in_a_file_is_stored_once_and_reported(aws: Any, tmp_path: Path) -> None:
    row = "a@example.jp,商談,2026/10/01 10:00,,,初回ヒアリング\r\n"
    report = import_activities_file(store(), write(tmp_path, HEADER + row + row, "cp932"), get_settings(), now_ms())
    assert (report.recorded, report.duplicates) == (1, 1)
    assert [str(n) for n in report.notes] == ["行 3: 行 2 と同じアクティビティ (same activity as row 2)"]
    assert [e.kind for e in store().lead_events(store().lead_id_of("a@example.jp") or "")] == ["sales_conversation"]


def test_same_time_activities_that_differ_in_another_column_are_both_kept(aws: Any, tmp_path: Path) -> None:
    text = HEADER + "a@example.jp,購入,2026/10/01,,,年間ライセンス\r\na@example.jp,購入,2026/10/01,,,導入支援パック\r\n"
    path = write(tmp_path, text)
    assert import_activities_file(store(), path, get_settings(), now_ms()).recorded == 2
    assert import_activities_file(store(), path, get_settings(), now_ms()).duplicates == 2


def test_a_long_history_for_one_lead_is_stored_whole(aws: Any, tmp_path: Path) -> None:
    rows = "".join(f"a@example.jp,product_use,2026/0{1 + d // 28}/{1 + d % 28:02d} 09:00,,,\r\n" for d in range(150))
    report = import_activities_file(store(), write(tmp_path, HEADER + rows), get_settings(), now_ms())
    assert report.recorded == 150  # more than one transaction's worth
    assert len(store().lead_events(store().lead_id_of("a@example.jp") or "")) == 150
    assert lead("a@example.jp").last["product_use"] == ms(2026, 6, 10, 9, 0)


def test_command_prints_rejections_and_summary(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(leads_command, "use_stack", lambda stack: None)
    text = HEADER + "a@example.jp,purchase,2026/10/01 10:00,,,\r\na@example.jp,purchase,いつか,,,\r\n"
    code = cli.main(["activities", "import", str(write(tmp_path, text))])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == ("行 3: occurred_at (日時): not a date/time (use ISO 8601, YYYY/MM/DD or YYYY/MM/DD HH:MM): "
                      "「いつか」")
    assert out[1].startswith("記録 1 / 既存・重複 0 / 除外 1 / 新規リード 1")
    assert cli.main(["activities", "import", str(tmp_path / "missing.csv")]) == 2
