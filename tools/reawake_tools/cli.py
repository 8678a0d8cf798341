"""The `reawake` command. Each sub-command lives in reawake_tools.commands.<name> and registers itself."""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under reawake_tools.commands, each with register(subparsers).
COMMANDS = ["local", "leads", "activities", "segments", "templates", "sequences", "calllists", "outbox", "demo",
            "migrate", "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reawake", description="Reawake: wake dormant leads (休眠顧客の掘り起こし).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"reawake_tools.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
