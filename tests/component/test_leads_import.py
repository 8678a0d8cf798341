"""`reawake leads import` on moto: Japanese files from Excel, broken rows, re-imports, merges."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake.tracking import recording
from reawake_tools import cli
from reawake_tools.commands import leads as leads_command
from reawake_tools.commands.leads import ProgressLine
from reawake_tools.imports.csvfile import CsvFileError
from reawake_tools.imports.leads import import_csv_file
from tests.conftest import ROOT, SITE

SAMPLE = ROOT / "config" / "sample" / "leads.csv"
HEADER = "メールアドレス,氏名,会社名,担当営業,登録日,業種\r\n"


def now_ms() -> int:
    return int(time.time() * 1000)


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def item_count() -> int:
    return int(boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"], Select="COUNT")["Count"])


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def lead(email: str) -> Lead:
    found = store().lead_by_email(email)
    assert found is not None, email
    return found


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(leads_command, "use_stack", lambda stack: None)  # the aws fixture set the environment
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_file_creates_every_lead_with_japanese_fields(aws: Any) -> None:
    report = import_csv_file(store(), SAMPLE, get_settings(), now_ms())
    assert (report.created, report.updated, report.rejected) == (40, 0, [])
    taro = lead("t.yamada@sakura-seiki.example.jp")
    assert (taro.name, taro.company, taro.owner) == ("山田 太郎", "株式会社さくら精機", "sato.kenji@example.co.jp")
    assert taro.attrs == {"業種": "製造業", "顧客区分": "見込み客", "従業員規模": "50-299名",
                          "電話番号": "03-5555-0101"}
    # Two spellings of one company share the matching key; each keeps its spelling for display.
    hanako = lead("h.sasaki@sakura-seiki.example.jp")
    assert hanako.company == "(株)さくら精機"
    assert hanako.company_key == taro.company_key == "さくら精機"
    assert len(list(store().scan_leads())) == 40


def test_registered_at_is_read_in_tokyo_time(aws: Any, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "a@example.jp,,,,2025/04/01,\r\nb@example.jp,,,,2025-04-01T09:30:00+09:00,\r\n")
    import_csv_file(store(), path, get_settings(), now_ms())
    assert lead("a@example.jp").registered_at == 1_743_433_200_000  # 2025-04-01 00:00 JST
    assert lead("b@example.jp").registered_at == 1_743_467_400_000


def test_reimporting_the_same_file_changes_nothing(aws: Any) -> None:
    import_csv_file(store(), SAMPLE, get_settings(), now_ms())
    before = {x.lead_id: x for x in store().scan_leads()}
    report = import_csv_file(store(), SAMPLE, get_settings(), now_ms() + 60_000)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 40)
    assert {x.lead_id: x for x in store().scan_leads()} == before  # not even the version moved


def test_update_changes_identity_and_attributes_but_never_activity_or_consent(aws: Any, tmp_path: Path) -> None:
    settings, now = get_settings(), now_ms()
    email = "taro@example.co.jp"
    import_csv_file(
        store(), write(tmp_path, HEADER + f"{email},山田 太郎,旧社名株式会社,,2024/01/10,製造業\r\n"), settings, now
    )
    recording.record(
        store(),
        settings,
        [
            Event(
                id="event-0001",
                kind="page_view",
                ts=now,
                source="browser",
                lead_id=store().lead_id_of(email),
                url=f"{SITE}/pricing/",
            )
        ],
        now,
    )
    recording.unsubscribe(store(), settings, store().lead_id_of(email) or "", now, via="link")
    tracked = lead(email)

    text = HEADER + f"{email.upper()},山田 太郎,㈱新社名,Sato@Example.co.jp,,IT\r\n"
    report = import_csv_file(store(), write(tmp_path, text), settings, now)
    assert (report.created, report.updated) == (0, 1)
    updated = lead(email)
    assert (updated.company, updated.company_key, updated.owner) == ("㈱新社名", "新社名", "sato@example.co.jp")
    assert updated.attrs == {"業種": "IT"}
    assert updated.registered_at == tracked.registered_at  # an empty cell does not clear
    assert (updated.last, updated.days, updated.score) == (tracked.last, tracked.days, tracked.score)
    assert (updated.unsubscribed_at, updated.suppressed) == (tracked.unsubscribed_at, "unsubscribe")
    assert updated.version == tracked.version + 1


def test_a_lead_changed_by_tracking_during_the_import_keeps_its_activity(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, now, email = get_settings(), now_ms(), "hanako@example.jp"
    import_csv_file(store(), write(tmp_path, HEADER + f"{email},花子,,,,\r\n"), settings, now)
    stale = lead(email)
    recording.record(
        store(),
        settings,
        [Event(id="event-0002", kind="page_view", ts=now, source="browser", lead_id=stale.lead_id, url=f"{SITE}/")],
        now,
    )
    # The import read the lead just before the page view landed.
    monkeypatch.setattr(Store, "get_leads", lambda self, ids: {stale.lead_id: stale})
    report = import_csv_file(store(), write(tmp_path, HEADER + f"{email},鈴木 花子,,,,\r\n"), settings, now)
    assert report.updated == 1
    assert lead(email).name == "鈴木 花子"
    assert lead(email).last["page_view"] == now


def test_broken_rows_are_rejected_with_row_and_column_and_store_nothing(aws: Any, tmp_path: Path) -> None:
    text = HEADER + (
        "good1@example.jp,良い 一,,,2025/01/01,\r\n"  # row 2
        "not-an-email,悪い 二,,,,\r\n"  # row 3
        ",名無し,,,,\r\n"  # row 4: no email
        "bad-owner@example.jp,,,営業の佐藤,,\r\n"  # row 5
        "bad-date@example.jp,,,,2025/13/45,\r\n"  # row 6
        "future@example.jp,,,,2099/01/01,\r\n"  # row 7
        f"long@example.jp,{'長' * 201},,,,\r\n"  # row 8
        "extra@example.jp,,,,,,余分な値\r\n"  # row 9
        "good2@example.jp,良い 十,,,,\r\n"  # row 10
    )
    report = import_csv_file(store(), write(tmp_path, text), get_settings(), now_ms())
    assert report.created == 2
    assert [str(issue) for issue in report.rejected] == [
        "行 3: email (メールアドレス): not a valid email address: 「not-an-email」",
        "行 4: email (メールアドレス): 必須です (required)",
        "行 5: owner (担当営業): not a valid email address: 「営業の佐藤」",
        "行 6: registered_at (登録日): not a date/time (use ISO 8601, YYYY/MM/DD or YYYY/MM/DD HH:MM): 「2025/13/45」",
        "行 7: registered_at (登録日): 未来の日付です (the date is in the future): 「2099/01/01」",
        f"行 8: name (氏名): 長すぎます (longer than 200 characters): 「{'長' * 40}… (201 characters)」",
        "行 9: ヘッダーより列が多いか、列名のない列に値があります (a value under no header)",
    ]
    assert report.exit_code == 1
    assert item_count() == 4  # only the two good leads: a profile and an email -> lead item each
    for email in ("bad-owner@example.jp", "bad-date@example.jp", "future@example.jp", "long@example.jp"):
        assert store().lead_by_email(email) is None


def test_wrong_encoding_is_a_file_error_and_stores_nothing(aws: Any, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "a@example.jp,山田,,,,\r\n", encoding="utf-16")
    with pytest.raises(CsvFileError, match=r"leads\.csv.*UTF-16.*Accepted: UTF-8, UTF-8 with BOM, CP932"):
        import_csv_file(store(), path, get_settings(), now_ms())
    assert item_count() == 0


def test_excel_cp932_file_is_read(aws: Any, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "a@example.jp,髙橋 ①,㈱はしご高,,,\r\n", encoding="cp932")
    assert import_csv_file(store(), path, get_settings(), now_ms()).created == 1
    assert (lead("a@example.jp").name, lead("a@example.jp").company_key) == ("髙橋 ①", "はしご高")


def test_same_email_twice_in_a_file_is_one_lead_and_the_later_row_wins(aws: Any, tmp_path: Path) -> None:
    text = HEADER + (
        "taro@example.jp,山田 太郎,サンプル株式会社,,2025/01/01,製造業\r\n"  # row 2
        "other@example.jp,他,,,,\r\n"  # row 3
        "ＴＡＲＯ＠example.jp,山田 太郎,株式会社サンプル商事,,,\r\n"  # row 4: same email in full width
    )
    report = import_csv_file(store(), write(tmp_path, text), get_settings(), now_ms())
    assert report.created == 2
    assert [str(n) for n in report.notes] == [
        "行 2: 行 4 と同じメールアドレスのため統合 (merged into row 4: same email)"
    ]
    taro = lead("taro@example.jp")
    assert (taro.company, taro.attrs) == ("株式会社サンプル商事", {"業種": "製造業"})  # empty cells kept the earlier
    assert taro.version == 1  # written once


def test_split_family_and_given_name_columns_make_the_name(aws: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "Eメール,姓,名\r\na@example.jp,山田,太郎\r\n")
    import_csv_file(store(), path, get_settings(), now_ms())
    assert lead("a@example.jp").name == "山田 太郎"


# --- the command -------------------------------------------------------------------------------


def test_command_prints_rejections_and_summary_and_exits_1(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEADER + "a@example.jp,,,,,\r\nb@,,,,,\r\n")
    code, out, _ = run_cli(monkeypatch, capsys, "leads", "import", str(path))
    assert code == 1
    assert out.splitlines() == [
        "行 3: email (メールアドレス): not a valid email address: 「b@」",
        "作成 1 / 更新 0 / 変更なし 0 / 除外 1  (created 1, updated 0, unchanged 0, rejected 1 of 2 rows)",
    ]


def test_command_exits_0_when_all_rows_import(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "leads", "import", str(SAMPLE))
    assert (code, out.splitlines()[-1].split("  ")[0]) == (0, "作成 40 / 更新 0 / 変更なし 0 / 除外 0")


@pytest.mark.parametrize("content", [None, "氏名\r\n山田\r\n".encode(), b"\xff\xfe\x00\x00binary"])
def test_command_exits_2_when_the_file_cannot_be_read(
    aws: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
) -> None:
    path = tmp_path / "leads.csv"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_cli(monkeypatch, capsys, "leads", "import", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"reawake: {path}: ")
    assert item_count() == 0


def test_progress_is_shown_every_1000_rows_for_large_files() -> None:
    stream = io.StringIO()
    progress = ProgressLine(stream)
    for done in (100, 600, 1100, 1500, 2200, 2500):
        progress(done, 2500)
    assert stream.getvalue().splitlines() == [
        "進捗 1100/2500 行 (progress 1100/2500 rows)",
        "進捗 2200/2500 行 (progress 2200/2500 rows)",
        "進捗 2500/2500 行 (progress 2500/2500 rows)",
    ]


def test_no_progress_for_small_files_without_a_terminal() -> None:
    stream = io.StringIO()
    ProgressLine(stream)(40, 40)
    assert stream.getvalue() == ""
