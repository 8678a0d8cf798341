"""`reawake demo` as a newcomer runs it right after `make local`'s set-up, with no stack running: it
starts a stack of its own, tells the whole story and stops the stack.

The story is checked on what it printed, on what it wrote with --json, and — independently of
the demo's own reading — on the mail the stack actually sent (the outbox folder stays on disk):
the demo leads are imported and enter their definitions, the sequences' Japanese mails go out in
the send window, one lead clicks (302 with rw_id), its owner and nobody else gets exactly one
alert, its sequence ends by the revisit with no further mail, the lead is reactivated, and the next
business morning the DM lead's owner finds it on the call list.

Own stack rather than the shared session one: the demo jumps the stack clock by days, which the
other stack tests (step mail, schedules) do not expect, and the newcomer path is what matters.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reawake_tools.local.connect import STACK_FILE_ENV
from reawake_tools.local.outbox import OutboxMail, list_outbox
from tests.stack.harness import ROOT, reawake_command, start, stop

pytestmark = pytest.mark.stack

TOKYO = ZoneInfo("Asia/Tokyo")
LAST_CONTACT = re.compile(r"^最終接触: (\d{4})年(\d{1,2})月(\d{1,2})日")
LINE = re.compile(r"^\[\s*(\d+\.\d) s \| (\d{4}-\d\d-\d\d \d\d:\d\d) JST\] (.+)$", re.M)
EXPECTED = {
    "clicker": ["dormant-no-visit", "dormant-no-webinar"],
    "nurture": ["dormant-no-webinar"],
    "followup": ["dormant-no-followup"],
    "watch": ["dormant-no-visit"],
    "active": [],
}


def demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, STACK_FILE_ENV: str(tmp_path / "stack.json")}  # no stack there: the demo starts one
    env.pop("AWS_ENDPOINT_URL", None)  # nor may it find the shared test stack through the environment
    return subprocess.run([*reawake_command(), "demo", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=180, check=False)


def alerts_about(folder: Path, lead_id: str) -> list[str]:
    texts = [p.read_text(encoding="ascii", errors="replace") for p in sorted(folder.glob("*.eml"))]
    return [t for t in texts if f"alert:{lead_id}:" in t]


def in_send_window(mail: OutboxMail) -> bool:
    assert mail.sent_at is not None
    local = mail.sent_at.astimezone(TOKYO)
    return local.weekday() < 5 and 10 <= local.hour < 18


def test_reawake_demo_tells_the_whole_story_on_a_stack_of_its_own(tmp_path: Path) -> None:
    began = time.monotonic()
    done = demo(tmp_path, "--json", str(tmp_path / "story.json"))
    seconds = time.monotonic() - began
    print(f"\n{done.stdout}\nreawake demo: {seconds:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    story: dict[str, Any] = json.loads((tmp_path / "story.json").read_text(encoding="utf-8"))

    # Printed: a line per step with the time elapsed and the stack's time, both moving forward.
    assert "stack stopped" in done.stdout
    lines = LINE.findall(done.stdout)
    assert len(lines) == 10, done.stdout
    assert [float(s) for s, _, _ in lines] == sorted(float(s) for s, _, _ in lines)
    assert [t for _, t, _ in lines] == sorted(t for _, t, _ in lines)
    assert lines[0][2].startswith("local stack started for the demo")
    assert lines[1][2].startswith("5 leads imported with a year of history")
    assert lines[-1][2].startswith("done / 完了")
    assert not (tmp_path / "stack.json").exists(), "the demo's stack is stopped at the end"

    # 1-2: five new leads (the run id in every address) in the definitions their history fits.
    leads = {x["role"]: x for x in story["imported"]["leads"]}
    assert all(x["email"].startswith(f"demo-{story['run_id']}-") for x in leads.values())
    assert story["imported"]["activities"] >= 5 * 8
    assert {role: list(ids) for role, ids in story["segmented"]["entered"].items()} == EXPECTED

    # 3: the sequences' first mails, as sent (the outbox), in Japanese, in the send window.
    outbox = Path(story["outbox"])
    assert outbox == tmp_path / "outbox"
    mails = {role: [m for m in list_outbox(outbox) if parseaddr(m.to)[1] == x["email"]] for role, x in leads.items()}
    assert {role: [m.sequence_step for m in found] for role, found in mails.items()} == {
        "clicker": ["webinar-invite #1"],  # and no second one: the sequence ended
        "nurture": ["webinar-invite #1"],
        "followup": ["dm-then-call #1"],
        "watch": [],
        "active": [],
    }
    assert mails["clicker"][0].subject.startswith("【お役立ち資料】")
    assert "資料を郵送いたしました" in mails["followup"][0].subject
    assert all(in_send_window(m) for found in mails.values() for m in found)
    step_mails = sorted((parseaddr(m.to)[1], m.sent_at) for m in list_outbox(outbox) if m.sequence_step)
    assert len(step_mails) >= 3
    assert all(a[0] != b[0] or (b[1] - a[1]).total_seconds() >= 86_400  # type: ignore[operator]
               for a, b in itertools.pairwise(step_mails)), "one person, one mail a day at most"

    # 4-5: the click answers 302 to the demo site with the identify token; the visit is revisits.
    clicked, visited = story["clicked"], story["visited"]
    assert clicked["role"] == "clicker" and clicked["status"] == 302 and "rw_id=" in clicked["location"]
    assert clicked["location"].split("?")[0] == visited["pages"][0]["url"]
    assert visited["revisits"] == visited["events"] == 1 + len(visited["pages"])

    # 6: exactly one alert, to the clicker's owner; nobody else's.
    clicker = clicked["lead_id"]
    (alert,) = alerts_about(outbox, clicker)
    assert f"To: {leads['clicker']['owner']}" in alert
    texts = [p.read_text(encoding="ascii", errors="replace") for p in outbox.glob("*.eml")]
    assert sum(bool(re.search(r"alert:[a-z2-7]{20}:", t)) for t in texts) == 1, "no alert about anyone else"
    assert story["alerted"]["to"] == leads["clicker"]["owner"] and story["alerted"]["alerts"] == 1
    assert any(line.startswith("きっかけ: メール（webinar-invite）") for line in story["alerted"]["lines"])
    assert story["alerted"]["reactivated_at"] is not None

    # 7: the sequence ended because the lead came back; the DM lead's owner got the call task.
    assert (story["ended"]["status"], story["ended"]["reason"]) == ("exited", "revisit")
    assert [(role, owner) for role, owner, _ in story["ended"]["tasks"]] == [("followup", leads["followup"]["owner"])]

    # 8: the next business morning, the DM lead's owner gets the call list with the lead, why and what to ask.
    listed = story["call_list"]
    assert (listed["role"], listed["to"]) == ("followup", leads["followup"]["owner"])
    assert listed["subject"].startswith("【本日のコールリスト】")
    # The list the demo found the lead on (its subject carries the day): the next morning's list may
    # have gone out too before the demo stopped, with the lead as 継続 (a list is mailed once a day).
    (call_list,) = [m for m in list_outbox(outbox)
                    if parseaddr(m.to)[1] == listed["to"] and m.subject == listed["subject"]]
    assert call_list.sent_at is not None and call_list.sent_at.astimezone(TOKYO).strftime("%H:%M") == "08:30"
    assert any("IS対話歴あり・直近3か月営業フォローなし" in line for line in listed["lines"])
    assert any(line.startswith("お願い: 送付したDMが届いたか") for line in listed["lines"])
    # The last contact, with its date: the webinar application 60 days before the import (demo/history.py,
    # relative to the stack's clock, not to a calendar year); the clock moved on by days since.
    (contact,) = [m for line in listed["lines"] if (m := LAST_CONTACT.match(line))]
    contacted = date(*(int(g) for g in contact.groups()))
    listed_on = call_list.sent_at.astimezone(TOKYO).date()
    assert timedelta(days=60) <= listed_on - contacted <= timedelta(days=90), (contacted, listed_on)


def test_a_failing_step_is_named_and_the_demo_stack_is_stopped_anyway(tmp_path: Path) -> None:
    done = demo(tmp_path, "--timeout", "0.001")  # nothing can be waited for
    assert done.returncode == 1
    assert "demo step 2 segments run" in done.stderr and "failed" in done.stderr
    assert "stack stopped" in done.stdout
    assert not (tmp_path / "stack.json").exists()


def test_the_call_list_told_is_that_mornings_even_when_a_jump_mailed_an_earlier_one_late(tmp_path: Path) -> None:
    # Started at 02:14 on a Thursday: the demo's jump to the next step's 10:00 passes a list morning,
    # whose list then goes out late with the lead on it; the story jumps on to the next list morning
    # and must tell that list (it printed the day before's under "the next business morning").
    stack = start(tmp_path, "--no-samples", "--now", "2026-12-03T02:14:34+09:00")
    try:
        env = {**os.environ, STACK_FILE_ENV: str(stack.stack_file)}
        env.pop("AWS_ENDPOINT_URL", None)
        done = subprocess.run([*reawake_command(), "demo", "--json", str(tmp_path / "story.json")],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        listed = json.loads((tmp_path / "story.json").read_text(encoding="utf-8"))["call_list"]
        outbox = Path(stack.info["outbox"])
        lists = [m for m in list_outbox(outbox) if parseaddr(m.to)[1] == listed["to"] and "コールリスト" in m.subject]
        assert len(lists) >= 2, "an earlier list with the lead (the case) beside the morning's"
        (told,) = [m for m in lists if m.subject == listed["subject"]]
        assert told.sent_at is not None and all(m.sent_at is not None and m.sent_at <= told.sent_at for m in lists)
        morning = datetime.fromisoformat(listed["moment"]).astimezone(TOKYO)
        assert told.sent_at.astimezone(TOKYO).date() == morning.date()
        assert f"{morning.month}月{morning.day}日" in told.subject
    finally:
        stop(stack)
