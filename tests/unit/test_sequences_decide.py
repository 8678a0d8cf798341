"""decide(): what happens next for one enrollment, step by step, with the shipped sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reawake.core.durations import to_epoch_ms
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.core.tokens import Purpose, Token
from reawake.stepmail.sequences import (
    Done,
    EnrollmentState,
    Exit,
    ExitReason,
    MailHistory,
    Send,
    Sequence,
    Skip,
    StepmailSettings,
    Task,
    advanced,
    decide,
    is_due,
    load_sequences,
    load_stepmail_settings,
    message_id,
    parse_message_id,
    parse_sequence,
)
from reawake.tracking.recording import email_event

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
DAY = 86_400_000
SEGMENT = "dormant-no-webinar"


def jst(*parts: int) -> int:
    return to_epoch_ms(datetime(*parts, tzinfo=TOKYO))  # type: ignore[misc,arg-type]


ENROLLED = jst(2026, 11, 24, 9)  # a Tuesday, before the window opens


@pytest.fixture(scope="module")
def settings() -> StepmailSettings:
    return load_stepmail_settings(ROOT / "config" / "stepmail.yaml")


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


@pytest.fixture(scope="module")
def sequences(settings: StepmailSettings, scoring: ScoringConfig) -> dict[str, Sequence]:
    return load_sequences([ROOT / "config" / "sequences"], settings, scoring)


def lead(**changes: object) -> Lead:
    base = Lead("lead1", "yamada@example.co.jp", jst(2025, 1, 1), name="山田 太郎", segments={SEGMENT: ENROLLED - 1})
    return replace(base, **changes)  # type: ignore[arg-type]


def state(sequence: str = "webinar-invite", segment: str | None = SEGMENT) -> EnrollmentState:
    return EnrollmentState(sequence, "lead1", segment, ENROLLED)


def test_the_webinar_sequence_end_to_end(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    webinar = sequences["webinar-invite"]
    s = state()
    # Enrolled at 09:00: the first mail waits for the window to open at 10:00.
    first = decide(webinar, s, lead(), MailHistory(), ENROLLED, settings)
    assert first == Send(0, "useful-content", jst(2026, 11, 24, 10), message_id("webinar-invite", 0, "lead1", ENROLLED))
    assert not is_due(first, ENROLLED) and is_due(first, jst(2026, 11, 24, 10))
    assert isinstance(first, Send)
    s = advanced(s, first)
    # Step 2 is due 6 days after the first mail *went* (Monday 11/30 10:00); before that it is a plan.
    plan = decide(webinar, s, lead(), MailHistory(), jst(2026, 11, 25, 12), settings)
    assert isinstance(plan, Send) and plan.send_at_ms == jst(2026, 11, 30, 10)
    # At the due time, the condition (previous mail opened) is read: not opened -> skipped.
    skip = decide(webinar, s, lead(), MailHistory(), jst(2026, 11, 30, 10), settings)
    assert skip == Skip(1, "when.previous: opened does not hold (the mail of step 1)", jst(2026, 11, 30, 10))
    # The same moment with the open recorded: sent.
    opened = MailHistory(sent={first.message_id: first.send_at_ms}, opened=frozenset({first.message_id}))
    sent = decide(webinar, s, lead(), opened, jst(2026, 11, 30, 10), settings)
    assert isinstance(sent, Send) and sent.template == "case-study" and is_due(sent, jst(2026, 11, 30, 10))
    # After the skip, step 3 is due 14 days after enrollment (12/8 09:00) -> 10:00 in the window.
    s = advanced(s, skip)
    third = decide(webinar, s, lead(), MailHistory(), jst(2026, 11, 30, 10), settings)
    assert isinstance(third, Send)
    assert (third.template, third.send_at_ms) == ("webinar-invitation", jst(2026, 12, 8, 10))
    s = advanced(s, third)
    assert decide(webinar, s, lead(), MailHistory(), jst(2026, 12, 8, 10), settings) == Done()


def test_an_owner_task_is_a_task_in_business_hours(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    dm = sequences["dm-then-call"]
    s = advanced(state("dm-then-call", "dormant-no-followup"), Send(0, "dm-notice", jst(2026, 11, 25, 17), "m"))
    member = lead(segments={"dormant-no-followup": ENROLLED})
    task = decide(dm, s, member, MailHistory(), jst(2026, 11, 25, 17), settings)
    # Three days after Wednesday 17:00 is Saturday: the call is due Monday 10:00.
    assert isinstance(task, Task)
    assert (task.step_index, task.kind, task.due_at_ms) == (1, "call", jst(2026, 11, 30, 10))
    assert task.note and "DM" in task.note


def test_a_skipped_step_keeps_the_timeline(settings: StepmailSettings) -> None:
    text = """\
