"""Who entered and who left: the segment run writes only changes."""

from __future__ import annotations

from reawake.core.leads import Lead
from reawake.segments.memberships import reconcile

T0, T1 = 1_790_000_000_000, 1_790_086_400_000


def lead(**kw: object) -> Lead:
    return Lead(lead_id="l1", email="a@example.jp", registered_at=0, **kw)  # type: ignore[arg-type]


def test_entering_records_the_time_and_makes_the_lead_dormant() -> None:
    change = reconcile(lead(), ["no-visit", "no-webinar"], {"no-visit", "no-webinar"}, T0)
    assert change is not None
    assert change.entered == ("no-visit", "no-webinar") and change.left == ()
    assert change.after.segments == {"no-visit": T0, "no-webinar": T0}
    assert change.after.dormant_since == T0


def test_same_memberships_again_is_no_change() -> None:
    member = lead(segments={"no-visit": T0}, dormant_since=T0)
    assert reconcile(member, ["no-visit"], {"no-visit"}, T1) is None


def test_staying_keeps_the_first_entry_time_and_leaving_ends_dormancy() -> None:
    member = lead(segments={"no-visit": T0, "no-webinar": T0}, dormant_since=T0)
    change = reconcile(member, ["no-webinar"], {"no-visit", "no-webinar"}, T1)
    assert change is not None and change.left == ("no-visit",)
    assert change.after.segments == {"no-webinar": T0}
    assert change.after.dormant_since == T0
    change = reconcile(change.after, [], {"no-visit", "no-webinar"}, T1)
    assert change is not None and change.after.segments == {} and change.after.dormant_since is None


def test_a_definition_removed_from_the_config_is_left() -> None:
    member = lead(segments={"retired": T0}, dormant_since=T0)
    change = reconcile(member, [], {"no-visit"}, T1)
    assert change is not None and change.left == ("retired",) and change.after.dormant_since is None
