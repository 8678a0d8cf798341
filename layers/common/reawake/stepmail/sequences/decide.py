"""What to do next for one enrollment: a pure function of the sequence, the enrollment's progress,
the lead, its mail history and ``now``.

The engine (the step-mail function and its state machine) calls ``decide`` and acts:

- ``Send(send_at)`` / ``Task(due_at)`` in the future is a **plan**: wait until then and call
  ``decide`` again. Only a decision whose time has come (``is_due``) is acted on, so consent,
  exits and conditions are always checked right at send time, with the lead as it is then.
- ``Skip`` (a condition failed), ``Send``/``Task`` when due: record with ``advanced`` and call
  ``decide`` again for the next step. ``Exit`` / ``Done``: the enrollment is over.

Rules, in the order they are applied:

1. **Consent, always first**: a lead with ``unsubscribed_at``, any ``suppressed`` value (bounce,
   complaint, unsubscribe) or a consent record with ``marketing_email: false`` exits, whatever
   else holds, even for an owner-task step. A lead without a consent record (imported, an
   existing business relationship) is not refused.
2. **Exits** (``exit`` in the YAML), comparing the lead's aggregates with ``enrolled_at`` (an
   event at or after it counts): *conversion* = any listed kind in ``lead.last`` (and
   ``converted_at``); *revisit* = ``reactivated_at`` or a ``page_view`` / ``form_submit`` /
   ``download`` / ``webinar_view`` in ``lead.last`` — a bare ``email_click`` is not read from the
   aggregates because mail-security scanners click every link (the alert function filters those
   before it sets ``reactivated_at``); *segment left* = the lead is no longer in the segment it
   was enrolled from, or re-entered it later (a new membership has its own enrollment).
3. ``Done`` when every step has been handled.
4. The step's **due time**: its ``delay`` after the anchor. ``after: enrollment`` anchors on
   ``enrolled_at``; ``after: previous`` on the previous step's record: the time the mail was
   actually sent, the task's due time, or — for a skipped step — the time it was due, so a skip
   keeps the timeline of the steps after it. The first step's "previous" is the enrollment.
5. Once the step is due, its **conditions** are read (never earlier: the reader may still open
   the mail). ``previous`` refers to the last mail this enrollment sent (skipped steps and tasks
   are passed over); with none sent, it was neither opened nor clicked. *Opened* = an open or a
   click of that message (a click proves the open when images were blocked), or an open/click
   of this sequence's mail in the lead's aggregates (``email_open@campaign:<id>``) at or after
   it was sent. *Band* = ``reawake.core.scoring.band`` at ``now``. A failed condition is a ``Skip``
   at the due time.
6. Otherwise the step goes at the first moment at or after ``max(due, now)`` inside the send
   window (lead's time zone) and, for mail, allowed by the frequency cap
   and the minimum gap between two mails to one person (``cap.mail_slot``). Tasks use the
   window (calls happen in business hours), not the cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from reawake.core.kinds import VISIT_KINDS
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, band
from reawake.stepmail.sequences.calendar import later, lead_time_zone, next_send_slot
from reawake.stepmail.sequences.cap import mail_slot
from reawake.stepmail.sequences.model import Sequence, Step, StepmailSettings

SENT: Literal["sent"] = "sent"
TASK: Literal["task"] = "task"
SKIPPED: Literal["skipped"] = "skipped"
Outcome = Literal["sent", "task", "skipped"]

#: Visits read from the aggregates (email_click left out: scanners click; see the docstring).
REVISIT_KINDS: tuple[str, ...] = tuple(sorted(VISIT_KINDS - {"email_click"}))


class ExitReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounce"
    COMPLAINED = "complaint"
    SUPPRESSED = "suppressed"
    NO_CONSENT = "no_consent"
    CONVERTED = "conversion"
    REVISITED = "revisit"
    LEFT_SEGMENT = "segment_left"


CONSENT_REASONS = frozenset(
    {ExitReason.UNSUBSCRIBED, ExitReason.BOUNCED, ExitReason.COMPLAINED, ExitReason.SUPPRESSED, ExitReason.NO_CONSENT}
)


# --- message ids ---------------------------------------------------------------------------------


def message_id(sequence: str, step_index: int, lead_id: str, enrolled_at: int) -> str:
    """``<sequence>:<step index>:<lead_id>:<enrolled_at ms>``. The sequence comes first because
    the open/click events take their ``campaign`` from the part before the first colon; the
    enrollment time tells two enrollments of one lead in one sequence apart."""
    return f"{sequence}:{step_index}:{lead_id}:{enrolled_at}"


@dataclass(frozen=True)
class MessageRef:
    sequence: str
    step_index: int
    lead_id: str
    enrolled_at: int


def parse_message_id(text: str) -> MessageRef | None:
    parts = text.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[3].isdigit():
        return None
    return MessageRef(parts[0], int(parts[1]), parts[2], int(parts[3]))


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    """A handled step: ``at_ms`` is the send time (sent), the due time (task, skipped)."""

    index: int
    outcome: Outcome
    at_ms: int
    message_id: str | None = None


@dataclass(frozen=True)
class EnrollmentState:
    sequence: str
    lead_id: str
    segment_id: str | None
    enrolled_at: int
    next_step: int = 0
    steps: tuple[StepRecord, ...] = ()

    @property
    def last_sent(self) -> StepRecord | None:
        return next((r for r in reversed(self.steps) if r.outcome == SENT), None)


@dataclass(frozen=True)
class MailHistory:
    """The lead's mail facts. ``sent``: message id -> time, for every mail to the lead from any
    sequence, sent or booked for later (the cap reads it). ``opened`` / ``clicked``: message ids
    with an open / a click (this enrollment's at least)."""

    sent: Mapping[str, int] = field(default_factory=dict)
    opened: frozenset[str] = frozenset()
    clicked: frozenset[str] = frozenset()


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    step_index: int
    template: str
    send_at_ms: int
    message_id: str
    # The frequency cap or the minimum gap moved the mail later than the window alone would
    # (the reports' ``deferred``); not part of the decision's identity.
    deferred: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True)
