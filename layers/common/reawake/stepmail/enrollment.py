"""Enrollments in step-mail sequences and the engine that works them, one due step at a time.

An enrollment is one lead in one sequence from one moment (``enrolled_at``): the item
``LEAD#<id> / ENROLL#<sequence>`` (``stepmail_store``). While it is active it carries the time its
next step is due (``due_at``), which puts it in the sparse ``due`` index that the send-slot state
machine reads every few minutes (``reawake.stepmail.slot``). Nothing waits per lead: no execution, no
thread, no timer — only an item with a time.

``enroll`` writes the enrollment once per lead × sequence × entry (a conditional write) with the
time of its first step, from ``decide``. ``Engine.work`` is what a send slot does for one due
enrollment at the slot's ``now``: it re-runs ``decide`` with the lead as it is now (consent,
suppression and exits re-checked at send time, every time), sends the mail exactly once
(``send_once``), writes owner tasks, and writes the next due time (or the end).

Exactly once: a mail is claimed (``MAIL#<message id>``, conditional) in the same transaction as the
lead's updated mail log, guarded by the lead's version — so an unsubscribe or bounce recorded
after the lead was read cancels the claim, and two sequences never take the same free place of
the frequency cap or the minimum gap. A claim that exists means the step was handled: it is never
sent again (at most once beats twice). An SES error that is certainly not a send (throttling, a
4xx) releases the claim and raises ``Throttled`` / ``TransientError`` (the slot retries the
enrollment later, with backoff); anything else leaves the claim ``failed`` and raises
``SendFailed`` (the enrollment is recorded as failed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeGuard

from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig
from reawake.mail.mailer import Mailer, NotSent, Outgoing
from reawake.stepmail.sequences import (
    Decision,
    Done,
    EnrollmentState,
    Exit,
    MailHistory,
    Send,
    Sequence,
    Skip,
    StepmailSettings,
    StepRecord,
    Task,
    advanced,
    decide,
    is_due,
    later,
    lead_time_zone,
    message_id,
)
from reawake.stepmail.sequences.decide import CONSENT_REASONS, exit_reason

ACTIVE, DONE, EXITED, FAILED = "active", "done", "exited", "failed"
ENROLLED, SKIPPED = "enrolled", "skipped"
MAX_ROUNDS = 50  # decisions for one enrollment in one slot (steps x conflicts); at most 20 steps


class Throttled(Exception):
    """SES throttled the send; nothing was sent (the slot retries the enrollment later, with backoff)."""


class TransientError(Exception):
    """Nothing was sent and trying again later may work (retried later, with backoff)."""


class SendFailed(Exception):
    """The send may or may not have happened; the claim stays (never sent twice) and the
    enrollment is recorded as failed."""


# --- the enrollment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    lead_id: str
    sequence: str
    enrolled_at: int
    segment_id: str | None = None
    status: str = ACTIVE
    steps: tuple[StepRecord, ...] = ()
    reason: str | None = None
    error: str | None = None
    updated_at: int = 0
    due_at: int | None = None  # when the next step is due (active enrollments only)
    attempts: int = 0  # failed tries of the step due now (retried with backoff, then failed)

    @property
    def next_step(self) -> int:
        return len(self.steps)

    def state(self) -> EnrollmentState:
        return EnrollmentState(self.sequence, self.lead_id, self.segment_id, self.enrolled_at, self.next_step,
                               self.steps)

    def ref(self) -> dict[str, Any]:
        """Enough to find the enrollment again."""
        return {"lead_id": self.lead_id, "sequence": self.sequence, "enrolled_at": self.enrolled_at}


@dataclass(frozen=True)
class Claim:
    lead_id: str
    message_id: str
    sequence: str
    step_index: int
    claimed_at: int
    status: str = "claimed"  # claimed | sent | failed
    ses_message_id: str | None = None


@dataclass(frozen=True)
class OwnerTask:
    lead_id: str
    task_id: str  # the step's message id
    sequence: str
    step_index: int
    kind: str
    due_at: int
    owner: str | None
    note: str | None
    created_at: int
    segment_id: str | None = None  # the definition whose approach started the sequence


@dataclass(frozen=True)
class Known:
    """An enrollment and its lead as a batched read found them (``EnrollmentStore.read_batch``):
    the first decision of ``Engine.work`` starts from them instead of two reads of its own. Only
    a start: every write is conditional, so a lead or an enrollment that changed since is caught
    by its write and read again. ``lead`` None: not found by id (read again, by ``get_lead``)."""

    enrollment: Enrollment | None
    lead: Lead | None


class StaleLead(Exception):
    """The lead changed since it was read: read it again and decide again."""


class ClaimExists(Exception):
    def __init__(self, claim: Claim | None) -> None:
        super().__init__("the message was claimed before")
        self.claim = claim


class EnrollmentStore(Protocol):
    def get_lead(self, lead_id: str) -> Lead | None: ...

    def get_enrollment(self, lead_id: str, sequence: str) -> Enrollment | None: ...

    def read_batch(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], Known]:
        """The enrollments (lead id, sequence) of a batch and their leads, in a few batched
        consistent reads."""

    def create_enrollment(self, enrollment: Enrollment) -> bool:
        """Write a new active enrollment unless one is active, or this entry was enrolled before."""

    def save_progress(self, enrollment: Enrollment, expected_steps: int) -> bool:
        """Write the enrollment (its steps, status and due time) if it is still active at
        ``expected_steps`` steps (False otherwise)."""

    def claim_mail(self, lead: Lead, claim: Claim) -> None:
        """The claim and the lead (with its new mail log) at once; StaleLead / ClaimExists."""

    def get_claim(self, lead_id: str, message_id: str) -> Claim | None: ...

    def mark_claim(self, claim: Claim, status: str, ses_message_id: str | None = None,
                   error: str | None = None) -> None: ...

    def release_claim(self, claim: Claim) -> None:
        """Delete the claim and take it out of the lead's mail log (nothing was sent)."""

    def put_task(self, task: OwnerTask) -> bool: ...

    def mark_deferred(self, lead_id: str, sequence: str, step_index: int, message_id: str, at_ms: int) -> bool:
        """Note once per enrollment step (per message id) that the cap or the gap deferred its mail,
        counting it in the reports; False when it was noted before."""


