"""`reawake leads import FILE.csv` and `reawake leads timeline EMAIL`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from reawake_tools.imports.csvfile import ImportReport

FORMATS = """\
CSV: UTF-8, UTF-8 (BOM 付き) または CP932 (Excel)。1 行目はヘッダー。
  email (メールアドレス, 必須), name (氏名), company (会社名), owner (担当営業: 営業のメールアドレス),
  registered_at (登録日: ISO 8601, YYYY/MM/DD, YYYY/MM/DD HH:MM; 時差なしは Asia/Tokyo)。
  その他の列はリードの属性 (attrs) としてそのまま保存され、セグメント条件で使えます。
  同じメールアドレスの行は 1 件にまとめ (後の行が優先)、空のセルは既存の値を消しません。
exit status: 0 = all rows imported, 1 = some rows rejected, 2 = the file could not be read."""

PROGRESS_QUIET_ROWS = 1000  # without a terminal, progress is shown only for files larger than this


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "leads",
        help="import leads from CSV; show a lead's timeline",
        description="リード (見込み客) の取り込みと履歴表示.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="create or update leads from a CSV file (dedupe by email)",
        description="リードを CSV から作成・更新します (メールアドレスで重複排除).",
        epilog=FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    add_stack_option(imp)
    imp.set_defaults(func=run_import)
    timeline = actions.add_parser(
        "timeline",
        help="a lead's profile and events, oldest first (Asia/Tokyo)",
        description="リードのプロフィールと行動履歴 (識別前のブラウザの行動を含む) を時系列で表示します.",
        epilog="exit status: 0 = shown, 2 = no such lead, not an email address, or no stack.",
    )
    timeline.add_argument("email")
    timeline.add_argument("--limit", type=int, default=200, help="show only the latest N events (default 200, 0: all)")
    add_stack_option(timeline)
    timeline.set_defaults(func=run_timeline)


def add_stack_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", metavar="NAME", help="a deployed stack's name (default: the running local stack)")


def use_stack(stack: str | None) -> None:
    """Point this process at the local stack (or the named deployed one); settings and clients
    are built again from the new environment."""
    from reawake.core import aws
    from reawake.core.settings import get_settings
    from reawake_tools.local.connect import use_target

    use_target(stack)
    get_settings.cache_clear()
    aws.clear()


def now_ms() -> int:
    return int(time.time() * 1000)


class ProgressLine:
    """Progress on stderr: rewritten in place on a terminal, one line per 1000 rows otherwise
    (and only for files of more than 1000 rows)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            self.stream.write(f"\r進捗 {done}/{total} 行 ({done * 100 // max(total, 1)}%)")
            if done >= total:
                self.stream.write("\n")
        elif total > PROGRESS_QUIET_ROWS and (done - self.shown >= 1000 or done >= total):
            self.stream.write(f"進捗 {done}/{total} 行 (progress {done}/{total} rows)\n")
        else:
            return
        self.shown = done
        self.stream.flush()


def print_report(report: ImportReport, summary: str, out: TextIO | None = None) -> None:
    """Each rejected row with its reason, the notes, then one summary line."""
    out = out or sys.stdout
    for issue in report.rejected:
        out.write(f"{issue}\n")
    for note in report.notes:
        out.write(f"{note}\n")
    out.write(f"{summary}\n")


def fail(message: str) -> int:
    sys.stderr.write(f"reawake: {message}\n")
    return 2


def stopped(exc: Exception) -> int:
    """AWS failed in the middle of an import: the rows written so far are whole, and running the
    import again is safe (it creates nothing twice)."""
    return fail(f"取り込みを中断しました (import stopped: {exc}). 再実行しても重複しません (re-running it is safe).")


def run_import(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.imports.csvfile import CsvFileError
    from reawake_tools.imports.leads import import_csv_file
    from reawake_tools.local.connect import NotRunning

    try:
        use_stack(args.stack)
        settings = get_settings()
        report = import_csv_file(Store(settings.table_name), args.file, settings, now_ms(), ProgressLine())
    except (CsvFileError, NotRunning) as exc:
        return fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        return stopped(exc)
    print_report(
        report,
        f"作成 {report.created} / 更新 {report.updated} / 変更なし {report.unchanged} / 除外 {report.rejected_rows}"
        f"  (created {report.created}, updated {report.updated}, unchanged {report.unchanged},"
        f" rejected {report.rejected_rows} of {report.rows} rows)",
    )
    return report.exit_code


def run_timeline(args: argparse.Namespace) -> int:
    from reawake.core.normalize import normalize_email
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.local.connect import NotRunning
    from reawake_tools.timeline import build_timeline, render

    try:
        email = normalize_email(args.email)
    except ValueError as exc:
        return fail(f"{args.email}: {exc}")
    try:
        use_stack(args.stack)
    except NotRunning as exc:
        return fail(str(exc))
    settings = get_settings()
    timeline = build_timeline(Store(settings.table_name), email)
    if timeline is None:
        return fail(f"no lead with the address {email} / このメールアドレスのリードはありません")
    print(render(timeline, settings.time_zone, args.limit or None))
    return 0
