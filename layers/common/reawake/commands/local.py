"""`reawake local`: run the whole system on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

DESCRIPTION = """Run Reawake on this machine: an embedded AWS emulator (moto) with the resources of
template.yaml, the tracking API on 127.0.0.1, a demo website carrying the snippet, and Japanese
sample leads. State lives in memory only: stopping (Ctrl-C) forgets it, and a restart starts clean.
ローカルで Reawake 一式を起動します（状態はメモリ上のみ。再起動で初期状態に戻ります）。"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("local", help="run the whole stack locally (ローカル環境を起動)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8787, help="port of the tracking API (default 8787; 0 = any free)")
    parser.add_argument("--site-port", type=int, default=8788,
                        help="port of the demo website (default 8788; 0 = any free)")
    parser.add_argument("--no-samples", dest="samples", action="store_false", help="start empty, without sample data")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request and the functions' logs")
    parser.set_defaults(func=run)


def banner(info: dict[str, Any]) -> str:
    samples = info.get("samples") or {}
    example = samples.get("example_email") or "EMAIL"
    lines = [
        "",
        "Reawake local stack is running / ローカル環境が起動しました",
        f"  Tracking API / 計測API      {info['api_url']}   (snippet: {info['api_url']}/v1/t.js)",
        f"  Demo site / デモサイト       {info['site_url']}/",
        f"  AWS emulator / エミュレータ  {info['endpoint_url']}   (table {info['table_name']})",
    ]
    if samples:
        extra = " + activities / 行動履歴" if samples.get("activities") else ""
        lines.append(f"  Sample leads / サンプルリード {samples.get('leads', 0)} loaded{extra}")
        lines += [f"    ({note})" for note in samples.get("notes", [])]
    else:
        lines.append("  Sample leads / サンプルリード none (--no-samples)")
    lines += [
        "",
        "  A lead's timeline / リードの行動履歴 (in another terminal / 別のターミナルで):",
        f"    reawake leads timeline {example}",
        "  State lives in memory only: a restart starts clean (that is also how to reset).",
        "  状態はメモリ上のみです。停止すると消え、再起動で初期状態に戻ります（リセット＝再起動）。",
        "  Stop / 停止: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from reawake.local.connect import NotRunning, read_stack_file, remove_stack_file, write_stack_file
    from reawake.local.stack import LocalStack

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        other = read_stack_file()
        print(f"reawake local is already running (pid {other['pid']}, API {other['api_url']}).", file=sys.stderr)
        return 1
    except NotRunning:
        pass

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(api_port=args.port, site_port=args.site_port, load_samples=args.samples,
                       parameters={"LogLevel": "INFO" if args.verbose else "WARNING"})
    try:
        print("Starting the local stack… / 起動しています…", flush=True)
        try:
            stack.start()
        except OSError as exc:  # typically: the port is taken
            print(f"cannot start: {exc}. Is `reawake local` already running? Try --port / --site-port.",
                  file=sys.stderr)
            return 1
        if stop.is_set():
            return 0
        write_stack_file(stack.describe())
        print(banner(stack.describe()), flush=True)
        print(f"(started in {stack.timings.get('total', 0):.1f} s)", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping… / 停止します…", flush=True)
        return 0
    finally:
        remove_stack_file()
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

