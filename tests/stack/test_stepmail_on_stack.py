"""Step mail on the local stack, as a person would see it: three new leads enter definition ②
(直近3か月ウェビナー視聴・申込なし), the segment run enrolls them in the webinar sequence, and the
stack clock is jumped to each send slot.

- A opens the first mail and receives all three Japanese mails, each on a weekday 10:00–18:00 JST;
- B clicks the first mail's link and looks at the site: its sequence ends before the next mail;
- C unsubscribes with the one-click POST of the first mail's List-Unsubscribe header: no more mail.

The outbox (``reawake outbox``) shows every mail; they parse back with their Japanese subjects;
``reawake sequences status`` shows who is on which step. One jump of 14 days plays every send slot
in order (the scheduler catches up slot by slot on the stack clock).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reawake.stepmail.store import StepmailStore
from reawake_tools.local.clock import advance_running, now_of
from reawake_tools.local.connect import STACK_FILE_ENV
from reawake_tools.local.outbox import OutboxMail, list_outbox, part
from reawake_tools.local.scheduler import send_slot_at_or_after
from tests.stack.harness import ROOT, RunningStack, reawake_command

pytestmark = pytest.mark.stack

TOKYO = ZoneInfo("Asia/Tokyo")
SEQUENCE = "webinar-invite"


def info_of(stack: RunningStack) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(stack.stack_file.read_text(encoding="utf-8"))
    return found


def reawake(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, STACK_FILE_ENV: str(stack.stack_file)}
    return subprocess.run([*reawake_command(), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=False)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def mails_to(stack: RunningStack, email: str) -> list[OutboxMail]:
    return [m for m in list_outbox(Path(info_of(stack)["outbox"])) if email in m.to]


def wait_for_mails(stack: RunningStack, email: str, count: int, timeout: float = 240) -> list[OutboxMail]:
    deadline = time.monotonic() + timeout
    while len(found := mails_to(stack, email)) < count:
        assert time.monotonic() < deadline, f"{email}: {len(found)} mail(s), expected {count}"
        time.sleep(0.1)
    return found


def next_send(stack: RunningStack, lead_id: str) -> int | None:
    """When the lead's next step is due (kept on the enrollment), None when it is over."""
    enrollment = StepmailStore(stack.store()).get_enrollment(lead_id, SEQUENCE)
    assert enrollment is not None
    return enrollment.due_at if enrollment.status == "active" else None


def jump_to(stack: RunningStack, moment_ms: int) -> None:
    ahead = moment_ms / 1000 + 1.0 - now_of(info_of(stack)).timestamp()
    if ahead > 0:
        advance_running(info_of(stack), ahead)


def new_lead(stack: RunningStack, label: str) -> tuple[str, str]:
    """A lead created by the contact form (no webinar history: definition ② takes it)."""
    email = f"stepmail-{label}-{secrets.token_hex(4)}@example.co.jp"
    body = {"visitor_id": secrets.token_hex(16), "email": email, "name": f"テスト {label}", "company": "株式会社テスト"}
    status, _ = http("POST", f"{stack.api_url}/v1/identify", body,
                     {"content-type": "application/json", "origin": stack.site_url})
    assert status == 200
    return email, stack.store().lead_id_of(email) or ""


def in_window(mail: OutboxMail) -> bool:
    assert mail.sent_at is not None
    local = mail.sent_at.astimezone(TOKYO)
    return local.weekday() < 5 and 10 <= local.hour < 18


def links_of(mail: OutboxMail, path: str) -> list[str]:
    return re.findall(rf'(?:href|src)="([^"]*{re.escape(path)}[^"]*)"', mail.html_path.read_text(encoding="utf-8"))


