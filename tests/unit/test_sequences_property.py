"""Property test: an engine that follows ``decide`` (wait for a plan, decide again, act when due)
never mails a lead after an exit, never mails an unsubscribed, bounced or complaining lead, sends
only inside the window and within the frequency cap, and always finishes — whatever the order
and timing of the lead's events (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from reawake.core.durations import to_epoch_ms
from reawake.core.leads import Lead
from reawake.stepmail.sequences import (
    Done,
    EnrollmentState,
    Exit,
    MailHistory,
    Send,
    Sequence,
    Skip,
    Task,
    advanced,
    decide,
    is_due,
    load_sequences,
    load_stepmail_settings,
    parse_sequence,
)
from reawake.stepmail.sequences.calendar import in_window, later

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
DAY = 86_400_000
SEGMENT = "seg"
ENROLLED = to_epoch_ms(datetime(2026, 11, 24, 9, 30, tzinfo=TOKYO))
SETTINGS = load_stepmail_settings(ROOT / "config" / "stepmail.yaml")
SEQUENCES = load_sequences([ROOT / "config" / "sequences"], SETTINGS)
# A sequence that uses every engagement condition (revisits do not end it, so clicks matter).
SEQUENCES["nurture"] = parse_sequence(
    """\
name: 育成
exit: {revisit: false, segment_left: true}
steps:
  - template: a
  - template: b
    delay: 2d
    when: {previous: clicked}
  - template: c
    delay: 1d
    when: {previous: not_opened}
  - task: call
    delay: 3d
  - template: d
    delay: 20d
    after: enrollment
    when: {previous: not_clicked}
""",
    "nurture.yaml",
    "nurture",
)

CONSENT_KINDS = ("unsubscribe", "bounce", "complaint", "consent_withdrawn")
KINDS = (*CONSENT_KINDS, "page_view", "conversion", "leave_segment", "open", "click", "other_mail", "noise")


@dataclass
class World:
    """The lead's events, and the mail the engine sent, seen at any moment."""

    sequence: Sequence
    events: list[tuple[int, str]]
    sent: dict[str, int] = field(default_factory=dict)  # this enrollment's mails: message id -> time

    def lead_at(self, now: int) -> Lead:
        lead = Lead("lead1", "suzuki@example.co.jp", ENROLLED - 400 * DAY, segments={SEGMENT: ENROLLED - 1})
        last: dict[str, int] = {}
        for ts, kind in sorted(self.events):
            if ts > now:
                break
            if kind == "unsubscribe":
                lead = replace(lead, unsubscribed_at=ts, suppressed="unsubscribe")
            elif kind in ("bounce", "complaint"):
                lead = replace(lead, suppressed=kind)
            elif kind == "consent_withdrawn":
                lead = replace(lead, consent={"marketing_email": False, "at": ts})
            elif kind in ("page_view", "conversion"):
                last[kind] = ts
            elif kind == "leave_segment":
                lead = replace(lead, segments={})
            elif kind in ("open", "click") and self._mail_before(ts):
                last[f"email_{kind}@campaign:{self.sequence.id}"] = ts
        return replace(lead, last=last)

    def _mail_before(self, ts: int) -> str | None:
        before = [(t, mid) for mid, t in self.sent.items() if t <= ts]
        return max(before)[1] if before else None

    def history_at(self, now: int) -> MailHistory:
        opened, clicked = set(), set()
        for ts, kind in self.events:
            mid = self._mail_before(ts) if ts <= now else None
            if mid and kind == "open":
                opened.add(mid)
            if mid and kind == "click":
                clicked.add(mid)
        others = {f"other:{i}": ts for i, (ts, kind) in enumerate(self.events) if kind == "other_mail"}
        return MailHistory(sent={**others, **self.sent}, opened=frozenset(opened), clicked=frozenset(clicked))


def run(world: World) -> tuple[list[int], object, int]:
    """Drive one enrollment to its end; (send times, the final decision, the final time)."""
    sequence = world.sequence
    state = EnrollmentState(sequence.id, "lead1", SEGMENT, ENROLLED)
    now = ENROLLED
    sends: list[int] = []
    for _ in range(200):
        decision = decide(sequence, state, world.lead_at(now), world.history_at(now), now, SETTINGS)
        if isinstance(decision, Exit | Done):
            return sends, decision, now
        if not is_due(decision, now):  # a plan: wait, then decide again
            now = decision.send_at_ms if isinstance(decision, Send) else decision.due_at_ms  # type: ignore[union-attr]
            continue
        if isinstance(decision, Send):
            sends.append(now)
            world.sent[decision.message_id] = now
        assert isinstance(decision, Send | Task | Skip)
        state = advanced(state, decision, now)
    raise AssertionError("the enrollment never finished")


def exit_times(world: World) -> list[int]:
    """When each event that must stop the mail happened (for this sequence's exits)."""
    exits = world.sequence.exit
    stops = []
    for ts, kind in world.events:
        consent = kind in CONSENT_KINDS  # whenever it happened, even before the enrollment
        converted = kind == "conversion" and ts >= ENROLLED
        revisited = kind == "page_view" and exits.revisit and ts >= ENROLLED
        left = kind == "leave_segment" and exits.segment_left
        if consent or converted or revisited or left:
            stops.append(ts)
    return stops


event = st.tuples(st.integers(min_value=-5 * DAY, max_value=45 * DAY).map(lambda o: ENROLLED + o),
                  st.sampled_from(KINDS))


@settings(max_examples=250, deadline=None)
@given(name=st.sampled_from(sorted(SEQUENCES)), events=st.lists(event, max_size=12))
def test_no_mail_after_an_exit_and_only_in_the_window_within_the_cap(name: str, events: list[tuple[int, str]]) -> None:
    world = World(SEQUENCES[name], events)
    sends, final, end = run(world)
    stops = exit_times(world)
    first_stop = min(stops, default=None)
    for sent_at in sends:
        # Every exit ends the sequence before the next send: nothing goes at or after one.
        assert first_stop is None or sent_at < first_stop
        assert in_window(sent_at, SETTINGS.send_window, TOKYO)
    # An unsubscribed, bounced or complaining lead is never mailed.
    consent_stops = [ts for ts, kind in events if kind in CONSENT_KINDS]
    if consent_stops:
        assert all(t < min(consent_stops) for t in sends)
    # The frequency cap holds for every stretch that starts at or before one of our sends.
    cap = SETTINGS.frequency_cap
    assert cap is not None
    mails = sorted([*sends, *(ts for ts, kind in events if kind == "other_mail")])
    for sent_at in sends:
        for start in (m for m in mails if m <= sent_at):
            end_of_stretch = later(cap.per, start, TOKYO)
            if sent_at < end_of_stretch:
                assert sum(1 for m in mails if start <= m < end_of_stretch) <= cap.max
    # An exit is explained by an event that had happened by then; without one, the sequence ran out.
    if isinstance(final, Exit):
        assert first_stop is not None and first_stop <= end
    else:
        assert first_stop is None or first_stop > end
    assert len(sends) <= len(world.sequence.templates)
