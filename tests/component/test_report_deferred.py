"""The report's ``deferred``: a step mail the frequency cap moved later is counted once per
enrollment step — not again when a slot is replayed or a later slot re-decides the same step —
and shows in the per sequence × step funnel."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from reawake.core.leads import Lead
from reawake.reports.counters import CounterStore
from reawake.reports.counting import step_scope
from reawake.reports.model import SequenceInfo, build_report
from reawake.stepmail.store import StepmailStore
from tests.component.test_stepmail import (  # noqa: F401 - the fixture
    DAY,
    MONDAY_10,
    SLOT_MS,
    WEBINAR,
    Now,
    collected,
    enrolled,
    env,
    new_lead,
    run_batches,
    store,
)


def deferred_counts() -> dict[str, Any]:
    return CounterStore(store().client, store().table_name).days(step_scope(WEBINAR, 0), "20261101", "20261231")


def total_deferred() -> int:
    return sum(int(day.get("deferred", 0)) for day in deferred_counts().values())


def capped(lead: Lead) -> None:
    """Two mails of another sequence in the last 7 days: the cap (2 per 7d) is reached."""
    log = {f"win-back:{i}:{lead.lead_id}:1": MONDAY_10 - (2 + i) * DAY for i in range(2)}
    found = store().get_lead(lead.lead_id)
    assert found is not None
    store().save_lead(dataclasses.replace(found, mail_log={**found.mail_log, **log}), found.version)


def test_a_cap_deferral_is_counted_once_across_a_replayed_slot_and_shows_in_the_funnel(env: Now) -> None:  # noqa: F811 - the fixture
    free, held = new_lead(env), new_lead(env)
    for lead in (free, held):
        enrolled(lead, env)
    capped(held)
    env.ms = MONDAY_10
    slot_now, batches = collected(env.ms)
    first = run_batches(slot_now, batches)
    assert first["sent"] == 1 and first["planned"] == 1, first  # the free lead mailed, the capped one moved
    stepmail = StepmailStore(store())
    moved = stepmail.get_enrollment(held.lead_id, WEBINAR)
    assert moved is not None and moved.due_at is not None and moved.due_at > MONDAY_10 + DAY
    assert total_deferred() == 1, "the positive control: the cap deferral is counted"

    replay = run_batches(slot_now, batches)  # the same slot again
    assert replay["not_due"] == 2 and total_deferred() == 1

    # A later slot re-deciding the same, still capped step (e.g. a retry pulled it back): no recount.
    later = MONDAY_10 + SLOT_MS
    assert stepmail.save_progress(dataclasses.replace(moved, due_at=later), moved.next_step)
    env.ms = later
    again = run_batches(*collected(later))
    assert again["planned"] == 1 and total_deferred() == 1
    assert stepmail.get_enrollment(held.lead_id, WEBINAR).due_at == moved.due_at  # type: ignore[union-attr]

    # A second capped lead's step is its own deferral: counted (once).
    other = new_lead(env)
    enrolled(other, env)
    capped(other)
    env.ms = later + SLOT_MS
    run_batches(*collected(env.ms))
    run_batches(*collected(env.ms))
    assert total_deferred() == 2

    report = build_report(CounterStore(store().client, store().table_name), [],
                          [SequenceInfo(WEBINAR, "ウェビナー案内", ("1", "2", "3"))],
                          date(2026, 11, 1), date(2026, 12, 31), env.ms)
    first_step = next(s for s in report.steps if s.index == 0)
    assert first_step.counts["deferred"] == 2 and first_step.counts["sent"] == 1
    assert all(s.counts["deferred"] == 0 for s in report.steps if s.index > 0)


def test_a_batch_counts_each_sent_mail_once_in_one_counter_write(env: Now, monkeypatch: Any) -> None:  # noqa: F811 - the fixture
    leads = [new_lead(env) for _ in range(5)]
    for lead in leads:
        enrolled(lead, env)
    env.ms = MONDAY_10
    slot_now, batches = collected(env.ms)
    writes: list[int] = []
    original = CounterStore.add

    def counted(self: CounterStore, bumps: Any) -> int:
        written = original(self, bumps)
        writes.append(written)
        return written

    monkeypatch.setattr(CounterStore, "add", counted)
    first = run_batches(slot_now, batches)
    run_batches(slot_now, batches)  # a replayed slot sends and counts nothing

    sent = sum(int(day.get("sent", 0)) for day in deferred_counts().values())
    assert first["sent"] == 5 and sent == 5
    assert writes == [1], "the batch's five counts went in one update of the step's counter item"