def test_a_lead_in_definition_2_receives_three_mails_and_clicks_and_unsubscribes_stop_the_others(
    local_stack: RunningStack,
) -> None:
    began = time.monotonic()
    (a, a_id), (b, b_id), (c, c_id) = (new_lead(local_stack, x) for x in "abc")

    run = reawake(local_stack, "segments", "run")
    assert run.returncode == 0, run.stderr
    for lead_id in (a_id, b_id, c_id):
        lead = local_stack.store().get_lead(lead_id)
        assert lead is not None and "dormant-no-webinar" in lead.segments
        enrollment = StepmailStore(local_stack.store()).get_enrollment(lead_id, SEQUENCE)
        assert enrollment is not None and enrollment.segment_id == "dormant-no-webinar"

    again = reawake(local_stack, "sequences", "start", SEQUENCE, "--segment", "dormant-no-webinar")
    assert again.returncode == 0, again.stderr
    assert "enrolled (already enrolled)" in again.stdout, again.stdout  # by hand, idempotent

    first_due = next_send(local_stack, a_id)
    assert first_due is not None
    # Due now inside a send window (10:00-18:00 JST), the mail waits for the next slot (0/5 min).
    first_slot = send_slot_at_or_after(info_of(local_stack), first_due)
    jump_to(local_stack, first_slot)
    first = {email: wait_for_mails(local_stack, email, 1)[0] for email in (a, b, c)}

    # A opens (its mail client loads the pixel); B clicks through and looks around; C unsubscribes.
    (pixel,) = links_of(first[a], "/v1/open/")
    assert http("GET", pixel)[0] == 200
    click = links_of(first[b], "/v1/click/")[0]
    status, headers = http("GET", click)
    assert status == 302 and "rw_id=" in headers["location"]
    token = headers["location"].split("rw_id=")[1].split("&")[0]
    visitor = secrets.token_hex(16)
    json_headers = {"content-type": "application/json", "origin": local_stack.site_url}
    assert http("POST", f"{local_stack.api_url}/v1/identify", {"visitor_id": visitor, "token": token},
                json_headers)[0] == 200
    page_view = {"id": secrets.token_hex(8), "type": "page_view", "ts": int(time.time() * 1000),  # t.js: Date.now()
                 "visitor_id": visitor, "url": headers["location"].split("?")[0]}
    assert http("POST", f"{local_stack.api_url}/v1/events", [page_view], json_headers)[0] == 202
    message = first[c].message()
    unsubscribe = re.search(r"<(http[^>]+/v1/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"]))
    assert unsubscribe and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert http("POST", unsubscribe.group(1), b"List-Unsubscribe=One-Click",
                {"content-type": "application/x-www-form-urlencoded"})[0] == 200

    jump_to(local_stack, first_slot + 15 * 86_400_000)  # one jump: every slot with work plays, in order
    wait_for_mails(local_stack, a, 3)

    mails = mails_to(local_stack, a)
    assert len(mails) == 3 and all(in_window(m) for m in mails)
    assert [m.sequence_step for m in mails] == [f"{SEQUENCE} #1", f"{SEQUENCE} #2", f"{SEQUENCE} #3"]
    assert [m.subject.split("】")[0] for m in mails] == ["【お役立ち資料", "【導入事例", "【参加無料・オンライン"]
    assert "テスト a 様" in mails[0].to or a in mails[0].to
    text = part(mails[2].message(), "plain")
    assert "配信停止" in text and "サンプル株式会社" in text  # the 特定電子メール法 footer

    deadline = time.monotonic() + 60
    store = StepmailStore(local_stack.store())
    while True:
        states = {x: store.get_enrollment(i, SEQUENCE) for x, i in (("a", a_id), ("b", b_id), ("c", c_id))}
        if all(s is not None and s.status != "active" for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (states["a"].status, states["b"].status, states["c"].status) == ("done", "exited", "exited")  # type: ignore[union-attr]
    assert states["b"].reason == "revisit" and states["c"].reason == "unsubscribed"  # type: ignore[union-attr]
    assert len(mails_to(local_stack, b)) == 1 and len(mails_to(local_stack, c)) == 1
    assert len({m.message_id for m in mails}) == 3, "each step once, though started twice"

    status = reawake(local_stack, "sequences", "status", "--lead", a)
    assert status.returncode == 0 and "done" in status.stdout, status.stdout + status.stderr
    listed = reawake(local_stack, "outbox")
    assert listed.returncode == 0 and "【導入事例】" in listed.stdout and f"{SEQUENCE} #3" in listed.stdout
    print(f"\nstep mail on the stack: {time.monotonic() - began:.1f} s")
