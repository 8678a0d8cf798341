"""What happens to a lead that enters a dormancy definition: one interface for every approach.

- ``watch`` (definition ①): done by the segment run itself — the lead is dormant, so tracking
  flags its return as a revisit and the alert function tells the owner.
- ``sequence`` (②) and ``owner_task`` (③): handed to step mail and to the owner's call list.
  Until those exist the record says ``pending``: nothing has been sent.

One record per lead × definition × entry (a conditional write), so a re-run, a retried shard or
two overlapping runs never enroll a lead twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from reawake.segments.model import SegmentDefinition

WATCHING = "watching"
PENDING = "pending"


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


def approach_for(definition: SegmentDefinition, lead_id: str, entered_at: int) -> Approach:
    sequence = getattr(definition.approach, "sequence", None)
    status = WATCHING if definition.approach.type == "watch" else PENDING
    return Approach(lead_id, definition.id, entered_at, definition.approach.type, sequence, status)
