"""Which approaches a segment run settles in its membership transaction (``segments.run.handovers_of``)."""

from __future__ import annotations

from collections.abc import Iterable

from reawake.core.approaches import HOLDOUT, PENDING, WATCHING, Approach, Handover
from reawake.core.leads import Lead
from reawake.segments.run import handovers_of

LEAD = Lead(lead_id="l1", email="a@example.jp", registered_at=0)
PUT = {"TableName": "t", "Item": {}}


class Deciding:
    """Settles every approach with one write, except those of a sequence that makes it fail."""

    def __init__(self, failing: str = "") -> None:
        self.failing = failing
        self.asked: list[str] = []

    def reads(self, sequence_ids: Iterable[str]) -> list[tuple[str, ...]]:
        return []

    def dispatch(self, lead: Lead, approach: Approach, now_ms: int) -> str:
        return "enrolled"

    def hand_over(self, lead: Lead, approach: Approach, now_ms: int, whole: bool) -> Handover | None:
        self.asked.append(approach.key)
        if approach.sequence == self.failing:
            raise ConnectionError("the config bucket did not answer")
        return Handover("enrolled", None, (PUT,))


def approach(segment: str, sequence: str | None, status: str = PENDING, kind: str = "sequence") -> Approach:
    return Approach("l1", segment, 1, kind, sequence, status)


def test_one_settled_approach_per_sequence_and_only_pending_ones() -> None:
    found = handovers_of(Deciding(), LEAD, [approach("a", "s1"), approach("b", "s1"), approach("c", "s2"),
                                            approach("d", None, WATCHING, "watch"), approach("e", "s3", HOLDOUT)],
                         set(), 0, False, 90)
    assert sorted(found) == ["a#1", "c#1"], "the second approach naming s1 goes the pending way"


def test_refused_ones_and_those_past_the_transactions_room_go_the_pending_way() -> None:
    approaches = [approach("a", "s1"), approach("b", "s2"), approach("c", "s3")]
    assert sorted(handovers_of(Deciding(), LEAD, approaches, {"b#1"}, 0, False, 90)) == ["a#1", "c#1"]
    assert sorted(handovers_of(Deciding(), LEAD, approaches, set(), 0, False, 2)) == ["a#1", "b#1"]


def test_a_decision_that_fails_leaves_that_approach_to_the_pending_way() -> None:
    enroller = Deciding(failing="s2")
    found = handovers_of(enroller, LEAD, [approach("a", "s1"), approach("b", "s2"), approach("c", "s3")], set(), 0,
                         False, 90)
    assert enroller.asked == ["a#1", "b#1", "c#1"]
    assert sorted(found) == ["a#1", "c#1"]
    assert handovers_of(None, LEAD, [approach("a", "s1")], set(), 0, False, 90) == {}
