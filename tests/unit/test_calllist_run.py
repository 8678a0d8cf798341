"""The call-list run (``reawake.calllists.run``) on in-memory fakes of its ports: each owner's list
once a morning, followed-up tasks closed once, one owner's failed mail neither holding back the
others nor sent twice. The component tests (tests/component/test_call_lists.py) run the same on moto."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake.calllists.domain import CallListSettings, CallTask
from reawake.calllists.run import CallListRun
from reawake.core.leads import Lead
from reawake.mail.mailer import NotSent
from tests.fakes import FakeCallListTable, FakeMailer, FakeOwnerConfig

TOKYO = ZoneInfo("Asia/Tokyo")
SATO, SUZUKI, TEAM = "sato.kenji@example.co.jp", "suzuki.misaki@example.co.jp", "sales@example.co.jp"
SETTINGS = CallListSettings(team_address=TEAM, crm_url_template="https://crm.example.co.jp/leads/{lead_id}")


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=TOKYO).timestamp() * 1000)


FRIDAY = ms("2026-12-04T08:30")


def lead(n: int, owner: str | None, **changes: object) -> Lead:
    return Lead(lead_id=f"L{n}", email=f"l{n}@example.jp", registered_at=ms("2025-01-01T00:00"), name=f"氏名{n}",
                company="株式会社テスト", owner=owner, **changes)  # type: ignore[arg-type]


def task(n: int, due: str = "2026-12-03T10:00", owner: str | None = SATO) -> CallTask:
    return CallTask(lead_id=f"L{n}", task_id=f"dm-then-call:1:L{n}", sequence="dm-then-call",
                    segment_id="dormant-no-followup", kind="call", note="DMの確認", owner=owner, due_at=ms(due),
                    created_at=ms(due))


@pytest.fixture
def table() -> FakeCallListTable:
    table = FakeCallListTable(TOKYO, leads={x.lead_id: x for x in (lead(1, SATO), lead(2, SUZUKI), lead(3, None))})
    table.add(task(1), task(2, owner=SUZUKI), task(3, owner=None))
    return table


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def run(table: FakeCallListTable, mailer: FakeMailer) -> CallListRun:
    config = FakeOwnerConfig(names={"dormant-no-followup": "資料請求後フォローなし"})
    return CallListRun(table, config, mailer, SETTINGS, TOKYO, now=lambda: FRIDAY)


def test_each_owner_and_the_team_get_their_list_once_a_morning(
        run: CallListRun, table: FakeCallListTable, mailer: FakeMailer) -> None:
    summary = run.run(FRIDAY)
    assert sorted(mailer.to()) == sorted([SATO, SUZUKI, TEAM])
    by_to = {s.mail.to: s for s in mailer.sent}
    assert "氏名1" in by_to[SATO].text and "資料請求後フォローなし" in by_to[SATO].text
    assert "氏名2" not in by_to[SATO].text, "only the owner's own leads"
    assert {s.mail.from_address for s in mailer.sent} == {"info@example.co.jp"}
    assert [item["status"] for item in summary["lists"]] == ["sent"] * 3
    assert set(table.listed) == {"dm-then-call:1:L1", "dm-then-call:1:L2", "dm-then-call:1:L3"}

    again = run.run(FRIDAY + 3_600_000)
    assert [item["status"] for item in again["lists"]] == ["already"] * 3
    assert len(mailer.sent) == 3, "a repeated run the same morning mails nothing more"


def test_a_followed_up_lead_is_closed_once_and_left_off(
        run: CallListRun, table: FakeCallListTable, mailer: FakeMailer) -> None:
    table.leads["L1"] = lead(1, SATO, last={"sales_followup": ms("2026-12-03T15:00")})
    summary = run.run(FRIDAY)
    assert summary["closed"] == 1 and table.closed == {"dm-then-call:1:L1": "done"}
    assert sorted(mailer.to()) == sorted([SUZUKI, TEAM]), "Sato has nothing left to call"
    run.run(FRIDAY + 60_000)
    assert table.counted == [(SATO, "done")], "counted once for the report"


def test_one_owners_refused_mail_does_not_hold_back_the_others_and_goes_on_the_retry(
        run: CallListRun, table: FakeCallListTable, mailer: FakeMailer) -> None:
    mailer.failures.append(NotSent("MessageRejected: address not verified"))
    with pytest.raises(RuntimeError, match="1 call list"):
        run.run(FRIDAY)
    assert len(mailer.sent) == 2, "the other two lists went"
    run.run(FRIDAY + 20 * 60_000)  # the schedule's retry, once the failed list's claim is stale
    assert sorted(mailer.to()) == sorted([SATO, SUZUKI, TEAM]), "each list once"


def test_no_list_on_a_holiday_and_the_tasks_wait_for_the_next_business_morning(
        run: CallListRun, mailer: FakeMailer) -> None:
    assert run.run(ms("2026-12-05T08:30"))["skipped"] == "not a business day"  # a Saturday
    assert mailer.sent == []
    assert len(run.run(ms("2026-12-07T08:30"))["lists"]) == 3, "control: Monday's lists"


def test_a_dry_run_mails_and_writes_nothing(run: CallListRun, table: FakeCallListTable, mailer: FakeMailer) -> None:
    summary = run.run(FRIDAY, dry_run=True)
    assert [item["status"] for item in summary["lists"]] == ["planned"] * 3
    assert mailer.sent == [] and table.lists == {} and table.listed == {}
