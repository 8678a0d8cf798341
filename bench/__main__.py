"""`make bench`: run every benchmark; `python -m bench NAME` runs one."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["track_cost", "cold_start", "mail", "stepmail", "alerts", "segments", "urls", "report",
              "local_stack", "local_threads", "local_segments", "local_memory", "index_query", "emulator_calls"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").run()


if __name__ == "__main__":
    main(sys.argv[1:])
