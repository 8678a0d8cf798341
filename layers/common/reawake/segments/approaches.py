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

import hashlib

from reawake.core.approaches import HOLDOUT, PENDING, WATCHING, Approach
from reawake.segments.rules.model import SegmentDefinition


def holdout_key(approach_type: str, sequence: str | None, definition_id: str) -> str:
    """Sequences are compared per sequence; a watch approach per definition."""
    return sequence if sequence and approach_type != "watch" else f"watch:{definition_id}"


def in_holdout(lead_id: str, key: str, share: float) -> bool:
    """A hash of (approach key, lead id): the same lead is always in the same arm for the same
    sequence, whatever the order of runs, and the share held out is close to ``share``
    (``reawake.reports.holdout`` compares the arms)."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{key}|{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def approach_for(definition: SegmentDefinition, lead_id: str, entered_at: int) -> Approach:
    sequence = getattr(definition.approach, "sequence", None)
    status = WATCHING if definition.approach.type == "watch" else PENDING
    key = holdout_key(definition.approach.type, sequence, definition.id)
    if in_holdout(lead_id, key, definition.approach.holdout):
        status = HOLDOUT
    return Approach(lead_id, definition.id, entered_at, definition.approach.type, sequence, status)
