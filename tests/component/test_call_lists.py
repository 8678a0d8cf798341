"""Owner call lists on the emulator: leads of definition ③ go through the real dm-then-call sequence
(DM notice mail, then the owner's call task), and the call-list function mails each owner their
list the next business morning — once, with the reason and the last contact; the team gets the
leads without an owner; followed-up leads leave the list, the others are carried over."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest

from reawake.calllists import entry as calllist_entry
from reawake.calllists.store import CallListStore
from reawake.core.leads import Lead
from reawake.mail.mailer import Outgoing, SesMailer
from reawake.stepmail.store import StepmailStore
from reawake_tools.local.outbox import part
from reawake_tools.local.template import function_environment, load_template
from tests.component.test_stepmail import (  # noqa: F401 - env is a fixture
    TOKYO,
    Now,
    enrolled,
    env,
    new_lead,
    play,
    record,
    sent_messages,
    store,
)
from tests.conftest import LambdaContext, load_function

SEQUENCE, SEGMENT = "dm-then-call", "dormant-no-followup"
SEGMENT_NAME = "IS対話歴あり・直近3か月営業フォローなし"
SATO, SUZUKI, TEAM = "sato.kenji@example.co.jp", "suzuki.misaki@example.co.jp", "sales@example.co.jp"
DAY = 86_400_000


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=TOKYO).timestamp() * 1000)


@pytest.fixture
def lists_env(env: Now, aws: Any, monkeypatch: pytest.MonkeyPatch) -> Now:  # noqa: F811 - the fixture
    for k, v in function_environment(load_template(), aws, "CallListFunction").items():
        monkeypatch.setenv(k, v)
    calllist_entry.reset()
    return env


def call_task_lead(now: Now, name: str, owner: str | None, start: str = "2026-11-30T09:00", **changes: Any) -> Lead:
    """A lead of definition ③ enrolled at ``start`` (a Monday), through the DM notice (that day) to
    its call task (Thursday), with the real engine."""
    now.ms = ms(start)
    lead = new_lead(now, name=name, owner=owner, segments={SEGMENT: now.ms}, **changes)
    enrolled(lead, now, SEQUENCE, SEGMENT)
    play(now, now.ms + 7 * DAY)
    found = StepmailStore(store()).get_enrollment(lead.lead_id, SEQUENCE)
    assert found is not None and found.status == "done"
    return lead


def morning_run(iso: str) -> dict[str, Any]:
    """The schedule's invocation of the call-list function at ``iso`` (Asia/Tokyo)."""
    app = load_function("calllist")
    moment = datetime.fromisoformat(iso).replace(tzinfo=TOKYO).isoformat()
    result: dict[str, Any] = app.handler({"now": moment}, LambdaContext())
    return result


def lists_to(address: str) -> list[EmailMessage]:
    return [m for m in sent_messages(address) if "コールリスト" in str(m["Subject"])]


def test_each_owner_gets_one_morning_list_with_the_reason_and_the_last_contact(lists_env: Now) -> None:
    talked = ms("2026-06-12T15:00")
    a = call_task_lead(lists_env, "山田 太郎", SATO, attrs={"電話番号": "03-5555-0101"},
                       last={"sales_conversation": talked})
    b = call_task_lead(lists_env, "佐々木 花子", SATO)
    c = call_task_lead(lists_env, "田中 一郎", SUZUKI)
    d = call_task_lead(lists_env, "伊藤 美咲", None)
    assert [len(sent_messages(x.email)) for x in (a, b, c, d)] == [1, 1, 1, 1], "the DM notice went first"
    assert all(StepmailStore(store()).tasks(x.lead_id) for x in (a, b, c, d))

    summary = morning_run("2026-12-04T08:30")  # Friday: the tasks came due on Thursday

    (sato,) = lists_to(SATO)
    assert "【本日のコールリスト】2026年12月4日（金） 新規2件" in str(sato["Subject"])
    text = part(sato, "plain")
    assert "佐藤 健二さん" in text
    assert "山田 太郎様" in text and "佐々木 花子様" in text and "田中 一郎" not in text
    assert f"理由: {SEGMENT_NAME}" in text
    assert "送付したDMが届いたかの確認" in text, "the step's note tells the owner what to ask"
    assert "最終接触: 2026年6月12日（インサイドセールスとの対話）" in text
    assert "電話: 03-5555-0101" in text
    assert f"https://crm.example.co.jp/leads/{a.lead_id}" in text
    assert "List-Unsubscribe" not in sato, "a list for our own salesperson is not marketing"
    (suzuki,) = lists_to(SUZUKI)
    assert "田中 一郎様" in part(suzuki, "plain")
    (team,) = lists_to(TEAM)
    assert "伊藤 美咲様" in part(team, "plain") and "担当営業が設定されていません" in part(team, "plain")
    assert sorted(x["owner"] for x in summary["lists"]) == [SATO, SUZUKI, "team"]
    assert {x["status"] for x in summary["lists"]} == {"sent"}


