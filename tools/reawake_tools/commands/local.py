"""`reawake local`: run the whole system on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DESCRIPTION = """Run Reawake on this machine: an embedded AWS emulator (moto) with the resources of
template.yaml, the tracking API on 127.0.0.1, Step Functions running the real handlers, the
template's schedules (the daily segment run) firing on the stack clock, a demo website carrying
the snippet, and Japanese sample leads. config/segments.yaml and config/scoring.yaml are validated
and uploaded to the config bucket at start. The state (the table's leads, events, memberships,
enrollments and mail claims, the generated secrets, the stack clock) is saved to
.local/state/stack.pickle when it stops (Ctrl-C) and restored at the next start; --reset starts clean.
ローカルで Reawake 一式を起動します（状態は停止時に .local/state/ に保存され、次回起動時に復元されます。
--reset で初期状態から起動します）。

The stack clock / 時計: --speed 1440 makes a day pass in a minute; --now starts the clock at a
given moment. Jump ahead from another process with
  curl -X POST CLOCK_URL/advance -d '{"seconds": 86400}'
(CLOCK_URL is printed below and kept in .local/stack.json under clock.url; `GET CLOCK_URL/` reads it)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("local", help="run the whole stack locally (ローカル環境を起動)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8787, help="port of the tracking API (default 8787; 0 = any free)")
    parser.add_argument("--site-port", type=int, default=8788,
                        help="port of the demo website (default 8788; 0 = any free)")
    parser.add_argument("--no-samples", dest="samples", action="store_false",
                        help="start without sample data (a clean start only: a restored stack has its data)")
    parser.add_argument("--reset", action="store_true",
                        help="forget the saved state (.local/state/) and start clean / 保存された状態を消して初期化")
    parser.add_argument("--speed", type=_speed, default=1.0, metavar="N",
                        help="the stack clock runs N times faster than the wall clock (default 1; 1440 = a day a "
                             "minute): schedules and Step Functions waits follow it")
    parser.add_argument("--now", metavar="ISO-TIME", type=_moment,
                        help="start the stack clock at this moment (ISO 8601; no offset = Asia/Tokyo)")
    parser.add_argument("--config", type=Path, default=None, metavar="DIR",
                        help="where segments.yaml and scoring.yaml are (default: config/ of the repository); "
                             "validated and uploaded to the config bucket at start")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request and the functions' logs")
    parser.set_defaults(func=run)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0 < value <= 10_000_000:
        raise argparse.ArgumentTypeError(f"--speed: a number > 0, not {text!r}")
    return value


def _moment(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    from reawake.core.durations import parse_time

    found = parse_time(text, ZoneInfo("Asia/Tokyo"))
    if found is None:
        raise argparse.ArgumentTypeError(f"--now: {text!r} is not a time (e.g. 2026-11-24T05:59:00+09:00)")
    return datetime.fromtimestamp(found / 1000, UTC)


def _local(iso: str, zone: str) -> str:
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()}"


def schedule_lines(info: dict[str, Any]) -> list[str]:
    clock = info.get("clock") or {}
    schedules = info.get("schedules") or []
    zone = schedules[0]["timezone"] if schedules else "Asia/Tokyo"
    lines = []
    if clock:
        speed = clock.get("speed", 1)
        pace = "" if speed == 1 else f", x{speed:g}"
        lines.append(f"  Clock / 時計              {_local(clock['now'], zone)}{pace}   "
                     f"(jump ahead: POST {clock['url']}/advance)")
    kept = info.get("state") or {}
    if kept.get("restored_items") is not None:
        lines.append(f"  State / 状態               restored {kept['restored_items']:,} items "
                     f"(saved {kept.get('saved_at')}) from {kept['file']}")
    for schedule in schedules:
        upcoming = _local(schedule["next"], schedule["timezone"]) if schedule.get("next") else "never"
        lines.append(f"  Schedule / スケジュール    {schedule['name']} {schedule['expression']}: "
                     f"next / 次回 {upcoming}")
    return lines


def cli_command() -> str:
    """How to type `reawake` in another terminal: bare when this one is on PATH, else its path
    (`make local` runs .venv/bin/reawake without activating the virtualenv)."""
    import os
    import shutil

    script = Path(sys.executable).parent / "reawake"
    if not script.exists():
        return "reawake"
    on_path = shutil.which("reawake")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "reawake"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else str(script)


def banner(info: dict[str, Any]) -> str:
    samples = info.get("samples") or {}
    example = samples.get("example_email") or "EMAIL"
    rw = cli_command()
    activate = (f"  (`{rw}` is not on PATH: run it as shown, or `source {Path(rw).parent}/activate` first)"
                if rw != "reawake" else "")
    lines = [
        "",
        "Reawake local stack is running / ローカル環境が起動しました",
        f"  Tracking API / 計測API      {info['api_url']}   (snippet: {info['api_url']}/v1/t.js)",
        f"  Demo site / デモサイト       {info['site_url']}/",
        f"  AWS emulator / エミュレータ  {info['endpoint_url']}   (table {info['table_name']})",
        *schedule_lines(info),
    ]
    if samples.get("leads") is None and (info.get("state") or {}).get("restored_items") is not None:
        pass  # a restored stack: its leads are the ones it had
    elif samples:
        extra = " + activities / 行動履歴" if samples.get("activities") else ""
        lines.append(f"  Sample leads / サンプルリード {samples.get('leads', 0)} loaded{extra}")
        lines += [f"    ({note})" for note in samples.get("notes", [])]
    else:
        lines.append("  Sample leads / サンプルリード none (--no-samples)")
    lines += [
        "",
        "  A lead's timeline / リードの行動履歴 (in another terminal / 別のターミナルで):",
        f"    {rw} leads timeline {example}",
        f"  Run the segments now / セグメントを今すぐ実行:  {rw} segments run",
        f"  Preview one / プレビュー:  {rw} segments preview dormant-no-visit",
        f"  Owners' call lists / コールリスト:  {rw} calllists show",
        f"  Play the whole story / デモ (import → segments → mail → click → alert → call list):  {rw} demo",
        f"  Outbox / 送信メール: {info.get('outbox') or '.local/outbox'}   (list / 一覧: {rw} outbox)",
        *([activate] if activate else []),
        *state_lines(info, rw),
        "  Stop / 停止: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def state_lines(info: dict[str, Any], rw: str = "reawake") -> list[str]:
    kept = (info.get("state") or {}).get("file")
    if not kept:
        return ["  State lives in memory only: a restart starts clean. / 状態はメモリ上のみです。"]
    return [f"  State is saved at stop to {kept} and restored at start; `{rw} local --reset` starts clean.",
            f"  状態は停止時に保存され、次回起動時に復元されます（初期化: {rw} local --reset）。"]


class _FunctionLinesOnce(logging.Filter):
    """Drops the functions' records on the root handler once their Powertools Logger (service
    ``reawake``) prints them itself. Powertools' own guard for this matches by substring and so
    also silenced the stack's ``reawake_local`` lines: request lines and 5xx tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "reawake" and not record.name.startswith("reawake."):
            return True
        return getattr(logging.getLogger("reawake"), "powertools_handler", None) is None


def configure_logging(verbose: bool, stream: Any = None) -> None:
    """The stack's own lines (a line per request with ``-v``, every failure with its traceback)
    on stderr, the functions' JSON lines on stdout; email addresses masked in both."""
    import os

    from reawake.core.logs import RedactingFormatter

    os.environ["POWERTOOLS_LOG_DEDUPLICATION_DISABLED"] = "true"  # see _FunctionLinesOnce
    # Before any module makes its child Logger: named under the service, as on Lambda, their
    # lines come out as the functions' JSON (with lead ids and request ids), not bare messages.
    # Child Loggers take their level when made: the one the functions get (the LogLevel parameter).
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "reawake")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if verbose else "WARNING"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    handler.addFilter(_FunctionLinesOnce())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found endpoint for ..." per client


def run(args: argparse.Namespace) -> int:
    code = _run(args)
    _exit_now(code)
    return code  # pragma: no cover - not reached


def _exit_now(code: int) -> None:
    """End the process as soon as the stack is stopped and its state saved. A normal interpreter
    exit waits for every thread that is not a daemon (a Step Functions execution, a handler mid-way
    through a long shard) and then tears down moto's hundreds of modules: seconds to minutes on a
    busy machine, where Ctrl-C must stop the stack within seconds."""
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    from reawake.core.yamlfile import ConfigError
    from reawake_tools.local.connect import NotRunning, read_stack_file, remove_stack_file, write_stack_file
    from reawake_tools.local.stack import LocalStack

    configure_logging(args.verbose)
    try:
        other = read_stack_file()
        print(f"reawake local is already running (pid {other['pid']}, API {other['api_url']}).", file=sys.stderr)
        return 2
    except NotRunning:
        pass

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def report(line: str) -> None:
        print(line, flush=True)

    from reawake_tools.local import state

    kept = state.state_file()
    if args.reset and state.reset(kept):
        print(f"Saved state removed / 保存された状態を削除しました: {kept}", flush=True)
    stack = LocalStack(api_port=args.port, site_port=args.site_port, load_samples=args.samples,
                       state_file=kept, save_in_background=True,
                       parameters={"LogLevel": "INFO" if args.verbose else "WARNING"},
                       speed=args.speed, clock_start=args.now, report=report,
                       **({"config_dir": args.config} if args.config else {}))
    publishing = threading.Lock()
    published = threading.Event()

    def publish() -> None:
        """stack.json, rewritten when the clock jumps or a schedule fires (its clock and next fire times)."""
        with publishing:
            if published.is_set():
                write_stack_file(stack.describe())

    try:
        print("Starting the local stack… / 起動しています…", flush=True)
        try:
            stack.start(cancelled=stop.is_set)
        except state.Cancelled:
            print(f"Stopped while starting; the saved state is kept as it was ({kept}) / "
                  "起動中に停止しました（保存された状態はそのままです）", flush=True)
            return 0
        except OSError as exc:  # typically: the port is taken
            print(f"cannot start: {exc}. Is `reawake local` already running? Try --port / --site-port.",
                  file=sys.stderr)
            return 2
        except ConfigError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            print(f"cannot start: fix the config above (check with `{cli_command()} segments validate`) / "
                  "設定にエラーがあるため起動できません", file=sys.stderr)
            return 1
        if stop.is_set():
            return 0
        stack.on_change = publish
        with publishing:
            write_stack_file(stack.describe())
            published.set()
        print(banner(stack.describe()), flush=True)
        print(f"(started in {stack.timings.get('total', 0):.1f} s)", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping… / 停止します…", flush=True)
        return 0
    finally:
        with publishing:  # no rewrite of stack.json after it is removed
            published.clear()
            remove_stack_file()
        stopping = time.monotonic()
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        slowest = sorted(stack.stop_timings.items(), key=lambda kv: -kv[1])[:3]
        print("  (" + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest) + ")", flush=True)
        if stack.saved is not None:
            items = sum(stack.saved.counts().values())
            print(f"Stopped in {time.monotonic() - stopping:.1f} s; state ({items:,} items) saved to "
                  f"{stack.state_file} by process {stack.saver_pid} in the background (a restart waits for it) / "
                  f"停止しました（状態はバックグラウンドで保存しています）", flush=True)
        else:
            print(f"Stopped in {time.monotonic() - stopping:.1f} s / 停止しました", flush=True)

