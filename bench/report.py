"""Reports: what the counters cost on the write path, and what a report costs to read.

1. **Extra writes per tracked event** (in-process emulator, the real tracking path): a month of
   events for 400 leads, a quarter of them dormant and half of those mailed (3 steps); a mailed
   lead's events are page views (70 %), SES deliveries (12 %), opens (8 %), clicks (4 %), purchases
   and sales activities (6 %), every other lead's page views only (96.6 % of the first 1,000 events
   are page views); the counter items written divided by the events accepted. Goal ≤ 0.2. The
   count per kind: a delivery, a mail's first open and first person's click, a bounce, complaint
   or unsubscribe write one item; a dormant lead's first return or conversion per entry writes up
   to three (its day, its entry's day, the mail's step); every other event writes none — so the
   figure follows the share of dormant leads returning for the first time (and of mail events),
   and falls as traffic grows.
2. **Report time at 10× the events**: the same report built after 1× and after 10× the events
   (same leads, same days). It reads counters only, so the goal is ≤ 1.1×. Timed over the counter
   items read as DynamoDB serves a Query (by partition: O(items returned)); moto's own Query
   walks every item of the table, so the emulator time is printed too, for what it is.
3. **Cross-tab over 100,000 leads vs. the plain leads scan**: decoding 100k wire items of the
   leads index (what a scan's pages cost the client), with and without the cross-tab on top.
"""

from __future__ import annotations

import os
import random
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import SITE, emulated_stack, median, report

LEADS = 400
EVENTS_1X = 1_000
DAY = 86_400_000
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
CROSSTAB_LEADS = 100_000


def events_for(rng: random.Random, leads: list[Any], count: int, start: int, tag: str) -> list[Any]:
    from reawake.core.events import Event

    out = []
    for n in range(count):
        lead = rng.choice(leads)
        ts = start + rng.randint(0, 29 * DAY)
        roll = rng.random()
        mails = sorted(lead.mail_log)
        kw: dict[str, Any] = {"source": "browser", "url": f"{SITE}/p{rng.randint(1, 50)}", "user_agent": CHROME}
        if roll < 0.70 or not mails:
            kind = "page_view"
        elif roll < 0.82:
            kind, kw = "email_delivery", {"source": "ses", "message_id": rng.choice(mails)}
        elif roll < 0.90:
            kind, kw = "email_open", {"source": "email", "message_id": rng.choice(mails), "user_agent": CHROME}
        elif roll < 0.94:
            kind = "email_click"
            kw = {"source": "email", "message_id": rng.choice(mails), "user_agent": CHROME, "url": f"{SITE}/"}
        else:
            kind, kw = rng.choice(["purchase", "sales_followup", "webinar_view"]), {"source": "activity"}
        out.append(Event(id=f"{tag}{n:07d}", kind=kind, ts=ts, lead_id=lead.lead_id, **kw))
    return out


