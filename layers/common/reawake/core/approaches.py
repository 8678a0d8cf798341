"""The approach record: what a segment run decided for a lead that entered a definition, handed
over to the feature that acts on it (``watch``: the revisit alerts; ``sequence`` / ``owner_task``:
step mail and the owners' call lists). The segment run writes it (``reawake.segments.approaches``
decides it); step mail settles it in the same transaction (a ``Handover``), or enrolls the lead
right after and records the outcome on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reawake.core.counting import Bump

WATCHING = "watching"
PENDING = "pending"
HOLDOUT = "holdout"  # kept out for the report's comparison: recorded, never dispatched


@dataclass(frozen=True)
class Approach:
    lead_id: str
    segment_id: str
    entered_at: int
    type: str  # watch | sequence | owner_task
    sequence: str | None
    status: str

    @property
    def key(self) -> str:
        return f"{self.segment_id}#{self.entered_at}"


@dataclass(frozen=True)
class Handover:
    """A ``sequence`` / ``owner_task`` approach settled inside the segment run's membership
    transaction (one call per entering lead, no pending marker): the approach's final status and
    reason, the conditional writes that settle it (the enrollment: once per lead × sequence), what
    the decision assumed of the profile beyond what the run read (a condition added to the
    membership update: ``assumes``, with its ``names`` and ``values``), and the report counts to add
    once the transaction succeeded. Built by step mail (``reawake.stepmail.enroller``), written by
    the segment run's store."""

    status: str
    reason: str | None = None
    writes: tuple[dict[str, Any], ...] = ()
    assumes: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    counts: tuple[Bump, ...] = ()
