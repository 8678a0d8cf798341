"""`reawake outbox`: the mail the local stack sent, as a person would see it.

Lists every mail (time in JST, to, subject, sequence and step); ``--show N`` prints one (headers
and the text part), ``--html`` opens its HTML in the browser (or prints the path with --no-open).
The files are in the stack's outbox folder (``.local/outbox/``): each ``.eml`` opens in a mail
program, each ``.html`` in a browser.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "outbox",
        help="mail the local stack sent: list, show one (text), open its HTML",
        description="ローカル環境が送信したメールの一覧と表示 (.eml はメールソフト、.html はブラウザで開けます).",
        epilog="exit status: 0 = shown, 2 = no such mail or no outbox.",
    )
    parser.add_argument("--show", type=int, metavar="N", help="print mail N of the list (1 = the oldest)")
    parser.add_argument("--html", action="store_true", help="with --show: open its HTML in a browser")
    parser.add_argument("--no-open", dest="open", action="store_false",
                        help="with --html: print the file's path instead of opening it")
    parser.add_argument("--dir", type=Path, metavar="DIR", help="the outbox folder (default: the running stack's)")
    parser.set_defaults(func=run)


def outbox_dir(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    from reawake_tools.local.connect import NotRunning, read_stack_file, stack_file

    try:
        found = read_stack_file().get("outbox")
    except NotRunning:
        found = None
    return Path(found) if found else stack_file().parent / "outbox"


def next_runs() -> list[str]:
    """When mail can next go out: the running stack's clock now and its schedules' next fire times
    after now (segment runs, send slots, call lists), and the first send slot inside the send
    window. Computed from the stack's clock and the schedules' expressions: the fire times the
    stack published at start are stale once they have passed."""
    from reawake_tools.commands.local import schedule_lines
    from reawake_tools.local.clock import now_of
    from reawake_tools.local.connect import NotRunning, read_stack_file

    try:
        info = read_stack_file()
    except NotRunning:
        return ["No local stack is running / ローカル環境は起動していません: `make local` starts one."]
    if not info.get("schedules"):
        return [*schedule_lines(info), "  The stack has no schedules / スケジュールがありません."]
    now = now_of(info)
    live = {**info, "schedules": [{**s, "next": next_fire(s, now)} for s in info["schedules"]]}
    if info.get("clock"):
        live["clock"] = {**info["clock"], "now": now.isoformat()}
    return ["Next scheduled runs / 次回の送信・実行予定 (stack time / 環境の時計):", *schedule_lines(live),
            *send_slot_lines(info, now)]


def next_fire(schedule: dict[str, Any], after: datetime) -> str | None:
    from reawake_tools.local.scheduler import ScheduleError, parse_expression

    try:
        fire = parse_expression(str(schedule["expression"])).next_after(after, ZoneInfo(str(schedule["timezone"])))
    except (ScheduleError, KeyError, ValueError):
        return schedule.get("next")
    return fire.isoformat() if fire is not None else None


def send_slot_lines(info: dict[str, Any], now: datetime) -> list[str]:
    """The first send slot at or after the send window opens (config/stepmail.yaml): when step mail
    that is due now goes out."""
    from reawake.stepmail.sequences.calendar import next_send_slot
    from reawake.stepmail.sequences.config import load_stepmail_settings
    from reawake_tools.commands.local import cli_command
    from reawake_tools.local.scheduler import SEND_SLOT_SCHEDULE, send_slot_at_or_after
    from reawake_tools.local.template import ROOT

    if not any(s.get("name") == SEND_SLOT_SCHEDULE for s in info.get("schedules") or []):
        return []
    settings = load_stepmail_settings(ROOT / "config" / "stepmail.yaml")
    opens = next_send_slot(int(now.timestamp() * 1000), settings.send_window, settings.tz)
    slot = datetime.fromtimestamp(send_slot_at_or_after(info, opens) / 1000, settings.tz)
    return [f"  Next send slot / 次の送信枠  {slot:%Y-%m-%d %H:%M} {slot.tzname()}: step mail due by then goes out "
            f"(send window {settings.send_window.describe()}; who is due: `{cli_command()} sequences status`)"]


def run(args: argparse.Namespace) -> int:
    from reawake_tools.local.outbox import list_outbox, part

    directory = outbox_dir(args)
    mails = list_outbox(directory)
    if args.show is None:
        if not mails:
            print(f"{directory}: no mail yet / まだ送信したメールはありません")
            print("\n".join(next_runs()))
            return 0
        for number, mail in enumerate(mails, start=1):
            when = f"{mail.sent_at.astimezone(TOKYO):%Y-%m-%d %H:%M} JST" if mail.sent_at else "-"
            print(f"{number:>4}  {when}  {mail.to}  {mail.subject}  [{mail.sequence_step}]")
        from reawake_tools.commands.local import cli_command

        print(f"{len(mails)} mail(s) in {directory}  ({cli_command()} outbox --show N)")
        return 0
    if not 1 <= args.show <= len(mails):
        print(f"reawake: no mail {args.show}: the outbox has {len(mails)}", file=sys.stderr)
        return 2
    mail = mails[args.show - 1]
    if args.html:
        if args.open:
            import webbrowser

            webbrowser.open(mail.html_path.resolve().as_uri())
        print(mail.html_path.resolve())
        return 0
    message = mail.message()
    for name in ("Date", "From", "To", "Subject", "List-Unsubscribe"):
        if message[name]:
            print(f"{name}: {' '.join(str(message[name]).split())}")
    print()
    print(part(message, "plain"))
    print(f"-- {mail.path}")
    return 0
