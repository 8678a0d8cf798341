"""Enrollments in step-mail sequences and the engine that works them, one step at a time.

An enrollment is one lead in one sequence from one moment (``enrolled_at``): the item
``LEAD#<id> / ENROLL#<sequence>`` (``stepmail_store``) and one Step Functions execution with a
deterministic name (``execution_name``), so a retried or second enrollment cannot start a
second sequence.

``advance`` is what the state machine's two tasks call: with ``act=False`` (Plan) it only plans
— records skipped steps, ends the enrollment on an exit — and answers *wait until T*; with
``act=True`` (SendAndPlan) it also acts on what is due now: it re-runs ``decide`` with the lead
as it is now (consent, suppression and exits re-checked at send time, every time), sends the
mail exactly once (``send_once``), writes owner tasks, and plans the next step.

Exactly once: a mail is claimed (``MAIL#<message id>``, conditional) in the same transaction as the
lead's updated mail log, guarded by the lead's version — so an unsubscribe or bounce recorded
after the lead was read cancels the claim, and two sequences never take the same free place of
the frequency cap. A claim that exists means the step was handled: it is never sent again (at
most once beats twice). An SES error that is certainly not a send (throttling, a 4xx) releases
the claim and raises ``Throttled`` / ``TransientError`` for the state machine's retry; anything
else leaves the claim ``failed`` and raises ``SendFailed`` (recorded on the enrollment).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from reawake.leads import Lead
from reawake.scoring import ScoringConfig
from reawake.sequences import (
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
from reawake.sequences.decide import CONSENT_REASONS, exit_reason

ACTIVE, DONE, EXITED, FAILED = "active", "done", "exited", "failed"
ENROLLED, SKIPPED = "enrolled", "skipped"
MAX_ROUNDS = 50  # decisions in one invocation (steps x conflicts); a sequence has at most 20 steps
EXECUTION_NAME_MAX = 80


class Throttled(Exception):
    """SES throttled the send; nothing was sent (the state machine retries with backoff)."""


class TransientError(Exception):
    """Nothing was sent and trying again later may work (the state machine retries)."""


class SendFailed(Exception):
    """The send may or may not have happened; the claim stays (never sent twice) and the
    enrollment is recorded as failed."""


class NotSent(Exception):
    """Raised by a Mailer: the provider certainly did not send (throttled=True: a rate limit)."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


# --- the enrollment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    lead_id: str
    sequence: str
    enrolled_at: int
    segment_id: str | None = None
    status: str = ACTIVE
    execution_name: str = ""
    steps: tuple[StepRecord, ...] = ()
    reason: str | None = None
    error: str | None = None
    updated_at: int = 0

    @property
    def next_step(self) -> int:
        return len(self.steps)

    def state(self) -> EnrollmentState:
        return EnrollmentState(self.sequence, self.lead_id, self.segment_id, self.enrolled_at, self.next_step,
                               self.steps)

    def ref(self) -> dict[str, Any]:
        """What the execution carries: enough to find the enrollment again."""
        return {"lead_id": self.lead_id, "sequence": self.sequence, "enrolled_at": self.enrolled_at}


def execution_name(sequence: str, lead_id: str, enrolled_at: int) -> str:
    """``<sequence>-<lead_id>-<enrolled_at>``: Step Functions refuses a second execution with the
    same name, so a retried start of the same enrollment is a no-op. Sanitized; a name over 80
    characters keeps its start and ends in a hash."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"{sequence}-{lead_id}-{enrolled_at}")
    if len(name) <= EXECUTION_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: EXECUTION_NAME_MAX - 17]}-{digest}"


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


class StaleLead(Exception):
    """The lead changed since it was read: read it again and decide again."""


class ClaimExists(Exception):
    def __init__(self, claim: Claim | None) -> None:
        super().__init__("the message was claimed before")
        self.claim = claim


class EnrollmentStore(Protocol):
    def get_lead(self, lead_id: str) -> Lead | None: ...

    def get_enrollment(self, lead_id: str, sequence: str) -> Enrollment | None: ...

    def create_enrollment(self, enrollment: Enrollment) -> bool:
        """Write a new active enrollment unless one is active, or this entry was enrolled before."""

    def save_progress(self, enrollment: Enrollment, expected_steps: int) -> bool:
        """Write the enrollment if it is still active at ``expected_steps`` steps (False otherwise)."""

    def claim_mail(self, lead: Lead, claim: Claim) -> None:
        """The claim and the lead (with its new mail log) at once; StaleLead / ClaimExists."""

    def get_claim(self, lead_id: str, message_id: str) -> Claim | None: ...

    def mark_claim(self, claim: Claim, status: str, ses_message_id: str | None = None,
                   error: str | None = None) -> None: ...

    def release_claim(self, claim: Claim) -> None:
        """Delete the claim and take it out of the lead's mail log (nothing was sent)."""

    def put_task(self, task: OwnerTask) -> bool: ...


