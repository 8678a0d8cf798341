"""Cold-start proxy: importing the track handler module in a fresh interpreter vs. `import boto3`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import median, report

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9
PROBE = """
import sys, time
sys.path.insert(0, {path!r})
start = time.perf_counter()
{statement}
print(time.perf_counter() - start)
"""


def _import_time(statement: str, path: str = "") -> float:
    code = PROBE.format(path=path, statement=statement)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0", "POWERTOOLS_SERVICE_NAME": "reawake"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def run() -> dict[str, float]:
    track = str(ROOT / "functions" / "track")
    _import_time("import app", track)  # warm the bytecode caches once, as a deployed package has them
    handler: list[float] = []
    baseline: list[float] = []
    for _ in range(RUNS):
        handler.append(_import_time("import app", track))
        baseline.append(_import_time("import boto3"))
    h, b = median(handler) * 1000, median(baseline) * 1000
    report(
        "Cold-start proxy: import the track handler vs. import boto3 (fresh interpreters)",
        [
            ("runs", f"{RUNS} each, interleaved; median"),
            ("import functions/track/app.py", f"{h:.0f} ms"),
            ("import boto3", f"{b:.0f} ms"),
            ("ratio (goal <= 2.0)", f"{h / b:.2f}"),
        ],
    )
    return {"ratio": h / b}


if __name__ == "__main__":
    run()