class Composer(Protocol):
    def compose(self, lead: Lead, sequence: Sequence, send: Send, now_ms: int) -> Outgoing:
        """The step's mail to the lead, ready for the ``Mailer`` (``reawake.mail.mailer``)."""


# --- enrolling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollOutcome:
    status: str  # enrolled | skipped
    reason: str | None = None
    due_at: int | None = None


def refusal(lead: Lead, sequence: Sequence | None, sequence_id: str, enrolled_at: int) -> str | None:
    """Why the lead cannot be enrolled at all (unknown sequence, no consent), or None."""
    if sequence is None:
        return f"unknown sequence {sequence_id!r}"
    state = EnrollmentState(sequence.id, lead.lead_id, None, enrolled_at)
    reason = exit_reason(sequence, state, lead)
    if reason is not None and reason in CONSENT_REASONS:
        return str(reason)
    return None


def next_due(decision: Decision, now_ms: int) -> int:
    """When a send slot should look at the enrollment again: a planned mail's send time, a task's
    due time, or now (a skip, an exit or the end is handled by the next slot)."""
    if isinstance(decision, Send):
        return decision.send_at_ms
    if isinstance(decision, Task):
        return decision.due_at_ms
    return now_ms


def first_step(
    sequences: Mapping[str, Sequence],
    lead: Lead,
    sequence_id: str,
    segment_id: str | None,
    enrolled_at: int,
    now_ms: int,
    settings: StepmailSettings,
    scoring: ScoringConfig | None = None,
) -> tuple[Enrollment, Decision] | str:
    """The new enrollment with its first due time, and the first decision it came from (``decide``);
    or why the lead cannot be enrolled. Pure: ``enroll`` writes it, and so does the segment run in
    its membership transaction (``reawake.stepmail.enroller.SequenceEnroller.hand_over``)."""
    sequence = sequences.get(sequence_id)
    why = refusal(lead, sequence, sequence_id, enrolled_at)
    if why is not None or sequence is None:
        return why or f"unknown sequence {sequence_id!r}"
    fresh = Enrollment(lead.lead_id, sequence_id, enrolled_at, segment_id, ACTIVE, updated_at=now_ms)
    decision = decide(sequence, fresh.state(), lead, MailHistory(sent=dict(lead.mail_log)), now_ms, settings, scoring)
    return replace(fresh, due_at=next_due(decision, now_ms)), decision


