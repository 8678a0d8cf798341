"""`reawake migrate lead-ids`: give leads whose id was derived from their email a random id."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reawake_tools.commands import STACK_HELP, connect, guarded


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate", help="one-off data migrations", description="データ移行 (一度だけ実行するもの)."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ids = actions.add_parser(
        "lead-ids",
        help="replace lead ids computed from the email with random ones (safe to re-run)",
        description="メールアドレスから計算できるリード ID をランダムな ID に置き換えます。"
        " 送信済みメールのリンク (旧 ID) は引き続き有効です。再実行しても安全です.",
    )
    ids.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    ids.set_defaults(func=run_lead_ids)


@guarded
def run_lead_ids(args: argparse.Namespace) -> int:
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.lead_ids import Migration, migrate

    connect(args.stack)

    def progress(report: Migration) -> None:
        done = report.moved + report.finished + report.unchanged + report.conflicts
        print(f"\r{done} leads checked / 確認済み", end="", file=sys.stderr, flush=True)

    report = migrate(Store(get_settings().table_name), progress)
    print(file=sys.stderr)
    print(f"移行 {report.moved} / 途中から完了 {report.finished} / 変更なし {report.unchanged}"
          f" / 要確認 {report.conflicts}  (moved {report.moved}, finished {report.finished},"
          f" unchanged {report.unchanged}, conflicts {report.conflicts})")
    return 1 if report.conflicts else 0
