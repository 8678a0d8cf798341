"""`reawake calllists show|send`: the owners' daily call lists (電話フォローのコールリスト).

``show`` prints today's lists without writing or mailing anything; ``send`` mails them now, the
same run the CallListFunction's morning schedule makes (each owner's list at most once a day).
Both talk to the running local stack by default, or to a deployed stack with --stack NAME.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reawake_tools.commands import NOW_HELP, STACK_HELP, connect, fail, guarded, moment


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calllists",
        help="owners' daily call lists (call tasks of dormant leads): show, send",
        description="担当営業ごとの日次コールリスト (休眠リードへの電話フォロー) の表示・送信.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="today's lists: who calls whom and why (read-only, nothing is mailed)",
        description="今日のコールリストを表示します (書き込み・送信はしません).",
        epilog="exit status: 0 = shown, 2 = bad --now or no stack.",
    )
    show.add_argument("--owner", metavar="EMAIL", help="only this owner's list ('team': leads without an owner)")
    show.add_argument("--mail", action="store_true", help="print each list as its mail's text")
    send = actions.add_parser(
        "send",
        help="mail today's lists now (what the morning schedule does; each list once a day)",
        description="今日のコールリストを担当営業へ送信します (朝のスケジュールと同じ処理。1日1回まで).",
        epilog="exit status: 0 = done, 1 = a list could not be mailed, 2 = bad --now or no stack.",
    )
    send.add_argument("--force", action="store_true", help="also on a weekend or a Japanese public holiday")
    send.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    for action in (show, send):
        action.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP.replace("evaluate", "run"))
        action.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    show.set_defaults(func=run_show)
    send.set_defaults(func=run_send)


@guarded
def run_show(args: argparse.Namespace) -> int:
    from reawake.calllists import entry as calllist_entry
    from reawake.core.durations import format_time
    from reawake.core.settings import get_settings
    from reawake.mail.mime import build_message
    from reawake_tools.local.outbox import parse, part

    now_ms = moment(args, connect(args.stack))
    tz = get_settings().time_zone
    settings = calllist_entry.call_list_settings()
    planned = calllist_entry.plan(now_ms, settings)
    lists = [c for c in planned.lists if args.owner in (None, c.owner_key)]
    print(f"call lists at / コールリスト {format_time(now_ms, tz)}: {len(lists)} list(s)")
    for call_list in lists:
        print(f"\n{call_list.owner_key} → {call_list.to_address}: new / 新規 {len(call_list.new)}, "
              f"carried over / 継続 {len(call_list.carried)}")
        if args.mail:
            rendered, _ = calllist_entry.render(call_list, settings, now_ms)
            message = parse(build_message(rendered, call_list.to_address, now_ms=now_ms, tz=tz))
            print(f"Subject: {message['Subject']}\n\n{part(message, 'plain')}")
            continue
        for entry in call_list.entries:
            mark = "継続" if entry.carried_over else "新規"
            print(f"  [{mark}] {entry.lead.company or '-'} {entry.lead.name or '-'} <{entry.lead.email}>  "
                  f"{entry.task.segment_id or entry.task.sequence}  due {format_time(entry.task.due_at, tz)[:16]}")
    if planned.done:
        print(f"\n{len(planned.done)} task(s) followed up since / フォロー済み (sent lists leave them out)")
    if planned.unaddressed:
        print(f"{len(planned.unaddressed)} task(s) with no owner and no TeamAlertAddress / 宛先なし")
    return 0


@guarded
def run_send(args: argparse.Namespace) -> int:
    from reawake.calllists import entry as calllist_entry

    now_ms = moment(args, connect(args.stack))
    try:
        summary = calllist_entry.run(now_ms, force=args.force)
    except RuntimeError as exc:
        return fail(str(exc), 1)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    if summary.get("skipped"):
        print(f"{summary['day']}: no lists / 送信なし ({summary['skipped']}; --force to send anyway)")
        return 0
    for item in summary["lists"]:
        status = {"sent": "sent / 送信しました", "already": "already sent today / 本日送信済み"}.get(
            item["status"], item["status"])
        print(f"{item['owner']} → {item['to']}: new {item['new']}, carried over {item['carried_over']} — {status}")
    print(f"{summary['day']}: {len(summary['lists'])} list(s), {summary['closed']} task(s) closed as followed up")
    return 0
