"""Enrolling leads in sequences, for the segment function (its ``sequence`` / ``owner_task``
approaches, through the ``segments.run.Enroller`` port) and the CLI (``reawake sequences start``):
one conditional write each, no Step Functions call. The caller owns the adapters' cache."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from reawake.core.approaches import PENDING, Approach
from reawake.core.leads import Lead
from reawake.core.store import Store
from reawake.stepmail.enrollment import SKIPPED, enroll
from reawake.stepmail.store import SequenceConfig, StepmailStore

logger = Logger(child=True)


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
            status, reason = SKIPPED, "the approach names no sequence"
        else:
            status, reason = self.enroll(lead, approach.sequence, approach.segment_id, approach.entered_at, now_ms)
        self.stepmail.set_approach_status(approach.lead_id, approach.key, status, reason, now_ms)
        return status


def sequence_enroller(table: Store, config_bucket: str) -> SequenceEnroller:
    """An enroller over this table and the sequences in this config bucket."""
    return SequenceEnroller(StepmailStore(table), SequenceConfig(config_bucket))
