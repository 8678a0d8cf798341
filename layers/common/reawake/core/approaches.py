"""The approach record: what a segment run decided for a lead that entered a definition, handed
over to the feature that acts on it (``watch``: the revisit alerts; ``sequence`` / ``owner_task``:
step mail and the owners' call lists). The segment run writes it (``reawake.segments.approaches``
decides it), step mail enrolls the lead and records the outcome on it."""

from __future__ import annotations

from dataclasses import dataclass

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