def enroll(
    store: EnrollmentStore,
    sequences: Mapping[str, Sequence],
    lead: Lead,
    sequence_id: str,
    segment_id: str | None,
    enrolled_at: int,
    now_ms: int,
    settings: StepmailSettings,
    scoring: ScoringConfig | None = None,
) -> EnrollOutcome:
    """Enroll the lead (idempotent for one ``enrolled_at``): one conditional write of the
    enrollment with its first step's due time, unless the lead is active in the sequence. No
    Step Functions call: the next send slot at or after the due time picks it up."""
    planned = first_step(sequences, lead, sequence_id, segment_id, enrolled_at, now_ms, settings, scoring)
    if isinstance(planned, str):
        return EnrollOutcome(SKIPPED, planned)
    enrollment, decision = planned
    if store.create_enrollment(enrollment):
        note_deferral(store, enrollment, decision, now_ms)
        return EnrollOutcome(ENROLLED, None, enrollment.due_at)
    existing = store.get_enrollment(lead.lead_id, sequence_id)
    if existing is None or existing.enrolled_at != enrolled_at or existing.status != ACTIVE:
        when = f" since {existing.enrolled_at}" if existing is not None else ""
        state = existing.status if existing is not None else "enrolled"
        return EnrollOutcome(SKIPPED, f"already in the sequence ({state}{when})")
    return EnrollOutcome(ENROLLED, "already enrolled", existing.due_at)  # a retried dispatch


# --- the engine --------------------------------------------------------------------------------------


