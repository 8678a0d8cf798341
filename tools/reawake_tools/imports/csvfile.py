"""Reading the CSV files people export from Excel and other tools: pure, no AWS.

- Encodings, tried strictly in this order: UTF-8 with BOM, UTF-8, CP932 (Excel's "CSV").
- Header names in Japanese or English map to canonical columns (``メールアドレス`` -> ``email``),
  compared after NFKC, case folding and removal of spaces, ``_`` and ``-``; other columns are
  kept under their header as written (NFKC, trimmed).
- Row numbers are the ones Excel shows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from reawake.core.normalize import normalize_text

ENCODINGS = ("utf-8-sig", "utf-8", "cp932")
ACCEPTED = "UTF-8, UTF-8 with BOM, CP932 (Shift_JIS, as Excel saves it)"
MAX_COLUMNS = 100
MAX_HEADER_CHARS = 100

LEAD_HEADERS: dict[str, tuple[str, ...]] = {
    "email": ("email", "メールアドレス", "メール", "e-mail", "eメール", "mail", "email address", "mailaddress"),
    "company": ("company", "会社名", "企業名", "会社", "社名", "法人名", "company name", "organization"),
    "name": ("name", "氏名", "名前", "お名前", "担当者名", "full name", "contact name"),
    "last_name": ("last_name", "姓", "family name", "surname"),
    "first_name": ("first_name", "名", "given name"),
    "owner": ("owner", "担当営業", "営業担当", "営業担当者", "担当者メール", "sales owner", "lead owner"),
    "registered_at": (
        "registered_at",
        "登録日",
        "登録日時",
        "作成日",
        "作成日時",
        "created",
        "created at",
        "registered",
        "registration date",
    ),
}
ACTIVITY_HEADERS: dict[str, tuple[str, ...]] = {
    "email": LEAD_HEADERS["email"],
    "type": (
        "type",
        "種別",
        "種類",
        "アクティビティ",
        "アクティビティ種別",
        "activity",
        "activity type",
        "event",
        "イベント種別",
    ),
    "occurred_at": ("occurred_at", "日時", "発生日時", "日付", "date", "datetime", "timestamp", "time"),
    "url": ("url", "ページ", "ページurl", "page", "page url"),
    "id": ("id", "イベントid", "アクティビティid", "activity id", "event id"),
    "topic": ("topic", "トピック", "テーマ"),
    "campaign": ("campaign", "キャンペーン", "utm_campaign"),
}


class CsvFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, missing required column)."""


@dataclass(frozen=True)
class RowIssue:
    """A message about one data row: why it was rejected, or a note (merged into a later row)."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"行 {self.row}: {where}{self.message}"


class RowRejected(Exception):
    def __init__(self, issues: list[RowIssue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


@dataclass
class ImportReport:
    """What an import did, row by row. Lead imports fill created/updated/unchanged; activity
    imports fill recorded/duplicates and count the leads they had to create in ``created``."""

    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: list[RowIssue] = field(default_factory=list)
    notes: list[RowIssue] = field(default_factory=list)  # rows merged into a later one, repeats

    @property
    def rejected_rows(self) -> int:
        return len({issue.row for issue in self.rejected})

    @property
    def exit_code(self) -> int:
        """0 when every row was imported, 1 when some were rejected."""
        return 1 if self.rejected else 0


@dataclass(frozen=True)
class Table:
    """A decoded CSV: canonical columns, the header as written (for messages) and the data rows."""

    file: str
    encoding: str
    columns: list[str]  # canonical name or the header as written; "" for an unnamed column
    written: dict[str, str]  # canonical name -> header as written in the file
    rows: list[tuple[int, dict[str, str]]]  # (Excel row number, column -> trimmed non-empty cell)

    def label(self, column: str) -> str:
        """How a column is named in messages: ``email (メールアドレス)`` when the file says so."""
        written = self.written.get(column)
        return f"{column} ({written})" if written and written != column else column


def header_key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", text).casefold())


def _lookup(headers: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {header_key(alias): canonical for canonical, aliases in headers.items() for alias in aliases}


def decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of the file and the encoding it was read with; CsvFileError when none fits."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise CsvFileError(
            f"{name}: この文字コードは読めません (not a text file in an accepted encoding, e.g. UTF-16 or binary). "
            f"Accepted: {ACCEPTED}."
        )
    for encoding in ENCODINGS:
        if encoding == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            continue
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise CsvFileError(
        f"{name}: 文字コードを判別できません (the file is not in an accepted encoding). Accepted: {ACCEPTED}."
    )


def parse(data: bytes, name: str, headers: Mapping[str, tuple[str, ...]], required: tuple[str, ...]) -> Table:
    """Decode and split a CSV file; file-level problems raise CsvFileError naming the file."""
    text, encoding = decode(data, name)
    lookup = _lookup(headers)
    try:
        records, starts = _records(text)
    except csv.Error as exc:
        raise CsvFileError(f"{name}: CSV として読めません (not a valid CSV file: {exc}).") from exc
    _check_quotes(text, records, starts, name)
    header_index = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if header_index is None:
        raise CsvFileError(f"{name}: ファイルが空です (the file is empty; a header row is needed).")
    header = records[header_index]
    if len(header) > MAX_COLUMNS:
        raise CsvFileError(f"{name}: 列が多すぎます (more than {MAX_COLUMNS} columns).")
    columns: list[str] = []
    written: dict[str, str] = {}
    for raw in header:
        as_written = normalize_text(raw.replace("\ufeff", ""))
        column = lookup.get(header_key(as_written), as_written)
        if len(column) > MAX_HEADER_CHARS:
            raise CsvFileError(f"{name}: 列名が長すぎます (header longer than {MAX_HEADER_CHARS} characters).")
        if column and column in written:
            raise CsvFileError(
                f"{name}: 列「{written[column]}」と「{as_written}」が重複しています (two columns mean {column})."
            )
        if column:
            written[column] = as_written
        columns.append(column)
    missing = [c for c in required if c not in written]
    if missing:
        raise CsvFileError(
            f"{name}: 必須の列がありません (required column missing: {', '.join(missing)}). "
            f"Header read ({encoding}): {', '.join(c for c in columns if c)}"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for offset, record in enumerate(records[header_index + 1 :]):
        cells = {col: cell.strip() for col, cell in zip(columns, record, strict=False) if cell.strip()}
        extra = [c for c in record[len(columns) :] if c.strip()]
        if extra:
            cells[""] = extra[0]
        if cells:  # blank lines are skipped
            rows.append((header_index + offset + 2, cells))
    return Table(name, encoding, columns, written, rows)


def _records(text: str) -> tuple[list[list[str]], list[int]]:
    """The records and the physical line each starts on (a quoted cell may hold line breaks)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    starts: list[int] = []
    line = 1
    for record in reader:
        records.append(record)
        starts.append(line)
        line = reader.line_num + 1
    return records, starts


