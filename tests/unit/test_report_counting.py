"""What events count, once: marks on the lead keep a replay, a second click or a scanner out."""

from __future__ import annotations

from dataclasses import replace

from reawake.core.counting import Bump, count_events
from reawake.core.events import Event
from reawake.core.leads import Lead
from tests.datagen import NOW, TOKYO

CHROME = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
MSG = "nurture:0:l1:1000"
STEP = "STEP#nurture#0"


def lead() -> Lead:
    return Lead(lead_id="l1", email="a@example.jp", registered_at=0, segments={"d1": NOW - 86_400_000},
                dormant_since=NOW - 86_400_000, mail_log={MSG: NOW - 3_600_000})


def ev(n: int, kind: str, ts: int, ua: str | None = CHROME, **kw: object) -> Event:
    return Event(id=f"e{n}", kind=kind, ts=ts, source=str(kw.pop("source", "email")), lead_id="l1",
                 user_agent=ua, **kw)  # type: ignore[arg-type]


def run(the_lead: Lead, *batches: list[Event]) -> tuple[Lead, list[Bump]]:
    bumps: list[Bump] = []
    for batch in batches:
        marks, found = count_events(the_lead, batch, max(e.ts for e in batch), TOKYO)
        the_lead, bumps = replace(the_lead, report=marks), bumps + found
    return the_lead, bumps


def total(bumps: list[Bump], scope: str, field: str) -> int:
    return sum(b.n for b in bumps if b.scope == scope and b.field == field)


def test_a_second_click_or_open_of_one_mail_counts_once() -> None:
    click = ev(1, "email_click", NOW, message_id=MSG)
    _, bumps = run(lead(), [click], [ev(2, "email_click", NOW + 60_000, message_id=MSG)],
                   [ev(3, "email_open", NOW, message_id=MSG)], [ev(4, "email_open", NOW + 5, message_id=MSG)])
    assert total(bumps, STEP, "clicked") == 1 and total(bumps, STEP, "opened") == 1


def test_scanner_clicks_are_not_counted_even_when_their_proof_arrives_later() -> None:
    delivered = NOW
    fast = ev(1, "email_click", delivered + 3_000, message_id=MSG)
    _, bumps = run(lead(), [ev(0, "email_delivery", delivered, ua=None, source="ses", message_id=MSG)], [fast])
    assert total(bumps, STEP, "clicked") == 0 and total(bumps, STEP, "delivered") == 1
    burst = [ev(n, "email_click", NOW + n * 100, message_id=MSG) for n in range(3)]
    after_first, bumps = run(lead(), burst[:1])
    assert total(bumps, STEP, "clicked") == 1  # one click alone looks like a person...
    _, more = run(after_first, burst[1:2], burst[2:])
    assert total(bumps + more, STEP, "clicked") == 0  # ...until the burst shows a scanner
    _, bot = run(lead(), [ev(9, "email_click", NOW, ua="Barracuda Sentinel", message_id=MSG)])
    assert total(bot, STEP, "clicked") == 0


def test_a_return_counts_once_per_entry_and_once_per_mail() -> None:
    views = [ev(n, "page_view", NOW + n, source="browser", revisit=True, url="https://x.jp/") for n in range(3)]
    _, bumps = run(lead(), views[:1], views[1:])
    assert total(bumps, "DEF#d1", "returned") == 1 and total(bumps, "DEF#d1", "returned_t") == 1
    assert total(bumps, STEP, "returned") == 1
    headless = ev(7, "page_view", NOW, ua="HeadlessChrome/131", source="browser", revisit=True)
    assert total(run(lead(), [headless])[1], "DEF#d1", "returned") == 0  # positive control above