@dataclass
class Engine:
    store: EnrollmentStore
    composer: Composer
    mailer: Mailer
    sequences: Callable[[], Mapping[str, Sequence]]
    settings: Callable[[], StepmailSettings]
    scoring: Callable[[], ScoringConfig | None]
    log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None

    def work(self, lead_id: str, sequence_id: str, now: int, known: Known | None = None) -> str:
        """What a send slot at ``now`` does for one enrollment: decide with the lead as it is now,
        act on what is due (skips, tasks, at most one mail), and write the next due time or the
        end. Safe to repeat (a replayed slot, a retried batch, two overlapping slot runs): an
        enrollment not due at ``now`` is left alone, and a mail claimed before is never sent
        again. Returns the outcome: sent | task | planned | done | exited | failed | not_due |
        stopped. ``known``: the enrollment and lead as the batch read them (the first round
        starts from them; later rounds, after a write lost a race, read afresh)."""
        outcome = "planned"
        for _ in range(MAX_ROUNDS):
            enrollment = known.enrollment if known is not None else self.store.get_enrollment(lead_id, sequence_id)
            if enrollment is None or enrollment.status != ACTIVE:
                return "stopped" if outcome == "planned" else outcome
            if enrollment.due_at is not None and enrollment.due_at > now:
                return "not_due" if outcome == "planned" else outcome
            lead = known.lead if known is not None and known.lead is not None else self.store.get_lead(lead_id)
            known = None
            sequence = self.sequences().get(sequence_id)
            if lead is None or sequence is None:
                why = "the lead no longer exists" if lead is None else f"unknown sequence {sequence_id!r}"
                status = FAILED if sequence is None else EXITED
                self._finish(enrollment, status, why, now)
                return status
            settings = self.settings()
            decision = decide(sequence, enrollment.state(), lead, MailHistory(sent=dict(lead.mail_log)), now,
                              settings, self.scoring())
            if isinstance(decision, Exit):
                self._finish(enrollment, EXITED, str(decision.reason), now)
                return EXITED if outcome == "planned" else outcome
            if isinstance(decision, Done):
                self._finish(enrollment, DONE, None, now)
                return outcome if outcome != "planned" else DONE
            if isinstance(decision, Skip):
                self._record(enrollment, advanced(enrollment.state(), decision), now)
                continue
            if not is_due(decision, now):
                self._plan(enrollment, next_due(decision, now), now)
                note_deferral(self.store, enrollment, decision, now)
                return outcome
            if isinstance(decision, Task):
                self._task(lead, sequence, enrollment, decision, now)
                self._record(enrollment, advanced(enrollment.state(), decision), now)
                outcome = "task"
                continue
            if outcome == "sent":
                # One mail per person per slot: the next step waits for the next slot (the minimum
                # gap usually puts it days later anyway).
                self._plan(enrollment, now + 1, now)
                return outcome
            record_at = self.send_once(lead, sequence, decision, settings, now)
            if record_at is None:
                continue  # the lead changed under us: read it again
            outcome = "sent"
            state = advanced(enrollment.state(), decision, record_at)
            after = replace(lead, mail_log={**lead.mail_log, decision.message_id: record_at})
            following = decide(sequence, state, after, MailHistory(sent=dict(after.mail_log)), now, settings,
                               self.scoring())
            if isinstance(following, Send | Task) and not is_due(following, now):
                # The usual case: the sent step and the next due time in one write.
                self.store.save_progress(replace(enrollment, steps=state.steps, due_at=next_due(following, now),
                                                 attempts=0, error=None, updated_at=now), enrollment.next_step)
                note_deferral(self.store, enrollment, following, now)
                return outcome
            self._record(enrollment, state, now)
        raise TransientError("the enrollment kept changing; trying again later")

    def retry_later(self, lead_id: str, sequence_id: str, now: int, error: str,
                    delay_ms: Callable[[int], int]) -> int | None:
        """Count a failed try and move the enrollment's due time ``delay_ms(attempts)`` ahead; the
        attempts so far (None when it is no longer active)."""
        enrollment = self.store.get_enrollment(lead_id, sequence_id)
        if enrollment is None or enrollment.status != ACTIVE:
            return None
        attempts = enrollment.attempts + 1
        updated = replace(enrollment, attempts=attempts, error=error[:1000], due_at=now + delay_ms(attempts),
                          updated_at=now)
        self.store.save_progress(updated, enrollment.next_step)
        return attempts

    def send_once(self, lead: Lead, sequence: Sequence, send: Send, settings: StepmailSettings,
                  now: int) -> int | None:
        """Send the mail unless it was claimed before; the time to record it at (None: the lead
        changed, decide again)."""
        outgoing = self.composer.compose(lead, sequence, send, now)
        tz = lead_time_zone(lead, settings.tz)
        log = pruned_mail_log(lead.mail_log, now, settings, tz)
        log[send.message_id] = now
        claim = Claim(lead.lead_id, send.message_id, sequence.id, send.step_index, now)
        try:
            self.store.claim_mail(replace(lead, mail_log=log), claim)
        except StaleLead:
            return None
        except ClaimExists as exists:
            found = exists.claim
            self.log("step already handled: not sent again",
                     {"lead_id": lead.lead_id, "message_id": send.message_id,
                      "claim": found.status if found else "unknown"})
            return found.claimed_at if found is not None else now
        tags = {"message_id": send.message_id.replace(":", "."), "lead_id": lead.lead_id, "sequence": sequence.id}
        try:
            provider_id = self.mailer.send(outgoing, tags)
        except NotSent as exc:
            self.store.release_claim(claim)
            self.log("send refused, claim released", {"lead_id": lead.lead_id, "message_id": send.message_id,
                                                      "error": str(exc), "throttled": exc.throttled})
            raise (Throttled if exc.throttled else TransientError)(str(exc)) from exc
        except Exception as exc:
            self.store.mark_claim(claim, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        self.store.mark_claim(claim, "sent", provider_id)
        self.log("mail sent", {"lead_id": lead.lead_id, "message_id": send.message_id, "ses_message_id": provider_id})
        return now

    def fail(self, lead_id: str, sequence_id: str, now: int, error: str) -> bool:
        """Record the enrollment as failed (it leaves the due index); False when not active."""
        enrollment = self.store.get_enrollment(lead_id, sequence_id)
        if enrollment is None or enrollment.status != ACTIVE:
            return False
        updated = replace(enrollment, status=FAILED, error=error[:1000], due_at=None, updated_at=now)
        self.store.save_progress(updated, enrollment.next_step)
        self.log("enrollment failed", {"lead_id": lead_id, "sequence": sequence_id, "error": error[:300]})
        return True

    # --- helpers ------------------------------------------------------------------------------------

    def _finish(self, enrollment: Enrollment, status: str, reason: str | None, now: int) -> None:
        updated = replace(enrollment, status=status, reason=reason, due_at=None, updated_at=now)
        self.store.save_progress(updated, enrollment.next_step)
        self.log("enrollment ended", {"lead_id": enrollment.lead_id, "sequence": enrollment.sequence,
                                      "status": status, "reason": reason})

    def _record(self, enrollment: Enrollment, state: EnrollmentState, now: int) -> None:
        """Save a handled step (due now: the next decision plans the step after it); a lost race
        (a replayed batch got there first) is fine: the caller reads the enrollment again."""
        updated = replace(enrollment, steps=state.steps, due_at=min(enrollment.due_at or now, now), attempts=0,
                          error=None, updated_at=now)
        self.store.save_progress(updated, enrollment.next_step)

    def _plan(self, enrollment: Enrollment, due_at: int, now: int) -> None:
        if enrollment.due_at == due_at and not enrollment.attempts:
            return  # already planned (a replayed slot): no write
        self.store.save_progress(replace(enrollment, due_at=due_at, attempts=0, error=None, updated_at=now),
                                 enrollment.next_step)

    def _task(self, lead: Lead, sequence: Sequence, enrollment: Enrollment, task: Task, now: int) -> None:
        step = sequence.steps[task.step_index]
        task_id = message_id(sequence.id, task.step_index, lead.lead_id, enrollment.enrolled_at)
        created = self.store.put_task(OwnerTask(lead.lead_id, task_id, sequence.id, task.step_index, task.kind,
                                                task.due_at_ms, lead.owner, task.note or step.note, now,
                                                enrollment.segment_id))
        self.log("owner task " + ("created" if created else "existed already"),
                 {"lead_id": lead.lead_id, "task_id": task_id})


def note_deferral(store: EnrollmentStore, enrollment: Enrollment, decision: Decision, now_ms: int) -> None:
    """A planned mail the frequency cap or the minimum gap moved later: counted once per step
    (``mark_deferred`` is a conditional write, so re-deciding the same step in later slots or a
    replayed slot does not count it again)."""
    if deferred(decision, now_ms):
        store.mark_deferred(enrollment.lead_id, enrollment.sequence, decision.step_index, decision.message_id,
                            now_ms)


def deferred(decision: Decision, now_ms: int) -> TypeGuard[Send]:
    """A planned mail the frequency cap or the minimum gap moved later (noted once per step)."""
    return isinstance(decision, Send) and decision.deferred and decision.send_at_ms > now_ms


def pruned_mail_log(log: Mapping[str, int], now_ms: int, settings: StepmailSettings, tz: Any) -> dict[str, int]:
    """The mails the frequency cap or the minimum gap can still see at ``now`` (and any later)."""
    spans = [d for d in (settings.frequency_cap.per if settings.frequency_cap else None, settings.min_gap) if d]
    return {k: v for k, v in log.items() if v >= now_ms or any(later(d, v, tz) > now_ms for d in spans)}