class Task:
    step_index: int
    kind: str  # "call"
    due_at_ms: int
    note: str | None = None


@dataclass(frozen=True)
class Skip:
    step_index: int
    reason: str
    at_ms: int  # when the step was due


@dataclass(frozen=True)
class Exit:
    reason: ExitReason


@dataclass(frozen=True)
class Done:
    pass


Decision = Send | Task | Skip | Exit | Done


def is_due(decision: Decision, now_ms: int) -> bool:
    """Whether to act on the decision now (a future Send/Task is a plan: wait, then decide again)."""
    if isinstance(decision, Send):
        return decision.send_at_ms <= now_ms
    if isinstance(decision, Task):
        return decision.due_at_ms <= now_ms
    return True


# --- the rules ----------------------------------------------------------------------------------


def _at_or_after(value: int | None, moment: int) -> bool:
    return value is not None and value >= moment


def exit_reason(sequence: Sequence, state: EnrollmentState, lead: Lead) -> ExitReason | None:
    if lead.suppressed:
        return {
            "bounce": ExitReason.BOUNCED,
            "complaint": ExitReason.COMPLAINED,
            "unsubscribe": ExitReason.UNSUBSCRIBED,
        }.get(lead.suppressed, ExitReason.SUPPRESSED)
    if lead.unsubscribed_at is not None:
        return ExitReason.UNSUBSCRIBED
    if lead.consent is not None and lead.consent.get("marketing_email") is False:
        return ExitReason.NO_CONSENT
    since = state.enrolled_at
    exits = sequence.exit
    if exits.conversion and (
        _at_or_after(lead.converted_at, since) or any(_at_or_after(lead.last.get(k), since) for k in exits.conversion)
    ):
        return ExitReason.CONVERTED
    if exits.revisit and (
        _at_or_after(lead.reactivated_at, since) or any(_at_or_after(lead.last.get(k), since) for k in REVISIT_KINDS)
    ):
        return ExitReason.REVISITED
    if exits.segment_left and state.segment_id is not None:
        entered = lead.segments.get(state.segment_id)
        if entered is None or entered > since:
            return ExitReason.LEFT_SEGMENT
    return None


def due_at(sequence: Sequence, state: EnrollmentState, index: int, tz: ZoneInfo) -> int:
    """When step ``index`` is due (delay after its anchor; see rule 4)."""
    step = sequence.steps[index]
    before = [r for r in state.steps if r.index < index]
    anchor = state.enrolled_at if step.after == "enrollment" or not before else before[-1].at_ms
    return later(step.delay, anchor, tz) if step.delay else anchor


def opened(record: StepRecord | None, sequence: str, lead: Lead, history: MailHistory) -> bool:
    if record is None:
        return False
    if record.message_id is not None and (record.message_id in history.opened or record.message_id in history.clicked):
        return True
    keys = (f"email_open@campaign:{sequence}", f"email_click@campaign:{sequence}")
    return any(_at_or_after(lead.last.get(k), record.at_ms) for k in keys)


