"""What an operator sees in `reawake local -v`: a line per request, the functions' own lines, and
every 5xx with its traceback; never an email address (issue 9, "logs")."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.stack.harness import start, stop
from tests.stack.test_local_stack import http, new_id

pytestmark = pytest.mark.stack


def test_the_verbose_log_shows_requests_function_lines_and_a_forced_500_with_its_traceback(tmp_path: Path) -> None:
    stack = start(tmp_path, "--no-samples", "-v")
    email = f"log.{new_id()[:8]}@example.co.jp"
    headers = {"content-type": "application/json", "origin": stack.site_url}
    try:
        status, _, _ = http("POST", f"{stack.api_url}/v1/identify", {"visitor_id": new_id(), "email": email}, headers)
        assert status == 200
        # Force a server error: the table goes away under the running stack.
        stack.client("dynamodb").delete_table(TableName=stack.info["table_name"])
        status, _, _ = http("POST", f"{stack.api_url}/v1/identify", {"visitor_id": new_id(), "email": email}, headers)
        assert status == 500
    finally:
        assert stop(stack, signal.SIGTERM) == 0
    log = stack.log()

    # Positive control: logging works at all, requests and the function's own JSON lines.
    assert re.search(r"^POST /v1/identify -> 200 \(\d+ ms\)$", log, re.M), log[-3000:]
    assert '"message":"visitor identified"' in log and '"function_name":"reawake-TrackFunction"' in log
    # The 500: its request line, and the traceback naming the cause.
    assert re.search(r"^POST /v1/identify -> 500 ", log, re.M)
    assert "TrackFunction failed:\nTraceback (most recent call last):" in log
    assert "ResourceNotFoundException" in log
    # No address, not even its local part.
    assert email not in log and email.split("@")[0] not in log
