"""`reawake activities import FILE.csv`: history (page views, webinars, purchases, sales talks...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reawake_tools.commands import leads
from reawake_tools.commands.leads import ProgressLine, add_stack_option, fail, now_ms, print_report, stopped

FORMATS = """\
CSV: UTF-8, UTF-8 (BOM 付き) または CP932 (Excel)。1 行目はヘッダー。
  email (メールアドレス, 必須), type (種別, 必須: page_view, webinar_view, webinar_application, purchase,
  sales_conversation, sales_followup, product_use, conversion, ... または 購入, 商談 などの日本語名),
  occurred_at (日時, 必須: ISO 8601, または YYYY/MM/DD HH:MM を Asia/Tokyo として), url (任意)。
  topic, campaign とその他の列はイベントのプロパティとして保存されます。
  同じ内容の行は一度だけ記録され、同じファイルを再度取り込んでも重複しません。
  未登録のメールアドレスはリードとして作成されます (登録日は最初のアクティビティ)。
exit status: 0 = all rows imported, 1 = some rows rejected, 2 = the file could not be read."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "activities", help="import activity history from CSV", description="行動履歴 (アクティビティ) の取り込み."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="record activities from a CSV file (re-import stores nothing twice)",
        description="アクティビティを CSV から記録します.",
        epilog=FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    add_stack_option(imp)
    imp.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from reawake.core.config_store import ConfigStore
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.imports.activities import import_activities_file
    from reawake_tools.imports.csvfile import CsvFileError
    from reawake_tools.local.connect import NotRunning

    try:
        leads.use_stack(args.stack)  # looked up at call time (tests replace it)
        settings = get_settings()
        scoring = ConfigStore(settings.config_bucket).scoring()  # the one the functions use
        report = import_activities_file(
            Store(settings.table_name), args.file, settings, now_ms(), ProgressLine(), scoring
        )
    except (CsvFileError, NotRunning) as exc:
        return fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        return stopped(exc)
    print_report(
        report,
        f"記録 {report.recorded} / 既存・重複 {report.duplicates} / 除外 {report.rejected_rows}"
        f" / 新規リード {report.created}  (recorded {report.recorded}, duplicates {report.duplicates},"
        f" rejected {report.rejected_rows} of {report.rows} rows, leads created {report.created})",
    )
    return report.exit_code
