"""Cold-start proxy: importing the track handler module in a fresh interpreter vs. `import boto3`; and what
Powertools' APIGatewayHttpResolver with validation would add to it (docs/decisions.md, "One route table")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import median, report

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9
WITH_RESOLVER = """import app
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from reawake.core.events import EventBatchIn
resolver = APIGatewayHttpResolver(enable_validation=True)
def post_events(body: EventBatchIn) -> dict[str, int]:
    return {}
resolver.post("/v1/events")(post_events)
http = {"method": "POST", "path": "/v1/events"}
resolver.resolve({"version": "2.0", "routeKey": "POST /v1/events", "rawPath": "/v1/events", "body": "{}",
                  "requestContext": {"http": http, "stage": "$default"}}, None)"""
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
    resolver: list[float] = []
    for _ in range(RUNS):
        handler.append(_import_time("import app", track))
        baseline.append(_import_time("import boto3"))
        resolver.append(_import_time(WITH_RESOLVER, track))
    h, b, r = median(handler) * 1000, median(baseline) * 1000, median(resolver) * 1000
    report(
        "Cold-start proxy: import the track handler vs. import boto3 (fresh interpreters)",
        [
            ("runs", f"{RUNS} each, interleaved; median"),
            ("import functions/track/app.py", f"{h:.0f} ms"),
            ("import boto3", f"{b:.0f} ms"),
            ("ratio (goal <= 2.0)", f"{h / b:.2f}"),
            ("the same + APIGatewayHttpResolver(enable_validation=True), one request", f"{r:.0f} ms (+{r - h:.0f} ms)"),
            ("ratio with the resolver / without", f"{r / h:.2f}"),
        ],
    )
    return {"ratio": h / b, "resolver_ratio": r / h}


if __name__ == "__main__":
    run()
