"""Enrolling leads in sequences, for the segment function (its ``sequence`` / ``owner_task``
approaches, through the ``segments.run.Enroller`` port) and the CLI (``reawake sequences start``):
one conditional write each, no Step Functions call. The caller owns the adapters' cache.

A segment run hands most approaches over inside its membership transaction (``hand_over``: the
enrollment decided from the lead as the run scanned it, written with the membership, the approach
written settled): one call per entering lead. What cannot be decided there goes the older way:
the approach is written ``pending`` with the lead's pending marker and ``dispatch`` enrolls it
right after (and the next run retries what that left).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger

from reawake.core.approaches import PENDING, Approach, Handover
from reawake.core.dynamo import value
from reawake.core.leads import Lead
from reawake.core.store import Store
from reawake.stepmail.enrollment import ENROLLED, SKIPPED, deferred, enroll, first_step
from reawake.stepmail.sequences.calendar import TIME_ZONE_ATTRS
from reawake.stepmail.sequences.decide import REVISIT_KINDS
from reawake.stepmail.store import SequenceConfig, StepmailStore

logger = Logger(child=True)
NO_SEQUENCE = "the approach names no sequence"

# What deciding a first step reads of a lead and a segment run's scan does not carry (the
# ``lead_facts`` index leaves them out): assumed as most leads have them — no consent record
# refusing mail, no mail in the frequency cap's window — and checked by the membership update.
UNSCANNED = ("(attribute_not_exists(#consent.#marketing) OR #consent.#marketing <> :refused) AND "
             "(attribute_not_exists(#mail_log) OR size(#mail_log) = :none)")
UNSCANNED_NAMES = {"#consent": "consent", "#marketing": "marketing_email", "#mail_log": "mail_log"}
UNSCANNED_VALUES: dict[str, Any] = {":refused": value(False), ":none": value(0)}


class SequenceEnroller:
    """Enrolls leads in sequences (``enrollment.enroll``) with the sequences, the step-mail settings
    and the scoring of the config bucket."""

    def __init__(self, stepmail: StepmailStore, sequences: SequenceConfig) -> None:
        self.stepmail = stepmail
        self.config = sequences

    def enroll(self, lead: Lead, sequence_id: str, segment_id: str | None, enrolled_at: int,
               now_ms: int) -> tuple[str, str | None]:
        outcome = enroll(self.stepmail, self.config.sequences(), lead, sequence_id, segment_id, enrolled_at, now_ms,
                         self.config.settings(), self.config.scoring())
        logger.info("enrollment", extra={"lead_id": lead.lead_id, "sequence": sequence_id,
                                         "status": outcome.status, "reason": outcome.reason})
        return outcome.status, outcome.reason

    def dispatch(self, lead: Lead, approach: Approach, now_ms: int) -> str:
        """A segment run's ``sequence`` / ``owner_task`` approach: enroll the lead in the named
        sequence from the moment it entered the segment, and record the outcome on the approach."""
        if approach.type not in ("sequence", "owner_task") or approach.status != PENDING:
            return approach.status
        reason: str | None
        if not approach.sequence:
            status, reason = SKIPPED, NO_SEQUENCE
        else:
            status, reason = self.enroll(lead, approach.sequence, approach.segment_id, approach.entered_at, now_ms)
        self.stepmail.set_approach_status(approach.lead_id, approach.key, status, reason, now_ms)
        return status

    def reads(self, sequence_ids: Iterable[str]) -> list[tuple[str, ...]]:
        """The lead paths deciding a first step of these sequences reads (``decide``: consent and
        suppression, the exits, the lead's time zone, the band), for the run's projection."""
        sequences = self.config.sequences()
        kinds = set(REVISIT_KINDS)
        for sequence_id in sequence_ids:
            if sequence_id in sequences:
                kinds.update(sequences[sequence_id].exit.conversion)
        paths: list[tuple[str, ...]] = [("suppressed",), ("unsubscribed_at",), ("converted_at",), ("reactivated_at",),
                                        ("score",), ("score_at",), ("segments",)]
        paths += [("attrs", key) for key in TIME_ZONE_ATTRS]
        paths += [("last", kind) for kind in sorted(kinds)]
        return paths

    def hand_over(self, lead: Lead, approach: Approach, now_ms: int, whole: bool) -> Handover | None:
        """The approach settled with the membership write: skipped with its reason, or enrolled with
        the enrollment's conditional put and its ``enrolled`` count. ``lead``: as the run read it
        (``whole``: every attribute; else the run's projection, and the consent and mail log it
        leaves out are assumed by the handover's condition). None: settle it the pending way (a
        first mail the cap or the gap defers is noted by ``enroll``, once)."""
        if approach.type not in ("sequence", "owner_task") or approach.status != PENDING:
            return None
        assumes: dict[str, Any] = {} if whole else {"assumes": UNSCANNED, "names": UNSCANNED_NAMES,
                                                    "values": UNSCANNED_VALUES}
        if not approach.sequence:
            return Handover(SKIPPED, NO_SEQUENCE, **assumes)
        planned = first_step(self.config.sequences(), lead, approach.sequence, approach.segment_id,
                             approach.entered_at, now_ms, self.config.settings(), self.config.scoring())
        if isinstance(planned, str):
            return Handover(SKIPPED, planned, **assumes)
        enrollment, decision = planned
        if deferred(decision, now_ms):
            return None
        return Handover(ENROLLED, None, (self.stepmail.new_enrollment_put(enrollment),),
                        counts=(self.stepmail.enrolled_count(enrollment),), **assumes)


def sequence_enroller(table: Store, config_bucket: str) -> SequenceEnroller:
    """An enroller over this table and the sequences in this config bucket."""
    return SequenceEnroller(StepmailStore(table), SequenceConfig(config_bucket))
