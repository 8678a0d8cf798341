"""`reawake demo`: the whole story on the local stack, told step by step with timings.

The story itself is reawake_tools.demo (story.py tells it, scenario.py does each step); this command
finds the running local stack, or starts one for the demo and stops it at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

DESCRIPTION = """Play the whole story on the local stack: import five Japanese leads with a year of
history, run the dormant-lead segments, let the step-mail sequences send (the stack clock jumps to
the send slot), have one lead click its mail and browse the demo site, show the owner's alert, and
show that the lead's sequence stopped. Each line tells the wall-clock time elapsed and the stack's
time. Uses the running `reawake local` (`make local`), whose clock it moves about a week ahead;
without one, starts one for the demo (empty, no sample leads) and stops it at the end (--keep:
leave it running, e.g. to read `reawake outbox`). Every run uses new leads: run it again and again.
ローカル環境で、休眠リードの取り込みから再訪アラートまでの一連の流れを実演します。"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="the whole story on the local stack, step by step (デモ)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="exit status: 0 = the story ran to its end, 1 = a step failed (named), "
                                          "2 = the local stack could not be started.")
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack the demo started running (stop it with `kill PID`, printed at the end)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write what happened, step by step, as JSON")
    parser.add_argument("--timeout", type=float, default=30, metavar="SECONDS",
                        help="give up on a step after waiting this long (default 30)")
    parser.set_defaults(func=run)


def say(line: Any) -> None:
    from reawake_tools.demo.story import jst

    print(f"[{line.elapsed:5.1f} s | {jst(line.stack_time)}] {line.text}", flush=True)
    for detail in line.details:
        print(f"      {detail}", flush=True)


def run(args: argparse.Namespace) -> int:
    from reawake_tools.commands import fail
    from reawake_tools.demo.stage import Stage
    from reawake_tools.demo.story import DemoFailed
    from reawake_tools.demo.story import run as tell
    from reawake_tools.local import process as local_stack
    from reawake_tools.local.connect import stack_file

    began = time.monotonic()
    work_dir = stack_file().parent / "demo"
    try:
        info, started = local_stack.connect_or_start(work_dir / "reawake-local.log")
    except local_stack.StartFailed as exc:
        return fail(f"cannot start the local stack for the demo / ローカル環境を起動できません: {exc}")
    where = ("started for the demo (empty, no sample leads) / デモ用に起動" if started
             else "running: the demo adds its leads and moves its clock ahead / 起動中の環境を使います")
    opening = f"local stack {where}  (API {info['api_url']}, site {info['site_url']})"
    try:
        tell(Stage(info, work_dir, args.timeout), say, args.json, began, opening)
    except DemoFailed as exc:
        return fail(f"demo step {exc.step} failed / 失敗: {exc.message}", 1)
    except KeyboardInterrupt:
        return fail("interrupted / 中断しました", 130)
    finally:
        if started is not None:
            if args.keep:
                print(f"the demo's stack keeps running (pid {started.pid}): stop it with `kill {started.pid}` / "
                      f"ローカル環境は起動したままです", flush=True)
            else:
                local_stack.stop(started)
                print("the demo's stack stopped / デモ用のローカル環境を停止しました", flush=True)
    return 0