def test_a_repeated_run_the_same_morning_mails_nothing_more(lists_env: Now, metrics_emitted: Any) -> None:
    call_task_lead(lists_env, "山田 太郎", SATO)
    metrics_emitted()
    first = morning_run("2026-12-04T08:30")
    again = morning_run("2026-12-04T08:30")  # the scheduler's retry, or `reawake calllists send`
    later = morning_run("2026-12-04T14:00")
    assert [x["status"] for x in first["lists"]] == ["sent"]
    assert [x["status"] for x in again["lists"]] == [x["status"] for x in later["lists"]] == ["already"]
    assert len(lists_to(SATO)) == 1
    assert metrics_emitted() == {"CallListsSent": 1}


def test_the_next_day_followed_up_leads_leave_and_the_others_are_carried_over(lists_env: Now) -> None:
    called = call_task_lead(lists_env, "山田 太郎", SATO)
    waiting = call_task_lead(lists_env, "佐々木 花子", SATO)
    morning_run("2026-12-04T08:30")
    record(called.lead_id, "sales_followup", ms("2026-12-04T11:00"))  # the owner called and logged it

    summary = morning_run("2026-12-07T08:30")  # Monday

    latest = lists_to(SATO)[-1]
    text = part(latest, "plain")
    assert "継続1件" in str(latest["Subject"]) and "新規0件" in str(latest["Subject"])
    assert "佐々木 花子様" in text and "山田 太郎" not in text
    assert "未対応: 2026年12月3日から 4日" in text
    assert summary["closed"] == 1
    (task,) = StepmailStore(store()).tasks(called.lead_id)
    assert task["status"] == "done" and "task_day" not in task, "closed tasks leave the index"
    assert StepmailStore(store()).tasks(waiting.lead_id)[0]["status"] == "open"


def test_no_list_on_a_holiday_and_the_tasks_wait_for_the_next_business_morning(lists_env: Now) -> None:
    # Tuesday: the DM notice goes that day, the call task on Friday.
    call_task_lead(lists_env, "山田 太郎", SATO, start="2026-11-17T09:00")
    holiday = morning_run("2026-11-23T08:30")  # Monday, 勤労感謝の日
    assert holiday["skipped"] == "not a business day" and not lists_to(SATO)
    tuesday = morning_run("2026-11-24T08:30")
    assert [x["new"] for x in tuesday["lists"]] == [1]
    (mail,) = lists_to(SATO)
    assert "2026年11月24日（火） 新規1件" in str(mail["Subject"])


def test_one_owners_failing_mail_does_not_hold_back_the_others_and_is_sent_on_the_retry(
        lists_env: Now, monkeypatch: pytest.MonkeyPatch) -> None:
    call_task_lead(lists_env, "山田 太郎", SATO)
    call_task_lead(lists_env, "田中 一郎", SUZUKI)
    real_send = SesMailer.send

    def flaky(mailer: SesMailer, mail: Outgoing, tags: Any = None) -> str:
        if mail.to == SUZUKI:
            raise ConnectionError("SES is unreachable")
        return real_send(mailer, mail, tags)

    monkeypatch.setattr(SesMailer, "send", flaky)
    with pytest.raises(RuntimeError, match="1 call list"):
        morning_run("2026-12-04T08:30")
    assert len(lists_to(SATO)) == 1 and not lists_to(SUZUKI)

    monkeypatch.setattr(SesMailer, "send", real_send)
    soon = morning_run("2026-12-04T08:35")  # the claim of the failed run is still fresh
    assert not lists_to(SUZUKI) and {x["status"] for x in soon["lists"]} == {"already"}
    retried = morning_run("2026-12-04T09:00")  # the scheduler's retry, after the claim went stale
    assert len(lists_to(SATO)) == 1 and len(lists_to(SUZUKI)) == 1
    assert [x["status"] for x in retried["lists"] if x["owner"] == SUZUKI] == ["sent"]
    day_lists = CallListStore(store()).day_lists(datetime(2026, 12, 4).date())
    assert sorted(i["status"] for i in day_lists) == ["sent", "sent"]


def test_the_cli_shows_the_lists_without_mailing_then_sends_them_once(
        lists_env: Now, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from reawake_tools.cli import main
    from reawake_tools.commands import calllists as command

    call_task_lead(lists_env, "山田 太郎", SATO, attrs={"電話番号": "03-5555-0101"})
    monkeypatch.setattr(command, "connect", lambda stack_name: {})

    assert main(["calllists", "show", "--now", "2026-12-04T08:30:00+09:00", "--mail"]) == 0
    shown = capsys.readouterr().out
    assert f"{SATO} → {SATO}: new / 新規 1, carried over / 継続 0" in shown
    assert "山田 太郎様" in shown and "電話: 03-5555-0101" in shown
    assert not lists_to(SATO), "show mails nothing"

    assert main(["calllists", "send", "--now", "2026-12-04T08:30:00+09:00"]) == 0
    assert "sent / 送信しました" in capsys.readouterr().out and len(lists_to(SATO)) == 1
    assert main(["calllists", "send", "--now", "2026-12-04T09:00:00+09:00"]) == 0
    assert "already sent today" in capsys.readouterr().out and len(lists_to(SATO)) == 1
    assert main(["calllists", "send", "--now", "2026-12-05T08:30:00+09:00"]) == 0  # Saturday
    assert "no lists" in capsys.readouterr().out
    assert main(["calllists", "show", "--now", "not a time"]) == 2
