"""Reading CSV files as people export them: encodings, Japanese headers, dates, row numbers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake_tools.imports.csvfile import (
    ACTIVITY_HEADERS,
    LEAD_HEADERS,
    CsvFileError,
    decode,
    parse,
    parse_datetime,
    shown_value,
)

TOKYO = ZoneInfo("Asia/Tokyo")
TEXT = "メールアドレス,会社名,氏名,業種\r\ntaro@example.co.jp,株式会社サンプル,山田 太郎,製造業\r\n"


def leads(data: bytes) -> list[tuple[int, dict[str, str]]]:
    return parse(data, "leads.csv", LEAD_HEADERS, ("email",)).rows


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("cp932"), "cp932"),
    ],
)
def test_accepted_encodings_read_the_same(data: bytes, encoding: str) -> None:
    table = parse(data, "leads.csv", LEAD_HEADERS, ("email",))
    assert table.encoding == encoding
    assert table.rows == [
        (2, {"email": "taro@example.co.jp", "company": "株式会社サンプル", "name": "山田 太郎", "業種": "製造業"})
    ]


def test_cp932_only_characters_are_read() -> None:
    # ① and ㈱ exist in CP932 (Windows) but not in plain Shift_JIS.
    data = "email,会社名\r\nhanako@example.jp,㈱サンプル①\r\n".encode("cp932")
    assert leads(data)[0][1]["company"] == "㈱サンプル①"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-16"),  # Excel's "Unicode text"
        TEXT.encode("utf-16-le"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        TEXT.encode("euc-jp"),
    ],
)
def test_other_encodings_are_refused_naming_the_file_and_what_is_accepted(data: bytes) -> None:
    with pytest.raises(CsvFileError) as error:
        decode(data, "leads.csv")
    assert "leads.csv" in str(error.value)
    assert "CP932" in str(error.value) and "UTF-8" in str(error.value)


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("メールアドレス", "email"),
        ("Ｅメール", "email"),
        ("E-mail", "email"),
        (" EMAIL ", "email"),
        ("企業名", "company"),
        ("Company Name", "company"),
        ("担当者名", "name"),
        ("Full Name", "name"),
        ("営業担当", "owner"),
        ("Sales Owner", "owner"),
        ("登録日時", "registered_at"),
        ("Registered_At", "registered_at"),
    ],
)
def test_lead_headers_map_in_japanese_and_english(header: str, canonical: str) -> None:
    table = parse(f"{header},email2\r\nx,y\r\n".encode(), "f.csv", LEAD_HEADERS, ())
    assert table.columns[0] == canonical


@pytest.mark.parametrize(
    ("header", "canonical"),
    [("種別", "type"), ("Activity", "type"), ("発生日時", "occurred_at"), ("date", "occurred_at"), ("ページ", "url")],
)
def test_activity_headers_map(header: str, canonical: str) -> None:
    assert parse(f"{header}\r\nx\r\n".encode(), "f.csv", ACTIVITY_HEADERS, ()).columns == [canonical]


def test_unknown_columns_are_kept_as_written_and_nfkc_trimmed() -> None:
    table = parse("email, 顧客区分 ,ＲＡＮＫ\r\na@example.jp,既存,A\r\n".encode(), "f.csv", LEAD_HEADERS, ())
    assert table.rows[0][1] == {"email": "a@example.jp", "顧客区分": "既存", "RANK": "A"}


def test_row_numbers_are_as_excel_shows_them() -> None:
    data = 'email,備考\r\na@example.jp,"二行の\r\nメモ"\r\n\r\n,\r\nb@example.jp,\r\n'.encode()
    rows = leads(data)
    # Row 2 spans two lines inside quotes; the blank row 3 and the empty row 4 are skipped.
    assert [(n, cells["email"]) for n, cells in rows] == [(2, "a@example.jp"), (5, "b@example.jp")]
    assert rows[0][1]["備考"] == "二行の\r\nメモ"


def test_an_unclosed_quote_is_named_with_its_row_not_as_a_long_name() -> None:
    data = 'email,氏名\r\na@example.jp,山田\r\nb@example.jp,"佐藤\r\nc@example.jp,鈴木\r\n'.encode()
    with pytest.raises(CsvFileError, match=r"行 3 \(line 3\): 引用符 \(\"\) が閉じられていません.*unclosed quote"):
        leads(data)
    # The positive control: the same quote closed is a name with a line break, and no error.
    closed = 'email,氏名\r\na@example.jp,山田\r\nb@example.jp,"佐藤\r\n"\r\nc@example.jp,鈴木\r\n'.encode()
    assert [n for n, _ in leads(closed)] == [2, 3, 4]


def test_a_rejected_value_is_shown_cut_to_a_readable_length() -> None:
    assert shown_value("not-an-email") == "「not-an-email」"
    assert shown_value("長" * 201) == f"「{'長' * 40}… (201 characters)」"
    assert shown_value("a\nb") == "「a\\nb」"


def test_missing_required_column_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="required column missing: email"):
        leads("氏名,会社名\r\n山田,サンプル\r\n".encode())


def test_two_columns_meaning_the_same_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="two columns mean email"):
        leads("メール,E-mail\r\na@example.jp,b@example.jp\r\n".encode())


def test_empty_file_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="empty"):
        leads(b"\r\n\r\n")


def test_a_value_beyond_the_header_is_kept_for_the_row_check() -> None:
    rows = leads(b"email\r\na@example.jp,surprise\r\nb@example.jp,\r\n")
    assert rows[0][1][""] == "surprise"
    assert "" not in rows[1][1]


def at(text: str) -> datetime:
    return datetime.fromtimestamp(parse_datetime(text, TOKYO) / 1000, TOKYO)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T10:05:00+09:00",
        "2026-11-01T01:05:00Z",
        "2026-11-01T10:05",
        "2026-11-01 10:05:00",
        "2026/11/01 10:05",
        "2026/11/1 10:05:00",
        "２０２６／１１／０１　１０：０５",
        "2026年11月1日 10時5分",
    ],
)
def test_date_times_without_offset_are_read_in_the_configured_zone(text: str) -> None:
    assert at(text) == datetime(2026, 11, 1, 10, 5, tzinfo=TOKYO)


@pytest.mark.parametrize("text", ["2026/11/01", "2026-11-01", "2026年11月1日"])
def test_dates_are_midnight_in_the_configured_zone(text: str) -> None:
    assert at(text) == datetime(2026, 11, 1, tzinfo=TOKYO)


def test_other_zones_are_honoured() -> None:
    ts = parse_datetime("2026/11/01 10:00", ZoneInfo("UTC"))
    assert ts == parse_datetime("2026-11-01T19:00+09:00", TOKYO)


@pytest.mark.parametrize("text", ["yesterday", "2026/13/01", "2026/02/30", "2026/11/01 25:00", "01/11/2026"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a date/time"):
        parse_datetime(text, TOKYO)
