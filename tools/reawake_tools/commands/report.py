"""`reawake report`: did reawakening work? (休眠掘り起こしの効果レポート)

Writes ``index.html`` (self-contained: inline SVG charts, no script, no CDN) and CSV files for
Excel to a folder, read from the counters kept on the write path (and one pass over the leads
for the analysis cross-tab). ``--cell N --yaml`` prints a cross-tab cell as a new segment
definition; ``--cell N --members FILE`` writes its members. ``--url`` (with ``--stack``) prints a
presigned link to the daily report the ReportFunction wrote to the config bucket.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from reawake_tools.commands import NOW_HELP, STACK_HELP, Stop, connect, guarded, moment


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="the report: trends per definition, step-mail funnels, holdout lift, alert follow-up, cross-tab",
        description="休眠リード掘り起こしレポート (定義ごとの推移・ファネル・ホールドアウト比較・アラート後のフォロー・"
                    "クロス集計) を HTML と CSV で書き出します.",
        epilog="exit status: 0 = written, 2 = bad option or no stack.",
    )
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day (default: 30 days to --to)")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (default: today)")
    parser.add_argument("--out", metavar="DIR", default="reawake-report", help="folder to write (default: %(default)s)")
    parser.add_argument("--encoding", default="utf-8-sig", choices=["utf-8-sig", "cp932"],
                        help="CSV encoding: UTF-8 with BOM (default) or cp932 (older Excel)")
    parser.add_argument("--by", metavar="COLUMN", default="owner",
                        help="cross-tab axis: an imported column (業種, 従業員規模, …) or 'owner' (default)")
    parser.add_argument("--no-crosstab", action="store_true", help="skip the cross-tab (it scans the leads once)")
    parser.add_argument("--cell", type=int, metavar="N", help="a cross-tab cell (its # in the report)")
    parser.add_argument("--yaml", action="store_true", help="with --cell: print it as a segment definition")
    parser.add_argument("--members", metavar="FILE", help="with --cell: write its members as CSV")
    parser.add_argument("--segments", metavar="FILE", default="config/segments.yaml",
                        help="with --yaml: the segments file whose rules the cell builds on (default: %(default)s)")
    parser.add_argument("--url", action="store_true", help="with --stack: a presigned URL of the daily report")
    parser.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP.replace("evaluate", "report"))
    parser.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    parser.set_defaults(func=run)


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError as exc:
        raise Stop(f"{name}: not a date (YYYY-MM-DD): {text!r}") from exc


@guarded
def run(args: argparse.Namespace) -> int:
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake.reports import entry

    if (args.yaml or args.members) and args.cell is None:
        raise Stop("--yaml and --members need --cell N")
    info = connect(args.stack)
    settings = get_settings()
    if args.url:
        return _print_url(args.stack, settings.config_bucket)
    now_ms = moment(args, info)
    first, last = entry.period(now_ms, _day(args.first, "--from"), _day(args.last, "--to"))
    if first > last:
        raise Stop(f"--from {first} is after --to {last}")
    store = Store(settings.table_name)
    config = entry.read_config(settings.config_bucket)
    if args.cell is not None:
        return _cell(args, store, config, now_ms)
    report = entry.build(store, config, first, last, now_ms)
    table = None if args.no_crosstab else entry.crosstab(store, config, args.by, now_ms)
    paths = entry.write(Path(args.out), entry.files(report, table, args.encoding))
    print(f"report / レポート {first} 〜 {last}: {len(report.definitions)} definition(s), {len(report.steps)} step(s), "
          f"{report.items_read} counter item(s) read")
    for path in paths:
        print(f"  {path}")
    return 0


def _cell(args: argparse.Namespace, store: Any, config: Any, now_ms: int) -> int:
    from reawake.reports import csvout, entry
    from reawake.reports.crosstab import cell_definition, raw_rules

    table = entry.crosstab(store, config, args.by, now_ms, keep_members=True)
    if not 1 <= args.cell <= len(table.cells):
        raise Stop(f"--cell {args.cell}: the cross-tab by {args.by} has cells 1 to {len(table.cells)}")
    cell = table.cells[args.cell - 1]
    if args.members:
        leads = store.get_leads(cell.lead_ids)
        Path(args.members).write_bytes(csvout.members([leads[i] for i in cell.lead_ids if i in leads], args.encoding))
        print(f"{len(cell.lead_ids)} member(s) / メンバー → {args.members}")
    if args.yaml or not args.members:
        path = Path(args.segments)
        if not path.exists():
            raise Stop(f"--segments {path}: no such file (the rules the cell builds on)")
        rules = raw_rules(path.read_text(encoding="utf-8-sig"))
        if cell.definition not in rules:
            raise Stop(f"{path} has no definition {cell.definition!r}")
        sys.stdout.write(cell_definition(cell, args.by, rules, args.cell))
    return 0


def _print_url(stack: str | None, bucket: str) -> int:
    from reawake.core.aws import client
    from reawake.reports.entry import REPORTS_PREFIX

    if stack is None:
        raise Stop("--url needs --stack NAME (the local stack serves the report at /report)")
    url = client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": f"{REPORTS_PREFIX}latest/index.html"}, ExpiresIn=7 * 86_400)
    print(url)
    return 0