def _check_quotes(text: str, records: list[list[str]], starts: list[int], name: str) -> None:
    """An unclosed quote makes the rest of the file one cell (Python's csv reads on to the end):
    name the row where it opened instead of reporting that cell as too long."""
    if not records or text.count('"') % 2 == 0:
        return
    last = records[-1]
    if any("\n" in cell or "\r" in cell for cell in last):
        row, line = len(records), starts[-1]
        raise CsvFileError(
            f"{name}: 行 {row} (line {line}): 引用符 (\") が閉じられていません。"
            f"ここからファイルの終わりまでが 1 つの値になります "
            f"(an unclosed quote in row {row}, line {line}: the rest of the file would be one value)."
        )


def read_file(path: Path | str, headers: Mapping[str, tuple[str, ...]], required: tuple[str, ...]) -> Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvFileError(f"{path}: ファイルを開けません (cannot read the file: {exc.strerror}).") from exc
    return parse(data, str(path), headers, required)


# --- cell values ------------------------------------------------------------------------------

_LOCAL_DATE = re.compile(r"^(\d{4})[/\-.](\d{1,2})[/\-.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$")
_JA_UNITS = str.maketrans({"年": "/", "月": "/", "日": " ", "時": ":", "分": ":", "秒": " "})


def parse_datetime(text: str, tz: ZoneInfo) -> int:
    """Epoch ms of an ISO 8601 time (with or without offset), ``YYYY/MM/DD[ HH:MM[:SS]]``,
    ``YYYY-MM-DD`` or ``YYYY年MM月DD日``; a time without offset is read in ``tz``."""
    value = normalize_text(text)
    match = _LOCAL_DATE.match(normalize_text(value.translate(_JA_UNITS)).rstrip(":"))
    try:
        if match:
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
            moment = datetime(y, mo, d, h, mi, s)  # the zone is applied below
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("not a date/time (use ISO 8601, YYYY/MM/DD or YYYY/MM/DD HH:MM)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


def row_issues(error: ValidationError, row: int, table: Table) -> list[RowIssue]:
    """A pydantic error as row issues: each names the column and says what is wrong."""
    issues = []
    for detail in error.errors():
        loc = detail["loc"]
        # Errors in kept columns (attrs / props) name the column itself.
        column = str(loc[1] if len(loc) > 1 and loc[0] in ("attrs", "props") else loc[0]) if loc else None
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "missing":
            message = "必須です (required)"
        elif detail["type"] == "string_too_long":
            message = f"長すぎます (longer than {detail.get('ctx', {}).get('max_length')} characters)"
        if detail["type"] != "missing" and isinstance(detail.get("input"), str | int | float):
            message += f": {shown_value(detail['input'])}"
        issues.append(RowIssue(row, table.label(column) if column else None, message))
    return issues


def shown_value(value: object, limit: int = 40) -> str:
    """The cell as the user typed it, quoted, cut to ``limit`` characters (a 10,000-character cell
    must not flood the report)."""
    text = str(value)
    cut = text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"
    return "「" + cut.replace("\r", "\\r").replace("\n", "\\n") + "」"


def too_many_cells(row: int, cells: Mapping[str, str]) -> RowIssue | None:
    if "" in cells:
        return RowIssue(row, None, "ヘッダーより列が多いか、列名のない列に値があります (a value under no header)")
    return None