class PartitionReader:
    def __init__(self, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.data = data

    def days(self, scope: str, first_day: str, last_day: str) -> dict[str, dict[str, Any]]:
        return {d: v for d, v in self.data.get(scope, {}).items() if first_day <= d <= last_day}


def record_all(store: Any, events: list[Any]) -> int:
    from reawake.core.settings import get_settings
    from reawake.tracking import recording

    settings = get_settings()
    by_lead: dict[str, list[Any]] = {}
    for e in sorted(events, key=lambda e: e.ts):
        by_lead.setdefault(e.lead_id, []).append(e)
    accepted = 0
    for lead_events in by_lead.values():
        for start in range(0, len(lead_events), 10):  # the snippet's batches
            batch = lead_events[start:start + 10]
            accepted += recording.record(store, settings, batch, batch[-1].ts + 1000).accepted
    return accepted


def crosstab_ratio() -> tuple[float, float, float]:
    from reawake.core.dynamo import serialize
    from reawake.core.leads import Lead
    from reawake.core.scoring import load_scoring_file
    from reawake.core.store import lead_from_item, lead_to_item
    from reawake.reports.crosstab import cross_tab

    rng = random.Random(5)
    scoring = load_scoring_file(Path("config/scoring.yaml"))
    definitions = [("d1", "定義1"), ("d2", "定義2"), ("d3", "定義3")]
    items = []
    for n in range(CROSSTAB_LEADS):
        segs = {d: 0 for d, _ in definitions if rng.random() < 0.3}
        attrs = {"業種": rng.choice(["製造業", "小売", "IT", "建設"]),
                 "従業員規模": rng.choice(["1-49名", "50-299名", "300名以上"])}
        lead = Lead(lead_id=f"l{n:06d}", email=f"l{n}@example.jp", registered_at=0, score=rng.random() * 100,
                    owner=f"owner{n % 20}@example.jp", attrs=attrs, segments=segs)
        items.append(serialize(lead_to_item(lead)))
    now = 1_796_000_000_000

    def scan_only() -> None:
        for item in items:
            lead_from_item(item)

    def scan_and_tab() -> None:
        cross_tab((lead_from_item(i) for i in items), definitions, "業種", scoring, now)

    scan_s, tab_s = [], []
    for _ in range(3):
        t = time.perf_counter()
        scan_only()
        scan_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        scan_and_tab()
        tab_s.append(time.perf_counter() - t)
    return median(scan_s), median(tab_s), median(tab_s) / median(scan_s)


def run() -> dict[str, float]:
    with emulated_stack():
        from reawake.core.counters import CounterStore
        from reawake.core.leads import Lead
        from reawake.core.store import Store
        from reawake.reports.model import DefinitionInfo, SequenceInfo, build_report

        store = Store(os.environ["TABLE_NAME"])
        rng = random.Random(13)
        start = 1_790_000_000_000
        leads = []
        for n in range(LEADS):
            dormant = n % 4 == 0
            mail_log = {f"nurture:{s}:l{n}:{start}": start + s * 7 * DAY for s in range(3)} if dormant and n % 8 == 0 \
                else {}
            lead = Lead(lead_id=f"l{n:04d}", email=f"l{n}@example.jp", registered_at=start - 400 * DAY,
                        owner=f"owner{n % 5}@example.jp", segments={"d1": start} if dormant else {},
                        dormant_since=start if dormant else None, mail_log=mail_log)
            store.save_lead(lead, None)
            leads.append(lead)
        written = {"items": 0}
        original = CounterStore.add

        def counting_add(self: CounterStore, bumps: Any) -> int:
            n = original(self, bumps)
            written["items"] += n
            return n

        CounterStore.add = counting_add  # type: ignore[method-assign]
        infos = [DefinitionInfo("d1", "定義1", "sequence", "nurture", 0.1)]
        sequences = [SequenceInfo("nurture", "ナーチャリング", ("1", "2", "3"))]
        first = date.fromtimestamp(start / 1000) - timedelta(days=1)
        last = first + timedelta(days=31)
        emulator = CounterStore(store.client, store.table_name)
        scopes = ["DEF#d1", *(f"STEP#nurture#{i}" for i in range(3)), "ALERTS", "CALLS"]

        def by_partition() -> PartitionReader:
            """The counter items, served per partition as DynamoDB does (O(items returned))."""
            return PartitionReader({s: emulator.days(s, "00000000", "99999999") for s in scopes})

        def build(reader: Any) -> tuple[float, int]:
            t = time.perf_counter()
            built = build_report(reader, infos, sequences, first, last, start)
            return time.perf_counter() - t, built.items_read

        accepted = record_all(store, events_for(rng, leads, EVENTS_1X, start, "a"))
        per_event = written["items"] / accepted
        first_items = written["items"]
        reader1 = by_partition()
        for _ in range(3):
            build(reader1)
        one = median([build(reader1)[0] for _ in range(15)])
        read1 = build(reader1)[1]
        emu1 = median([build(emulator)[0] for _ in range(3)])
        accepted10 = accepted + record_all(store, events_for(rng, leads, EVENTS_1X * 9, start, "b"))
        reader10 = by_partition()
        ten = median([build(reader10)[0] for _ in range(15)])
        read10 = build(reader10)[1]
        emu10 = median([build(emulator)[0] for _ in range(3)])
        CounterStore.add = original  # type: ignore[method-assign]
    scan_s, tab_s, ratio = crosstab_ratio()
    report("Reports", [
        ("counter items per event, 1× (every mail, every dormant lead fresh)",
         f"{per_event:.3f}  (goal ≤ 0.2; {first_items} items / {accepted} events)"),
        ("counter items per event, all 10× (the same month, 10× the traffic)",
         f"{written['items'] / accepted10:.3f}  ({written['items']} items / {accepted10} events)"),
        ("report build at 1× events", f"{one * 1000:.2f} ms  ({accepted} events, {read1} counter items read)"),
        ("report build at 10× events", f"{ten * 1000:.2f} ms  ({accepted10} events, {read10} counter items read)"),
        ("ratio 10× / 1×", f"{ten / one:.2f}  (goal ≤ 1.1)"),
        ("same through moto's Query (O(table))", f"{emu1 * 1000:.0f} ms → {emu10 * 1000:.0f} ms"),
        ("plain scan of 100k leads (decode)", f"{scan_s:.2f} s"),
        ("cross-tab over the same scan", f"{tab_s:.2f} s"),
        ("ratio cross-tab / scan", f"{ratio:.2f}"),
    ])
    return {"per_event": per_event, "ratio_10x": ten / one, "crosstab_ratio": ratio}
