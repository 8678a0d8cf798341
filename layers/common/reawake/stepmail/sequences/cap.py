"""The per-lead frequency cap: at most ``max`` mails in any ``per``-long stretch of time, across
every sequence the lead is in.

- A stretch starts at a mail and runs ``per`` on the lead's wall clock (``calendar.later``),
  end excluded: with ``max: 2, per: 7d`` and mails on Monday and Tuesday at 10:00, a third may
  go on the next Monday at 10:00 (the Monday mail has dropped out), not a millisecond earlier.
- ``sent`` are the lead's mails: those sent and those already booked for a later time (pass
  booked ones too, so two sequences cannot take the same free place). A new mail is allowed at
  ``t`` when no stretch containing ``t`` would then hold more than ``max`` mails.
- A capped mail is **deferred, never dropped**: ``earliest_under_cap`` returns the first allowed
  moment at or after the requested one. Deferral ignores the send window; ``decide`` puts the
  result back into the window and checks the cap again until both agree.
- Owner tasks are not mail and do not count.
- The **minimum gap** (``min_gap``, 1 day by default) keeps two mails to one person apart even
  when the cap would allow both: a lead in two sequences whose steps fall due in the same send
  slot gets one mail, and the other waits until the gap has passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from reawake.core.durations import Duration
from reawake.stepmail.sequences.calendar import later, next_send_slot
from reawake.stepmail.sequences.model import FrequencyCap, SendWindow

MAX_ROUNDS = 1000


def allowed(ts_ms: int, sent: Iterable[int], cap: FrequencyCap, tz: ZoneInfo) -> bool:
    """Whether one more mail at ``ts_ms`` keeps every stretch containing it within the cap."""
    times = sorted([*sent, ts_ms])
    for start in times:
        if start > ts_ms:
            break
        end = later(cap.per, start, tz)
        if ts_ms < end and sum(1 for t in times if start <= t < end) > cap.max:
            return False
    return True


def earliest_under_cap(earliest_ms: int, sent: Iterable[int], cap: FrequencyCap, tz: ZoneInfo) -> int:
    """The first moment at or after ``earliest_ms`` at which a mail is allowed.

    The allowed moments change only where a mail drops out of the stretch behind (``later(per,
    s)`` for each mail ``s``), so those and ``earliest_ms`` are the only candidates; the last
    of them is always allowed (every mail is then more than ``per`` behind).
    """
    # Mails a whole stretch before the earliest moment cannot share a stretch with the new one.
    times = [s for s in sent if later(cap.per, s, tz) > earliest_ms]
    candidates = sorted({earliest_ms, *(e for e in (later(cap.per, s, tz) for s in times) if e > earliest_ms)})
    for candidate in candidates:
        if allowed(candidate, times, cap, tz):
            return candidate
    return candidates[-1]  # unreachable (see above); kept for the type checker


def after_gap(moment_ms: int, sent: Iterable[int], gap: Duration, tz: ZoneInfo) -> int:
    """The first moment at or after ``moment_ms`` at least ``gap`` away from every mail in
    ``sent`` (on either side: a mail booked later also keeps its distance)."""
    times = sorted(sent)
    for _ in range(len(times) + 1):
        blocking = [t for t in times
                    if t <= moment_ms < later(gap, t, tz) or moment_ms < t < later(gap, moment_ms, tz)]
        if not blocking:
            return moment_ms
        moment_ms = max(later(gap, t, tz) for t in blocking)
    return moment_ms


def mail_slot(
    earliest_ms: int, window: SendWindow, tz: ZoneInfo, cap: FrequencyCap | None, sent: Iterable[int],
    gap: Duration | None = None,
) -> int:
    """The first moment at or after ``earliest_ms`` inside the send window, allowed by the cap and
    ``gap`` away from the lead's other mails: into the window, deferred by the cap and the gap,
    back into the window, until all agree (each round only moves forward, over finitely many
    candidate moments)."""
    times = list(sent)
    moment = earliest_ms
    for _ in range(MAX_ROUNDS):
        moment = next_send_slot(moment, window, tz)
        deferred = earliest_under_cap(moment, times, cap, tz) if cap is not None else moment
        if gap is not None:
            deferred = after_gap(deferred, times, gap, tz)
        if deferred == moment:
            return moment
        moment = deferred
    raise RuntimeError("no send slot found: the window and the cap never agree")
