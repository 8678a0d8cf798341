"""Who is on which owner's call list, in what order, and when a task leaves it (pure rules)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from reawake.calllists.domain import CallListSettings, CallTask, is_list_day, plan_lists, template_context
from reawake.core.leads import Lead

TOKYO = ZoneInfo("Asia/Tokyo")
SATO, SUZUKI, TEAM = "sato.kenji@example.co.jp", "suzuki.misaki@example.co.jp", "sales@example.co.jp"
SETTINGS = CallListSettings(team_address=TEAM, crm_url_template="https://crm.example.co.jp/leads/{lead_id}")


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=TOKYO).timestamp() * 1000)


NOW = ms("2026-12-04T08:30")  # Friday morning


def lead(n: int, owner: str | None = SATO, score: float = 0.0, **changes: object) -> Lead:
    return Lead(lead_id=f"L{n}", email=f"l{n}@example.jp", registered_at=ms("2025-01-01T00:00"), name=f"氏名{n}",
                company="株式会社テスト", owner=owner, score=score, **changes)  # type: ignore[arg-type]


def task(n: int, due: str = "2026-12-03T10:00", sequence: str = "dm-then-call", listed: str | None = None) -> CallTask:
    return CallTask(lead_id=f"L{n}", task_id=f"{sequence}:1:L{n}", sequence=sequence, segment_id="dormant-no-followup",
                    kind="call", note="DMの確認", owner=SATO, due_at=ms(due), created_at=ms(due),
                    listed_at=ms(listed) if listed else None)


def test_one_list_per_owner_and_one_for_the_team_hottest_new_lead_first() -> None:
    leads = {x.lead_id: x for x in (lead(1, score=5), lead(2, score=40), lead(3, SUZUKI), lead(4, None))}
    plan = plan_lists([task(1), task(2), task(3), task(4)], leads, NOW, TOKYO, SETTINGS)
    by_to = {c.to_address: [e.lead.lead_id for e in c.entries] for c in plan.lists}
    assert by_to == {SATO: ["L2", "L1"], SUZUKI: ["L3"], TEAM: ["L4"]}
    assert [c.id for c in plan.lists] == ["calllist:2026-12-04:sato.kenji@example.co.jp",
                                          "calllist:2026-12-04:suzuki.misaki@example.co.jp", "calllist:2026-12-04:team"]


def test_the_lead_s_current_owner_gets_the_call_not_the_owner_when_the_task_was_written() -> None:
    plan = plan_lists([task(1)], {"L1": lead(1, SUZUKI)}, NOW, TOKYO, SETTINGS)
    assert [c.to_address for c in plan.lists] == [SUZUKI]


def test_a_sales_contact_since_the_task_closes_it_and_an_older_one_does_not() -> None:
    after = lead(1, last={"sales_followup": ms("2026-12-03T15:00")})
    before = lead(2, last={"sales_conversation": ms("2026-06-01T10:00")})
    plan = plan_lists([task(1), task(2)], {"L1": after, "L2": before}, NOW, TOKYO, SETTINGS)
    assert [t.lead_id for t in plan.done] == ["L1"]
    assert [e.lead.lead_id for c in plan.lists for e in c.entries] == ["L2"]


def test_not_yet_due_and_older_than_the_lookback_are_not_listed_listed_before_is_carried_over() -> None:
    leads = {x.lead_id: x for x in (lead(1), lead(2), lead(3), lead(4))}
    tasks = [task(1, due="2026-12-04T10:00"),  # due later today
             task(2, due="2026-11-19T10:00"),  # 15 days ago: off the list
             task(3, due="2026-11-20T10:00", listed="2026-11-23T08:30"),  # 14 days ago, listed before
             task(4, due="2026-12-03T10:00")]
    (sato,) = plan_lists(tasks, leads, NOW, TOKYO, SETTINGS).lists
    assert [e.lead.lead_id for e in sato.new] == ["L4"] and [e.lead.lead_id for e in sato.carried] == ["L3"]


def test_a_task_listed_earlier_the_same_morning_is_still_new_a_rerun_after_a_crash() -> None:
    (sato,) = plan_lists([task(1, listed="2026-12-04T08:30")], {"L1": lead(1)}, NOW, TOKYO, SETTINGS).lists
    assert len(sato.new) == 1 and not sato.carried


def test_two_sequences_asking_for_the_same_call_give_one_line_and_both_tasks_are_marked() -> None:
    (sato,) = plan_lists([task(1), task(1, sequence="win-back")], {"L1": lead(1)}, NOW, TOKYO, SETTINGS).lists
    (entry,) = sato.entries
    assert {t.sequence for t in entry.tasks} == {"dm-then-call", "win-back"}


def test_without_an_owner_and_without_a_team_address_nobody_is_told_and_it_is_reported() -> None:
    plan = plan_lists([task(1)], {"L1": lead(1, None)}, NOW, TOKYO, CallListSettings())
    assert not plan.lists and [t.lead_id for t in plan.unaddressed] == ["L1"]


def test_lists_go_out_on_business_days_only() -> None:
    assert is_list_day(date(2026, 12, 4))  # Friday
    assert not is_list_day(date(2026, 12, 5))  # Saturday
    assert not is_list_day(date(2026, 11, 23))  # 勤労感謝の日
    assert not is_list_day(date(2027, 1, 1))  # 元日


def test_the_mail_says_why_and_when_the_last_contact_was_in_japanese() -> None:
    talked = lead(1, attrs={"電話番号": "03-5555-0101"}, last={"sales_conversation": ms("2026-06-12T15:00")},
                  dormant_since=ms("2026-11-30T06:00"), segments={"dormant-no-followup": ms("2026-11-30T06:00")})
    (sato,) = plan_lists([task(1, listed="2026-12-01T08:30")], {"L1": talked}, NOW, TOKYO, SETTINGS).lists
    context = template_context(sato, "佐藤 健二", NOW, TOKYO, {"dormant-no-followup": "IS対話歴あり"}, SETTINGS)
    (line,) = context["carried"]  # type: ignore[misc]
    assert context["day"] == "2026年12月4日（金）" and context["owner"] == {
        "name": "佐藤 健二", "email": SATO, "is_team": False}
    assert line["reason"] == "IS対話歴あり" and line["quiet_since"] == "2026年6月12日"
    assert line["last_contact"] == "2026年6月12日（インサイドセールスとの対話）"
    assert line["phone"] == "03-5555-0101" and line["open_days"] == 1
    assert line["crm_url"] == "https://crm.example.co.jp/leads/L1"


def test_the_list_says_since_when_the_lead_went_quiet_by_its_definition_not_the_day_the_run_caught_it() -> None:
    """③ (IS対話歴あり・直近3か月営業フォローなし) caught the lead on 11月30日; its last sales contact was
    the follow-up of 7月3日. A later page view is not what ③ reads, and the revisit after the run is
    not before it: 「から休眠」 is 7月3日."""
    from reawake.mail.config import load_mail_config_file
    from reawake.mail.transactional import render_transactional
    from reawake.segments.definitions import read_dimensions
    from reawake.segments.rules.config import load_segment_files
    from tests.conftest import ROOT

    definitions = load_segment_files([ROOT / "config" / "segments.yaml"])
    dimensions = read_dimensions(definitions)
    assert dimensions["dormant-no-followup"] == {"sales_conversation", "sales_followup"}
    caught = ms("2026-11-30T06:00")
    quiet = lead(1, last={"sales_conversation": ms("2026-05-20T11:00"), "sales_followup": ms("2026-07-03T16:00"),
                          "page_view": ms("2026-12-02T09:00")},  # the revisit, after the run
                 days={"page_view#20261010": 1, "page_view#20261202": 1},
                 dormant_since=caught, segments={"dormant-no-followup": caught})
    (sato,) = plan_lists([task(1)], {"L1": quiet}, NOW, TOKYO, SETTINGS).lists
    names = {d.id: d.name for d in definitions}
    context = template_context(sato, "佐藤 健二", NOW, TOKYO, names, SETTINGS, dimensions)
    mail = render_transactional("call-list", context, load_mail_config_file(ROOT / "config" / "mail.yaml"), sato.id)
    assert "理由: IS対話歴あり・直近3か月営業フォローなし（2026年7月3日から休眠）" in mail.text
    assert "（2026年7月3日から休眠）" in mail.html
    assert "2026年11月30日から" not in mail.text + mail.html, "the run's day is not when it went quiet"
    # Without the definitions (a sequence started by hand): the last contact or reaction before the run.
    bare = template_context(sato, None, NOW, TOKYO, {}, SETTINGS)
    assert bare["new"][0]["quiet_since"] == "2026年10月10日"  # type: ignore[index]
    # Nothing the definition reads was ever recorded: quiet since it registered.
    silent = lead(2, dormant_since=caught, segments={"dormant-no-followup": caught})
    (team,) = plan_lists([task(2)], {"L2": silent}, NOW, TOKYO, SETTINGS).lists
    assert template_context(team, None, NOW, TOKYO, names, SETTINGS, dimensions)["new"][0][  # type: ignore[index]
        "quiet_since"] == "2025年1月1日"
