"""What happens to a lead that enters a dormancy definition: one interface for every approach.

- ``watch`` (definition ①): done by the segment run itself — the lead is dormant, so tracking
  flags its return as a revisit and the alert function tells the owner.
- ``sequence`` (②) and ``owner_task`` (③): handed to step mail and to the owner's call list.
  Until those exist the record says ``pending``: nothing has been sent.
- ``holdout: 10%`` on any approach: that share of entering leads (by a hash of lead and sequence)
  is recorded as ``holdout`` and never dispatched; the report compares them with the others.
  Their return still alerts the owner (a returning customer is never ignored).

One record per lead × definition × entry (a conditional write), so a re-run, a retried shard or
two overlapping runs never enroll a lead twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from reawake.reports.holdout import holdout_key, in_holdout
from reawake.segments.rules.model import SegmentDefinition

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


def approach_for(definition: SegmentDefinition, lead_id: str, entered_at: int) -> Approach:
    sequence = getattr(definition.approach, "sequence", None)
    status = WATCHING if definition.approach.type == "watch" else PENDING
    key = holdout_key(definition.approach.type, sequence, definition.id)
    if in_holdout(lead_id, key, definition.approach.holdout):
        status = HOLDOUT
    return Approach(lead_id, definition.id, entered_at, definition.approach.type, sequence, status)
