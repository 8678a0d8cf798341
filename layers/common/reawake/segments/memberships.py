"""Segment memberships: who entered and who left, from what the rules say today. Pure.

The lead keeps its current memberships (``Lead.segments``: id -> entered at) and
``dormant_since``; the segment run compares them with today's matches and writes only changes,
so running the same day twice finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from reawake.core.leads import Lead


@dataclass(frozen=True)
class MembershipChange:
    before: Lead
    after: Lead
    entered: tuple[str, ...]
    left: tuple[str, ...]


def reconcile(
    lead: Lead, matched: Collection[str], dormant_ids: Collection[str], now_ms: int
) -> MembershipChange | None:
    """The change to record for this lead, or None when its memberships are as they should be.

    ``matched``: the definitions whose rule holds now; ``dormant_ids``: the definitions that mean
    "dormant" (their members' returns are revisits). A definition no longer configured is left.
    """
    current = lead.segments
    entered = tuple(sorted(s for s in matched if s not in current))
    left = tuple(sorted(s for s in current if s not in matched))
    if not entered and not left:
        return None
    segments = {s: t for s, t in current.items() if s in matched}
    segments.update({s: now_ms for s in entered})
    dormant_times = [t for s, t in segments.items() if s in dormant_ids]
    dormant_since = lead.dormant_since if lead.dormant_since is not None and dormant_times else None
    if dormant_since is None and dormant_times:
        dormant_since = min(dormant_times)
    after = replace(lead, segments=segments, dormant_since=dormant_since)
    return MembershipChange(lead, after, entered, left)
