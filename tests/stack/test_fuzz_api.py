"""The fuzz suite (issue 9): schemathesis, every check, against the local stack's own OpenAPI document,
over loopback only, for a fixed number of cases per operation (not a time budget: the same cases
on a slow machine as on a fast one); tests/stack/fuzz_hooks.py lets generated events reach the
store. Goal and assertion: no failure of any check, so no server
error and no status code the document does not list. Prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack.harness import RunningStack

pytestmark = pytest.mark.stack

EXAMPLES = 20  # schemathesis' --max-examples: generated cases per operation and phase
TIMEOUT_S = 600  # a hang guard only
CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_failure_in_any_check(local_stack: RunningStack, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    items_before = item_count(local_stack)
    st = Path(sys.executable).with_name("st")
    api_key = str(local_stack.secret_json("ActivityApiKeySecret")["api_key"])
    run = subprocess.run(
        [str(st), "--config-file", str(CONFIG), "run", f"{local_stack.api_url}/v1/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES), "--workers", "2", "--seed", "9",
         "--header", f"x-api-key: {api_key}", "--request-timeout", "20",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp_path,  # its cache stays out of the repo
        env={"PATH": str(st.parent), "NO_COLOR": "1", "HOME": str(tmp_path),  # no proxy settings: loopback only
             "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.stack.fuzz_hooks",
             "REAWAKE_FUZZ_SITE": local_stack.site_url},
    )
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(report.read_text(encoding="utf-8"))
    failures = result["failures"]
    by_type = {f["type"]: f["count"] for f in failures}
    server_errors, undocumented = by_type.pop("ServerError", 0), by_type.pop("UndefinedStatusCode", 0)
    written = item_count(local_stack) - items_before
    print(
        f"\nschemathesis {result['schemathesis_version']}: {result['test_cases']['generated']} cases "
        f"on {result['operations']['tested']} operations in {result['running_time']:.0f} s; "
        f"server errors {server_errors}, undocumented statuses {undocumented}, other failures {by_type or 0}, "
        f"errors {sum(e['count'] for e in result['errors'])}; {written} items written"
    )
    assert result["operations"]["tested"] == result["operations"]["total"], result["operations"]
    # Every operation was fuzzed (hypothesis stops early on an operation with few distinct inputs).
    assert result["test_cases"]["generated"] >= result["operations"]["total"]
    assert failures == [] and result["errors"] == [], run.stdout[-6000:]
    assert written > 0, "the fuzzer never reached the store: are the hooks loaded?"


def item_count(stack: RunningStack) -> int:
    return int(stack.client("dynamodb").scan(TableName=stack.info["table_name"], Select="COUNT")["Count"])
