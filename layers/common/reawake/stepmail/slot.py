"""A send slot: every ``SendSlotMinutes`` the send-slot state machine collects the enrollments due
at or before the slot's ``now`` (not only this slot's: a missed slot or an outage is caught up by
the next one) and hands them out in batches to the step-mail function, which works each one
(``Engine.work``).

- ``collect``: the due enrollments, oldest first, at most ``limit`` of them (the rest stay due for
  the next slot), in batches of ``batch_size``; a lead's enrollments stay in one batch, worked one
  after the other, so a lead with two sequences due gets one mail (the minimum gap puts the other
  off).
- ``run_batch``: each enrollment of a batch, independently: a failure is retried in a later slot
  with exponential backoff and full jitter (``backoff_ms``); after ``MAX_ATTEMPTS`` tries, or at
  once when the send may have happened (``SendFailed``: never twice), the enrollment is recorded
  as failed and reported to the ``FailureSink`` (a queue and a metric). The rest of the batch goes
  on either way.

Replaying a slot, retrying a batch or running two slots at once sends nothing twice: the engine
skips what is no longer due and every mail is a conditional claim.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from reawake.stepmail.enrollment import Engine, SendFailed

BATCH_SIZE = 100
MAX_ATTEMPTS = 5
BACKOFF_BASE_MS = 60_000  # a minute, doubled per failed try: 1, 2, 4, 8 min (full jitter), then failed
BACKOFF_CAP_MS = 6 * 3_600_000


@dataclass(frozen=True)
class Ref:
    lead_id: str
    sequence: str

    def as_list(self) -> list[str]:
        return [self.lead_id, self.sequence]


class DueIndex(Protocol):
    def all_due(self, until_ms: int, limit: int | None = None) -> list[Any]:
        """Entries with ``lead_id``, ``sequence`` and ``due_at``, oldest first."""


class FailureSink(Protocol):
    def report(self, ref: Ref, error: str, attempts: int, now_ms: int) -> None:
        """A lead that still fails: to the failure queue and the failure metric."""


def collect(index: DueIndex, now_ms: int, limit: int, batch_size: int = BATCH_SIZE) -> list[list[Ref]]:
    """The batches of this slot: the oldest ``limit`` due enrollments, a lead's together."""
    due = index.all_due(now_ms, limit)
    by_lead: dict[str, list[Ref]] = {}
    for entry in due:  # oldest first: the lead whose step is the oldest goes first
        by_lead.setdefault(entry.lead_id, []).append(Ref(entry.lead_id, entry.sequence))
    batches: list[list[Ref]] = []
    current: list[Ref] = []
    for refs in by_lead.values():
        if current and len(current) + len(refs) > batch_size:
            batches.append(current)
            current = []
        current += refs
    if current:
        batches.append(current)
    return batches


def backoff_ms(attempts: int, rand: Callable[[], float] = random.random) -> int:
    """Exponential backoff with full jitter (AWS Architecture Blog's recommendation): anywhere
    between a second and base x 2^(attempts-1), capped."""
    ceiling = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** max(attempts - 1, 0))
    return max(1_000, int(ceiling * rand()))


def run_batch(engine: Engine, refs: Iterable[Ref], now_ms: int, failures: FailureSink,
              rand: Callable[[], float] = random.random) -> dict[str, int]:
    """Work every enrollment of the batch at the slot's ``now``; counts by outcome."""
    counts: Counter[str] = Counter()
    refs = list(refs)
    known = engine.store.read_batch([(r.lead_id, r.sequence) for r in refs])
    worked: set[str] = set()
    for ref in refs:
        # A lead's second enrollment in the batch reads the lead again: the first may have mailed it.
        start = known.get((ref.lead_id, ref.sequence)) if ref.lead_id not in worked else None
        worked.add(ref.lead_id)
        try:
            counts[engine.work(ref.lead_id, ref.sequence, now_ms, start)] += 1
        except SendFailed as exc:
            _failed(engine, ref, now_ms, f"SendFailed: {exc}", 1, failures)
            counts["failed"] += 1
        except Exception as exc:  # one lead's trouble never holds back the rest of the batch
            error = f"{type(exc).__name__}: {exc}"
            engine.log("step failed, retried later", {"lead_id": ref.lead_id, "sequence": ref.sequence,
                                                      "error": error[:300]})
            attempts = engine.retry_later(ref.lead_id, ref.sequence, now_ms, error, lambda n: backoff_ms(n, rand))
            if attempts is None:
                counts["stopped"] += 1
            elif attempts >= MAX_ATTEMPTS:
                _failed(engine, ref, now_ms, error, attempts, failures)
                counts["failed"] += 1
            else:
                counts["retrying"] += 1
    return dict(counts)


def _failed(engine: Engine, ref: Ref, now_ms: int, error: str, attempts: int, failures: FailureSink) -> None:
    if engine.fail(ref.lead_id, ref.sequence, now_ms, error):
        failures.report(ref, error, attempts, now_ms)