name: t
steps:
  - template: a
  - template: b
    delay: 2d
    when: {previous: clicked}
  - template: c
    delay: 1d
exit: {revisit: false}
"""
    sequence = parse_sequence(text, "t.yaml", "t")
    s = advanced(state("t"), Send(0, "a", jst(2026, 11, 24, 10), "t:0"))
    skip = decide(sequence, s, lead(), MailHistory(), jst(2026, 11, 26, 10), settings)
    assert isinstance(skip, Skip) and skip.at_ms == jst(2026, 11, 26, 10)
    # Step c is a day after b *would have gone*, not a day after a.
    after = decide(sequence, advanced(s, skip), lead(), MailHistory(), jst(2026, 11, 26, 10), settings)
    assert isinstance(after, Send) and after.send_at_ms == jst(2026, 11, 27, 10)
    # A click (with revisits not ending this sequence) makes step b go.
    clicked = MailHistory(clicked=frozenset({"t:0"}))
    assert isinstance(decide(sequence, s, lead(), clicked, jst(2026, 11, 26, 10), settings), Send)


def test_opened_reads_the_message_facts_or_the_sequence_aggregates(
    sequences: dict[str, Sequence], settings: StepmailSettings
) -> None:
    webinar = sequences["webinar-invite"]
    mid = message_id("webinar-invite", 0, "lead1", ENROLLED)
    s = advanced(state(), Send(0, "useful-content", jst(2026, 11, 24, 10), mid))
    due = jst(2026, 11, 30, 10)
    # A click proves the open (images blocked).
    assert isinstance(decide(webinar, s, lead(), MailHistory(clicked=frozenset({mid})), due, settings), Send)
    # The aggregate: an open of this sequence's mail after the mail went.
    aggregated = lead(last={"email_open@campaign:webinar-invite": jst(2026, 11, 25, 8)})
    assert isinstance(decide(webinar, s, aggregated, MailHistory(), due, settings), Send)
    # An open from before this mail (an earlier enrollment) does not count.
    earlier = lead(last={"email_open@campaign:webinar-invite": jst(2026, 11, 1, 8)})
    assert isinstance(decide(webinar, s, earlier, MailHistory(), due, settings), Skip)
    # Another sequence's opens do not count.
    other = lead(last={"email_open@campaign:repurchase": jst(2026, 11, 25, 8)})
    assert isinstance(decide(webinar, s, other, MailHistory(), due, settings), Skip)


def test_no_previous_mail_was_neither_opened_nor_clicked(settings: StepmailSettings) -> None:
    # Validation refuses a mail condition with no mail before it; the rule still has an answer.
    sequence = Sequence.model_validate({"id": "t", "name": "t", "steps": [
        {"kind": "owner_task"}, {"template": "b", "when": {"previous": "not_opened"}}]})
    s = advanced(state("t"), Task(0, "call", jst(2026, 11, 24, 10)))
    assert isinstance(decide(sequence, s, lead(), MailHistory(), jst(2026, 11, 24, 10), settings), Send)


def test_band_conditions(settings: StepmailSettings, scoring: ScoringConfig) -> None:
    sequence = parse_sequence("name: t\nsteps:\n  - template: a\n    when: {band: [hot, warm]}\n", "t.yaml", "t",
                              scoring=scoring)
    now = jst(2026, 11, 24, 10)
    warm = lead(score=20.0, score_at=now)
    cold = lead(score=1.0, score_at=now)
    assert isinstance(decide(sequence, state("t"), warm, MailHistory(), now, settings, scoring), Send)
    skip = decide(sequence, state("t"), cold, MailHistory(), now, settings, scoring)
    assert skip == Skip(0, "when.band: the lead is cold, not hot / warm", ENROLLED)
    # Without the scoring config the band is unknown: the step is skipped, saying why.
    assert isinstance(decide(sequence, state("t"), warm, MailHistory(), now, settings), Skip)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"unsubscribed_at": ENROLLED - 30 * DAY}, ExitReason.UNSUBSCRIBED),
        ({"suppressed": "bounce"}, ExitReason.BOUNCED),
        ({"suppressed": "complaint"}, ExitReason.COMPLAINED),
        ({"suppressed": "unsubscribe"}, ExitReason.UNSUBSCRIBED),
        ({"consent": {"marketing_email": False, "at": ENROLLED}}, ExitReason.NO_CONSENT),
        ({"last": {"conversion": ENROLLED + DAY}}, ExitReason.CONVERTED),
        ({"last": {"webinar_application": ENROLLED + DAY}}, ExitReason.CONVERTED),
        ({"converted_at": ENROLLED + DAY}, ExitReason.CONVERTED),
        ({"last": {"page_view": ENROLLED + DAY}}, ExitReason.REVISITED),
        ({"last": {"form_submit": ENROLLED}}, ExitReason.REVISITED),
        ({"reactivated_at": ENROLLED + DAY}, ExitReason.REVISITED),
        ({"segments": {}}, ExitReason.LEFT_SEGMENT),
        ({"segments": {SEGMENT: ENROLLED + DAY}}, ExitReason.LEFT_SEGMENT),  # left and came back: a new enrollment
    ],
)
def test_every_exit_ends_the_enrollment(
    changes: dict[str, object], reason: ExitReason, sequences: dict[str, Sequence], settings: StepmailSettings
) -> None:
    assert decide(sequences["webinar-invite"], state(), lead(**changes), MailHistory(), ENROLLED, settings) == Exit(
        reason
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"last": {"page_view": ENROLLED - 1, "conversion": ENROLLED - DAY}},  # before the enrollment
        {"last": {"email_click": ENROLLED + DAY}},  # a scanner's click alone is no revisit
        {"consent": {"marketing_email": True}},
        {"last": {"purchase": ENROLLED + DAY}},  # not a conversion for the webinar sequence
    ],
)
def test_what_does_not_end_it(changes: dict[str, object], sequences: dict[str, Sequence],
                              settings: StepmailSettings) -> None:
    assert isinstance(decide(sequences["webinar-invite"], state(), lead(**changes), MailHistory(), ENROLLED, settings),
                      Send)


def test_sequences_choose_their_exits(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    purchased = lead(last={"purchase": ENROLLED + DAY}, segments={})
    assert decide(sequences["repurchase"], state("repurchase"), purchased, MailHistory(), ENROLLED, settings) == Exit(
        ExitReason.CONVERTED)
    # win-back does not end when the lead leaves its segment.
    left = lead(segments={})
    assert isinstance(decide(sequences["win-back"], state("win-back", "dormant-no-use"), left, MailHistory(), ENROLLED,
                             settings), Send)


def test_consent_wins_over_everything(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    webinar = sequences["webinar-invite"]
    finished = replace(state(), next_step=3)
    assert decide(webinar, finished, lead(), MailHistory(), ENROLLED, settings) == Done()
    both = lead(suppressed="complaint", last={"conversion": ENROLLED + DAY})
    assert decide(webinar, finished, both, MailHistory(), ENROLLED, settings) == Exit(ExitReason.COMPLAINED)
    # Owner tasks too: an unsubscribed lead is off every sequence.
    dm = sequences["dm-then-call"]
    at_task = advanced(state("dm-then-call", None), Send(0, "dm-notice", ENROLLED, "m"))
    assert decide(dm, at_task, lead(unsubscribed_at=ENROLLED + 1), MailHistory(), ENROLLED + DAY, settings) == Exit(
        ExitReason.UNSUBSCRIBED)


def test_a_planned_mail_is_checked_again_at_send_time(sequences: dict[str, Sequence],
                                                      settings: StepmailSettings) -> None:
    webinar = sequences["webinar-invite"]
    plan = decide(webinar, state(), lead(), MailHistory(), ENROLLED, settings)
    assert isinstance(plan, Send) and not is_due(plan, ENROLLED)
    # The lead unsubscribes while the engine waits: at send time, the answer is Exit.
    later_lead = lead(unsubscribed_at=ENROLLED + 60_000, suppressed="unsubscribe")
    assert decide(webinar, state(), later_lead, MailHistory(), plan.send_at_ms, settings) == Exit(
        ExitReason.UNSUBSCRIBED)


def test_the_cap_defers_across_sequences(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    other = {"repurchase:0:lead1:1": jst(2026, 11, 23, 11), "win-back:0:lead1:2": jst(2026, 11, 20, 15)}
    send = decide(sequences["webinar-invite"], state(), lead(), MailHistory(sent=other), ENROLLED, settings)
    # Two mails since Friday 11/20 15:00: the next may go a week after it, Friday 11/27 15:00.
    assert isinstance(send, Send) and send.send_at_ms == jst(2026, 11, 27, 15)
    # The enrollment's own mail, booked under its message id, does not block itself.
    own = {send.message_id: send.send_at_ms, "win-back:0:lead1:2": jst(2026, 11, 20, 15)}
    again = decide(sequences["webinar-invite"], state(), lead(), MailHistory(sent=own), ENROLLED, settings)
    assert isinstance(again, Send) and again.send_at_ms == jst(2026, 11, 24, 10)


def test_a_late_engine_sends_at_the_next_slot_not_in_the_past(sequences: dict[str, Sequence],
                                                              settings: StepmailSettings) -> None:
    now = jst(2026, 12, 4, 19)  # Friday evening, ten days late
    send = decide(sequences["webinar-invite"], state(), lead(), MailHistory(), now, settings)
    assert isinstance(send, Send) and send.send_at_ms == jst(2026, 12, 7, 10)


def test_a_lead_abroad_is_mailed_in_its_own_hours(sequences: dict[str, Sequence], settings: StepmailSettings) -> None:
    new_york = ZoneInfo("America/New_York")
    abroad = lead(attrs={"time_zone": "America/New_York"})
    send = decide(sequences["webinar-invite"], state(), abroad, MailHistory(), ENROLLED, settings)
    # 09:00 Tuesday in Tokyo is 19:00 Monday in New York: Tuesday 10:00 there.
    assert isinstance(send, Send)
    assert datetime.fromtimestamp(send.send_at_ms / 1000, new_york) == datetime(2026, 11, 24, 10, tzinfo=new_york)


def test_message_ids_carry_the_sequence_as_the_campaign() -> None:
    mid = message_id("webinar-invite", 2, "lead1", ENROLLED)
    assert parse_message_id(mid) is not None
    assert parse_message_id(mid) == parse_message_id(f"webinar-invite:2:lead1:{ENROLLED}")
    assert parse_message_id("nonsense") is None
    token = Token(Purpose.OPEN, "lead1", 0, message_id=mid)
    assert email_event("email_open", token, ENROLLED).campaign == "webinar-invite"


def test_advanced_refuses_a_decision_for_another_step(sequences: dict[str, Sequence]) -> None:
    with pytest.raises(ValueError, match="for step 1, the enrollment is at 0"):
        advanced(state(), Skip(1, "x", ENROLLED))
    with pytest.raises(ValueError, match="is over"):
        advanced(state(), Done())
    with pytest.raises(ValueError, match="is in 'webinar-invite', not 'repurchase'"):
        decide(sequences["repurchase"], state(), lead(), MailHistory(), ENROLLED, StepmailSettings())