class Starter(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Start the state machine; False when an execution of that name exists already."""


@dataclass(frozen=True)
class Outgoing:
    raw: bytes
    to: str
    subject: str


class Mailer(Protocol):
    def compose(self, lead: Lead, sequence: Sequence, send: Send, now_ms: int) -> Outgoing: ...

    def deliver(self, outgoing: Outgoing, tags: dict[str, str]) -> str:
        """Send; the provider's message id. Raises NotSent when it certainly did not send."""


# --- enrolling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollOutcome:
    status: str  # enrolled | skipped
    reason: str | None = None
    execution_name: str | None = None


def refusal(lead: Lead, sequence: Sequence | None, sequence_id: str, enrolled_at: int) -> str | None:
    """Why the lead cannot be enrolled at all (unknown sequence, no consent), or None."""
    if sequence is None:
        return f"unknown sequence {sequence_id!r}"
    state = EnrollmentState(sequence.id, lead.lead_id, None, enrolled_at)
    reason = exit_reason(sequence, state, lead)
    if reason is not None and reason in CONSENT_REASONS:
        return str(reason)
    return None


def enroll(
    store: EnrollmentStore,
    starter: Starter,
    sequences: Mapping[str, Sequence],
    lead: Lead,
    sequence_id: str,
    segment_id: str | None,
    enrolled_at: int,
    now_ms: int,
) -> EnrollOutcome:
    """Enroll the lead (idempotent for one ``enrolled_at``): the enrollment item first, on condition
    that the lead is not active in the sequence, then the execution under its deterministic name."""
    sequence = sequences.get(sequence_id)
    why = refusal(lead, sequence, sequence_id, enrolled_at)
    if why is not None:
        return EnrollOutcome(SKIPPED, why)
    name = execution_name(sequence_id, lead.lead_id, enrolled_at)
    enrollment = Enrollment(lead.lead_id, sequence_id, enrolled_at, segment_id, ACTIVE, name, updated_at=now_ms)
    note = None
    if not store.create_enrollment(enrollment):
        existing = store.get_enrollment(lead.lead_id, sequence_id)
        if existing is None or existing.enrolled_at != enrolled_at or existing.status != ACTIVE:
            when = f" since {existing.enrolled_at}" if existing is not None else ""
            state = existing.status if existing is not None else "enrolled"
            return EnrollOutcome(SKIPPED, f"already in the sequence ({state}{when})")
        # The same enrollment again (a retried dispatch): make sure its execution runs.
        note = "already running"
    starter.start(name, enrollment.ref())
    return EnrollOutcome(ENROLLED, note, name)


# --- the engine --------------------------------------------------------------------------------------


@dataclass
class Engine:
    store: EnrollmentStore
    mailer: Mailer
    sequences: Callable[[], Mapping[str, Sequence]]
    settings: Callable[[], StepmailSettings]
    scoring: Callable[[], ScoringConfig | None]
    now_ms: Callable[[], int]
    log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None

    def advance(self, lead_id: str, sequence_id: str, enrolled_at: int, act: bool) -> dict[str, Any]:
        """Plan (act=False) or act on what is due and plan (act=True). Returns the state machine's
        next input: ``{"action": "wait", "wait_until": ISO, ...}`` or ``{"action": "done"|"exit"|
        "stopped", ...}`` with the enrollment's reference."""
        ref = {"lead_id": lead_id, "sequence": sequence_id, "enrolled_at": enrolled_at}
        for _ in range(MAX_ROUNDS):
            enrollment = self.store.get_enrollment(lead_id, sequence_id)
            if enrollment is None or enrollment.enrolled_at != enrolled_at:
                return {**ref, "action": "stopped", "reason": "the enrollment no longer exists"}
            if enrollment.status != ACTIVE:
                return {**ref, "action": "stopped", "reason": enrollment.status}
            lead = self.store.get_lead(lead_id)
            sequence = self.sequences().get(sequence_id)
            if lead is None or sequence is None:
                why = "the lead no longer exists" if lead is None else f"unknown sequence {sequence_id!r}"
                return self._finish(enrollment, FAILED if sequence is None else EXITED, why, ref)
            now = self.now_ms()
            settings = self.settings()
            decision = decide(sequence, enrollment.state(), lead, MailHistory(sent=dict(lead.mail_log)), now,
                              settings, self.scoring())
            if isinstance(decision, Exit):
                return self._finish(enrollment, EXITED, str(decision.reason), ref)
            if isinstance(decision, Done):
                return self._finish(enrollment, DONE, None, ref)
            if isinstance(decision, Skip):
                self._record(enrollment, advanced(enrollment.state(), decision), now)
                continue
            at = decision.send_at_ms if isinstance(decision, Send) else decision.due_at_ms
            if not act or not is_due(decision, now):
                return {**ref, "action": "wait", "wait_until": wait_timestamp(at), "step": decision.step_index}
            if isinstance(decision, Task):
                self._task(lead, sequence, enrollment, decision, now)
                self._record(enrollment, advanced(enrollment.state(), decision), now)
                continue
            record_at = self.send_once(lead, sequence, decision, settings, now)
            if record_at is not None:
                self._record(enrollment, advanced(enrollment.state(), decision, record_at), now)
        raise TransientError("the enrollment kept changing; trying again later")

    def send_once(self, lead: Lead, sequence: Sequence, send: Send, settings: StepmailSettings,
                  now: int) -> int | None:
        """Send the mail unless it was claimed before; the time to record it at (None: the lead
        changed, decide again)."""
        outgoing = self.mailer.compose(lead, sequence, send, now)
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
            provider_id = self.mailer.deliver(outgoing, tags)
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

    def fail(self, lead_id: str, sequence_id: str, enrolled_at: int, error: str) -> dict[str, Any]:
        ref = {"lead_id": lead_id, "sequence": sequence_id, "enrolled_at": enrolled_at}
        enrollment = self.store.get_enrollment(lead_id, sequence_id)
        if enrollment is None or enrollment.enrolled_at != enrolled_at or enrollment.status != ACTIVE:
            return {**ref, "action": "stopped", "reason": "not active"}
        updated = replace(enrollment, status=FAILED, error=error[:1000], updated_at=self.now_ms())
        self.store.save_progress(updated, enrollment.next_step)
        self.log("enrollment failed", {"lead_id": lead_id, "sequence": sequence_id, "error": error[:300]})
        return {**ref, "action": "failed"}

    # --- helpers ------------------------------------------------------------------------------------

    def _finish(self, enrollment: Enrollment, status: str, reason: str | None, ref: dict[str, Any]) \
            -> dict[str, Any]:
        updated = replace(enrollment, status=status, reason=reason, updated_at=self.now_ms())
        self.store.save_progress(updated, enrollment.next_step)
        self.log("enrollment ended", {"lead_id": enrollment.lead_id, "sequence": enrollment.sequence,
                                      "status": status, "reason": reason})
        return {**ref, "action": "exit" if status == EXITED else status, "reason": reason}

    def _record(self, enrollment: Enrollment, state: EnrollmentState, now: int) -> None:
        """Save a handled step; a lost race (a replayed invocation got there first) is fine: the
        caller reads the enrollment again."""
        updated = replace(enrollment, steps=state.steps, updated_at=now)
        self.store.save_progress(updated, enrollment.next_step)

    def _task(self, lead: Lead, sequence: Sequence, enrollment: Enrollment, task: Task, now: int) -> None:
        step = sequence.steps[task.step_index]
        task_id = message_id(sequence.id, task.step_index, lead.lead_id, enrollment.enrolled_at)
        created = self.store.put_task(OwnerTask(lead.lead_id, task_id, sequence.id, task.step_index, task.kind,
                                                task.due_at_ms, lead.owner, task.note or step.note, now,
                                                enrollment.segment_id))
        self.log("owner task " + ("created" if created else "existed already"),
                 {"lead_id": lead.lead_id, "task_id": task_id})


def pruned_mail_log(log: Mapping[str, int], now_ms: int, settings: StepmailSettings, tz: Any) -> dict[str, int]:
    """The mails the frequency cap can still see at ``now`` (and any sent later than now)."""
    cap = settings.frequency_cap
    if cap is None:
        return {k: v for k, v in log.items() if v >= now_ms}
    return {k: v for k, v in log.items() if later(cap.per, v, tz) > now_ms}


def wait_timestamp(ms: int) -> str:
    """ISO 8601 for a Wait state's TimestampPath, rounded up to the second (Step Functions reads
    whole seconds: rounding down would wake the execution just before the slot)."""
    seconds = -(-ms // 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