def clicked(record: StepRecord | None, sequence: str, lead: Lead, history: MailHistory) -> bool:
    if record is None:
        return False
    if record.message_id is not None and record.message_id in history.clicked:
        return True
    return _at_or_after(lead.last.get(f"email_click@campaign:{sequence}"), record.at_ms)


def unmet_condition(
    step: Step,
    sequence: Sequence,
    state: EnrollmentState,
    lead: Lead,
    history: MailHistory,
    now_ms: int,
    scoring: ScoringConfig | None,
) -> str | None:
    """Why the step's conditions do not hold, or None when they do."""
    when = step.when
    if when is None:
        return None
    if when.previous is not None:
        previous = state.last_sent
        was_opened = opened(previous, sequence.id, lead, history)
        was_clicked = clicked(previous, sequence.id, lead, history)
        holds = {
            "opened": was_opened,
            "not_opened": not was_opened,
            "clicked": was_clicked,
            "not_clicked": not was_clicked,
        }[when.previous]
        if not holds:
            what = "no mail sent yet" if previous is None else f"the mail of step {previous.index + 1}"
            return f"when.previous: {when.previous} does not hold ({what})"
    if when.band is not None:
        if scoring is None:
            return "when.band: no scoring config to read the band from"
        current = band(lead, scoring, now_ms)
        if current not in when.band:
            return f"when.band: the lead is {current}, not {' / '.join(when.band)}"
    return None


def booked_times(state: EnrollmentState, history: MailHistory, exclude: str) -> list[int]:
    """The lead's mails for the cap: the history plus this enrollment's own sent steps (once)."""
    times = [t for mid, t in history.sent.items() if mid != exclude]
    times += [r.at_ms for r in state.steps if r.outcome == SENT and r.message_id not in history.sent]
    return times


def decide(
    sequence: Sequence,
    state: EnrollmentState,
    lead: Lead,
    history: MailHistory,
    now_ms: int,
    settings: StepmailSettings,
    scoring: ScoringConfig | None = None,
) -> Decision:
    """The next thing to do for this enrollment (module docstring: the rules and their order)."""
    if state.sequence != sequence.id:
        raise ValueError(f"the enrollment is in {state.sequence!r}, not {sequence.id!r}")
    reason = exit_reason(sequence, state, lead)
    if reason is not None:
        return Exit(reason)
    index = state.next_step
    if index >= len(sequence.steps):
        return Done()
    step = sequence.steps[index]
    tz = lead_time_zone(lead, settings.tz)
    due = due_at(sequence, state, index, tz)
    if now_ms >= due:
        unmet = unmet_condition(step, sequence, state, lead, history, now_ms, scoring)
        if unmet is not None:
            return Skip(index, unmet, due)
    window = sequence.window(settings)
    earliest = max(due, now_ms)
    if step.kind == "owner_task":
        return Task(index, step.task or "call", next_send_slot(earliest, window, tz), step.note)
    assert step.template is not None
    mid = message_id(sequence.id, index, state.lead_id, state.enrolled_at)
    send_at = mail_slot(earliest, window, tz, settings.frequency_cap, booked_times(state, history, mid),
                        settings.min_gap)
    return Send(index, step.template, send_at, mid, deferred=send_at > next_send_slot(earliest, window, tz))


def advanced(state: EnrollmentState, decision: Decision, at_ms: int | None = None) -> EnrollmentState:
    """The enrollment after acting on ``decision`` (a Send at ``at_ms``, default its send time)."""
    if isinstance(decision, Exit | Done):
        raise ValueError("the enrollment is over: there is no next step to record")
    if decision.step_index != state.next_step:
        raise ValueError(f"the decision is for step {decision.step_index}, the enrollment is at {state.next_step}")
    if isinstance(decision, Send):
        record = StepRecord(decision.step_index, SENT, decision.send_at_ms if at_ms is None else at_ms,
                            decision.message_id)
    elif isinstance(decision, Task):
        record = StepRecord(decision.step_index, TASK, decision.due_at_ms if at_ms is None else at_ms)
    else:
        record = StepRecord(decision.step_index, SKIPPED, decision.at_ms)
    return replace(state, next_step=state.next_step + 1, steps=(*state.steps, record))


def nominal_schedule(sequence: Sequence, start_ms: int, tz: ZoneInfo) -> list[int]:
    """Each step's due time when every step happens exactly when due (no window, no cap): the
    sequence's shape, for validation and for people."""
    state = EnrollmentState(sequence.id, "", None, start_ms)
    dues: list[int] = []
    for index in range(len(sequence.steps)):
        due = due_at(sequence, state, index, tz)
        dues.append(due)
        state = replace(state, next_step=index + 1, steps=(*state.steps, StepRecord(index, SENT, due)))
    return dues
