"""Lead aggregates: what segment rules read instead of raw events."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from reawake.core.events import Event
from reawake.core.leads import (
    Lead,
    dimension_keys,
    flag_revisits,
    fold_events,
    legacy_lead_id,
    new_lead_id,
    path_prefixes,
)

JST = ZoneInfo("Asia/Tokyo")
SITE = "https://www.example.co.jp"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def view(event_id: str, at: str, url: str = SITE + "/seminar/2026/tokyo", **props: str) -> Event:
    return Event(id=event_id, kind="page_view", ts=ms(at), source="browser", visitor_id="v" * 8, url=url, props=props)


def lead(**kw: object) -> Lead:
    return Lead(lead_id="l1", email="a@example.jp", registered_at=ms("2025-01-01T00:00:00+09:00"), **kw)  # type: ignore[arg-type]


def test_a_new_lead_id_cannot_be_computed_from_the_email() -> None:
    ids = {new_lead_id() for _ in range(1000)}
    assert len(ids) == 1000, "random: never the same twice"
    assert all(re.fullmatch(r"[a-z2-7]{20}", i) for i in ids), "the old ids' alphabet and length"
    assert legacy_lead_id("taro@example.co.jp") == legacy_lead_id("taro@example.co.jp")  # control: computable
    assert legacy_lead_id("taro@example.co.jp") not in ids


def test_path_prefixes_are_folders_of_depth_one_and_two() -> None:
    assert path_prefixes("/seminar/2026/tokyo") == ["/seminar/", "/seminar/2026/"]
    assert path_prefixes("/seminar/") == ["/seminar/"]
    assert path_prefixes("/pricing") == []
    assert path_prefixes("/") == []


def test_dimension_keys_cover_site_topic_campaign_and_paths() -> None:
    event = view("e1", "2026-11-01T10:00:00+09:00", url=SITE + "/seminar/2026/tokyo?utm_campaign=autumn", topic="dx")
    assert dimension_keys(event) == [
        "page_view",
        f"page_view@site:{SITE}",
        "page_view@topic:dx",
        "page_view@campaign:autumn",
        "page_view@path:/seminar/",
        "page_view@path:/seminar/2026/",
    ]


def test_fold_keeps_latest_time_and_counts_per_jst_day() -> None:
    now = ms("2026-11-02T12:00:00+09:00")
    events = [
        view("e1", "2026-11-01T23:59:59+09:00"),  # just before midnight JST: Nov 1st
        view("e2", "2026-11-02T00:00:00+09:00"),  # midnight JST: Nov 2nd (still Nov 1st in UTC)
        view("e3", "2026-11-02T08:00:00+09:00"),
    ]
    folded = fold_events(lead(), events, JST, now, retention_days=400)
    assert folded.last["page_view"] == ms("2026-11-02T08:00:00+09:00")
    assert folded.days["page_view#20261101"] == 1
    assert folded.days["page_view#20261102"] == 2
    assert folded.days[f"page_view@site:{SITE}#20261102"] == 2
    # Folding an older event never moves "last" backwards.
    older = fold_events(folded, [view("e0", "2026-10-01T10:00:00+09:00")], JST, now, 400)
    assert older.last["page_view"] == ms("2026-11-02T08:00:00+09:00")


def test_fold_drops_day_buckets_past_retention() -> None:
    start = fold_events(lead(), [view("e1", "2025-01-05T10:00:00+09:00")], JST, ms("2025-01-06T00:00:00+09:00"), 400)
    later = fold_events(start, [view("e2", "2026-11-01T10:00:00+09:00")], JST, ms("2026-11-01T12:00:00+09:00"), 400)
    assert "page_view#20250105" not in later.days
    assert later.last["page_view"] == ms("2026-11-01T10:00:00+09:00")


def test_revisit_only_for_visits_of_a_dormant_lead() -> None:
    dormant = lead(dormant_since=ms("2026-10-01T00:00:00+09:00"))
    purchase = Event(id="p1", kind="purchase", ts=ms("2026-11-01T10:00:00+09:00"), source="activity")
    flagged = flag_revisits(dormant, [view("e1", "2026-11-01T10:00:00+09:00"), purchase])
    assert [e.revisit for e in flagged] == [True, False]
    assert all(e.lead_id == "l1" for e in flagged)
    assert not flag_revisits(lead(), [view("e1", "2026-11-01T10:00:00+09:00")])[0].revisit


def test_day_counts_survive_the_table_packed_and_are_unpacked_only_when_read() -> None:
    from reawake.core.dynamo import serialize
    from reawake.core.leads import DayBuckets
    from reawake.core.store import lead_from_item, lead_to_item

    events = [view(f"e{i}", f"2026-11-{20 + i % 3}T10:00:00+09:00") for i in range(6)]
    folded = fold_events(lead(), events, JST, ms("2026-11-23T12:00:00+09:00"), 400)
    item = serialize(lead_to_item(folded))
    assert all("S" in v for v in item["days"]["M"].values()), "one string per dimension, not one entry per day"
    assert item["days"]["M"]["page_view"]["S"] == "20261120:2,20261121:2,20261122:2"

    read = lead_from_item(item)
    assert isinstance(read.days, DayBuckets) and not read.days.unpacked
    assert serialize(lead_to_item(read))["days"] == item["days"], "written back as read, untouched"
    assert read.days == folded.days and read.days.unpacked
    assert read == folded
