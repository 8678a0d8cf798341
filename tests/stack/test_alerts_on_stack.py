"""Revisit alerts on the local stack: a dormant sample lead (after `reawake segments run`) comes back
through the demo site's API, the stream poller hands the revisit to the alert function, and the
owner's alert mail is in the emulator's SES. How fast is measured by `python -m bench alerts`
(p50/p95 over 200 revisits); this test prints the one figure it sees and asserts no time limit."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from reawake.core.leads import Lead
from reawake_tools.local.clock import now_of
from tests.stack.harness import RunningStack

pytestmark = pytest.mark.stack

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


def post(url: str, body: Any, origin: str, user_agent: str = CHROME) -> int:
    request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
                                     headers={"content-type": "text/plain", "origin": origin,
                                              "user-agent": user_agent})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def come_back(stack: RunningStack, lead: Lead, path: str = "/product/", user_agent: str = CHROME) -> float:
    """The lead fills in the demo site's contact form on a new browser, then views a page (what t.js
    sends); returns the moment (monotonic) the page view's HTTP response arrived."""
    visitor = uuid.uuid4().hex
    post(f"{stack.api_url}/v1/identify", {"visitor_id": visitor, "email": lead.email}, stack.site_url, user_agent)
    event = {"id": uuid.uuid4().hex, "type": "page_view", "ts": int(time.time() * 1000), "visitor_id": visitor,
             "url": stack.site_url + path, "props": {"title": "製品紹介 | サンプル株式会社"}}
    assert post(f"{stack.api_url}/v1/events", [event], stack.site_url, user_agent) == 202
    return time.monotonic()


class SentMail:
    """The emulator's sent mail, read from the stack's outbox folder (a file per message), or from
    moto's data dump when the stack has no outbox."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        info = json.loads(stack.stack_file.read_text(encoding="utf-8"))
        self.folder = Path(info["outbox"]) if info.get("outbox") else None
        self._seen: dict[Path, str] = {}

    def messages(self) -> list[str]:
        if self.folder is not None and self.folder.is_dir():
            for path in self.folder.glob("*.eml"):
                if path not in self._seen:
                    text = path.read_text(encoding="ascii", errors="replace")
                    if text.rstrip().endswith("--"):  # the closing boundary: the file is complete
                        self._seen[path] = text
            return list(self._seen.values())
        with urllib.request.urlopen(f"{self.stack.endpoint_url}/moto-api/data.json", timeout=10) as response:
            data = json.loads(response.read())
        return [str(m.get("raw_data", "")) for m in data.get("ses", {}).get("RawMessage", [])]

    def alert_for(self, lead_id: str) -> list[str]:
        return [m for m in self.messages() if f"alert:{lead_id}:" in m]

    def wait_for_alert(self, lead_id: str, timeout: float = 60.0) -> float:
        """Monotonic time the lead's alert was first seen; raises after timeout (a guard against a
        hang on a loaded machine, not a speed requirement)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alert_for(lead_id):
                return time.monotonic()
            time.sleep(0.01)
        raise AssertionError(f"no alert for {lead_id} within {timeout} s")


def dormant_sample_lead(stack: RunningStack) -> Lead:
    """A sample lead in definition ① with an owner and no alert yet (runs the segments first)."""
    from tests.stack.test_segments_on_stack import current, reawake

    candidates = [lead for lead in stack.store().scan_leads() if "dormant-no-visit" in lead.segments]
    if not candidates:
        moment = now_of(current(stack)).replace(microsecond=0).isoformat()
        done = reawake(stack, "segments", "run", "--now", moment)
        assert done.returncode == 0, done.stderr
        candidates = [lead for lead in stack.store().scan_leads() if "dormant-no-visit" in lead.segments]
    client = stack.client("dynamodb")
    for lead in sorted(candidates, key=lambda x: x.lead_id):
        alerted = client.get_item(TableName=stack.info["table_name"],
                                  Key={"pk": {"S": f"LEAD#{lead.lead_id}"}, "sk": {"S": "ALERT"}}).get("Item")
        if lead.owner and lead.dormant_since is not None and not alerted:
            return lead
    raise AssertionError("no dormant sample lead with an owner left to alert")


def test_a_dormant_sample_lead_returning_alerts_its_owner_once(local_stack: RunningStack) -> None:
    lead = dormant_sample_lead(local_stack)
    sent = SentMail(local_stack)
    began = come_back(local_stack, lead)
    seen = sent.wait_for_alert(lead.lead_id)
    latency = seen - began
    print(f"\nrevisit -> alert mail in the emulator's SES: {latency * 1000:.0f} ms")
    (raw,) = sent.alert_for(lead.lead_id)
    assert f"To: {lead.owner}" in raw or (lead.owner or "") in raw

    after = local_stack.store().get_lead(lead.lead_id)
    assert after is not None and after.reactivated_at is not None, "the return ends dormancy"

    # The rest of the visit, and a bot: no second alert. The signal that both were handled (instead of
    # a fixed sleep): another dormant lead's return, written after them, is alerted; the stream is one
    # shard, read in order, so the poller has passed them.
    come_back(local_stack, lead, "/seminar/")
    come_back(local_stack, lead, "/", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    other = dormant_sample_lead(local_stack)
    come_back(local_stack, other)
    sent.wait_for_alert(other.lead_id)
    assert len(sent.alert_for(lead.lead_id)) == 1
