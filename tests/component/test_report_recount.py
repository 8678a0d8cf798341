"""Every number of the report equals a brute-force recount from the raw records.

A generated month on the emulator goes through the real write paths (segment runs with holdouts,
enrollments and send claims, tracking of deliveries, opens, human and scanner clicks, bot and
human page views, purchases, unsubscribes, bounces, complaints, sales follow-ups, the alert
function's reactivation and claim), a third of the calls replayed. The report is then built from
the counters alone, and every figure is compared with a recount that reads the table's raw items
(events, memberships, approaches, claims, alerts) and applies the rules from scratch.
"""

from __future__ import annotations

import os
import random
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import boto3
import pytest

from reawake.alerts import domain as alerts
from reawake.alerts import entry as alert_entry
from reawake.alerts.alerting import Alerting
from reawake.core import bots, clock, counters
from reawake.core.counters import CounterStore
from reawake.core.dynamo import deserialize
from reawake.core.events import Event
from reawake.core.holidays_jp import JP_HOLIDAYS
from reawake.core.leads import Lead
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake.reports.holdout import compare
from reawake.reports.model import DefinitionInfo, SequenceInfo, build_report
from reawake.segments.rules.config import load_segments
from reawake.segments.run import run_shard
from reawake.segments.store import SegmentStore
from reawake.stepmail.enrollment import Claim, Enrollment
from reawake.stepmail.store import StepmailStore
from reawake.tracking import recording
from tests.datagen import TOKYO, ms

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = ms(datetime(2026, 10, 1, 9, 0, tzinfo=TOKYO))
RUN2 = T0 + 16 * DAY
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
SITE = "https://www.example.co.jp"
OWNERS = ["sato@example.co.jp", "suzuki@example.co.jp", None]
SEGMENTS = """
segments:
  - id: watch-all
    name: 登録90日以上
    approach: {type: watch, holdout: 30%}
    rule: {attr: registered_at, older_than: 90d}
  - id: nurture
    name: 製造業ナーチャリング
    approach: {type: sequence, sequence: nurture, holdout: 30%}
    rule: {field: 業種, equals: 製造業}
  - id: no-purchase
    name: 直近10日購入なし
    approach: {type: watch}
    rule: {not: {event: purchase, within: 10d}}
"""
STEPS = ("お役立ち情報", "導入事例")


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, TOKYO).strftime("%Y%m%d")


# --- the month, through the write paths -------------------------------------------------------------


@dataclass
class World:
    store: Store
    rng: random.Random
    ids: Iterator[int]
    alerted: dict[str, int]

    def event(self, lead_id: str, kind: str, ts: int, **kw: Any) -> Event:
        source = kw.pop("source", "browser")
        return Event(id=f"ev{next(self.ids):08d}", kind=kind, ts=ts, source=source, lead_id=lead_id, **kw)

    def record(self, event: Event) -> None:
        """Record once, a third of the time twice (a replayed request); alert on a person's return."""
        settings = get_settings()
        for _ in range(2 if self.rng.random() < 0.33 else 1):
            if event.kind == "unsubscribe":
                recording.unsubscribe(self.store, settings, event.lead_id or "", event.ts, "one_click")
            elif event.kind in ("email_bounce", "email_complaint"):
                reason = "bounce" if event.kind == "email_bounce" else "complaint"
                recording.suppress(self.store, settings, event.lead_id or "", event, reason, event.ts)
            else:
                recording.record(self.store, settings, [event], event.ts)
        if event.kind == "page_view" and event.user_agent == CHROME and event.lead_id not in self.alerted:
            stored = next(e for e in self.store.lead_events(event.lead_id or "") if e.id == event.id)
            if stored.revisit:
                clock.set_source(lambda: event.ts + 1000)
                try:
                    alert_entry.process(stored, alerts.AlertSettings())
                    alert_entry.process(stored, alerts.AlertSettings())  # a redelivered stream record
                finally:
                    clock.set_source(None)
                self.alerted[event.lead_id or ""] = event.ts


def simulate(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(Alerting, "deliver", lambda *a, **k: None)  # the mail itself is not the point here
    definitions = load_segments(SEGMENTS)
    rng = random.Random(13)
    world = World(store, rng, iter(range(10**9)), {})
    for n in range(80):
        store.save_lead(Lead(lead_id=f"lead{n:03d}", email=f"l{n}@example.jp", registered_at=T0 - 400 * DAY,
                             owner=rng.choice(OWNERS), attrs={"業種": rng.choice(["製造業", "小売"])}), None)
    run_shard(store, definitions, 0, 1, T0, TOKYO)
    run_shard(store, definitions, 0, 1, T0, TOKYO)  # a re-run the same day
    counters.set_members(store, members(store), [d.id for d in definitions], T0, TOKYO)
    mail = StepmailStore(store)
    segments = SegmentStore(store)
    planned: list[tuple[int, Any]] = []
    for lead in store.scan_leads():
        entered = lead.segments.get("nurture")
        approach = segments.get_approach(lead.lead_id, f"nurture#{entered}") if entered else None
        if approach is not None and approach.status != "holdout":
            enrollment = Enrollment(lead.lead_id, "nurture", entered, "nurture", updated_at=T0)
            mail.create_enrollment(enrollment)
            mail.create_enrollment(enrollment)  # retried: refused, not counted
            for step, sent_at in ((0, T0 + 2 * HOUR), (1, T0 + 8 * DAY)):
                planned.append((sent_at, ("send", lead.lead_id, step)))
                planned.extend(mail_reactions(world, lead.lead_id, f"nurture:{step}:{lead.lead_id}:{entered}", sent_at))
        for _ in range(rng.choice([0, 0, 1, 2])):
            at = T0 + rng.randint(1, 15 * 24) * HOUR
            ua = CHROME if rng.random() < 0.8 else HEADLESS
            planned.append((at, world.event(lead.lead_id, "page_view", at, url=f"{SITE}/", user_agent=ua)))
        if rng.random() < 0.3:
            at = T0 + rng.randint(1, 15 * 24) * HOUR
            planned.append((at, world.event(lead.lead_id, "purchase", at, source="activity")))
    planned.sort(key=lambda p: p[0])
    for at, what in planned:
        if isinstance(what, tuple):
            _, lead_id, step = what
            send(mail, store, lead_id, step, at)
        else:
            world.record(what)
    followups = []
    for lead_id, at in world.alerted.items():
        if rng.random() < 0.7:
            followups.append(world.event(lead_id, "sales_followup", at + rng.randint(1, 8 * 24) * HOUR,
                                         source="activity"))
    for event in sorted(followups, key=lambda e: e.ts):
        world.record(event)
    run_shard(store, definitions, 0, 1, RUN2, TOKYO)
    counters.set_members(store, members(store), [d.id for d in definitions], RUN2, TOKYO)
    return definitions


def members(store: Store) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for lead in store.scan_leads():
        for segment_id in lead.segments:
            counts[segment_id] += 1
    return counts


def send(mail: StepmailStore, store: Store, lead_id: str, step: int, at: int) -> None:
    lead = store.get_lead(lead_id)
    assert lead is not None
    entered = lead.segments["nurture"]
    message_id = f"nurture:{step}:{lead_id}:{entered}"
    mail.claim_mail(replace(lead, mail_log={**lead.mail_log, message_id: at}),
                    Claim(lead_id, message_id, "nurture", step, at))


def mail_reactions(world: World, lead_id: str, message_id: str, sent: int) -> list[tuple[int, Event]]:
    rng = world.rng
    out: list[tuple[int, Event]] = []

    def add(kind: str, at: int, ua: str | None = CHROME, source: str = "email", **kw: Any) -> None:
        out.append((at, world.event(lead_id, kind, at, source=source, message_id=message_id, user_agent=ua, **kw)))

    delivered = sent + rng.randint(1, 60) * 1000
    if rng.random() < 0.9:
        add("email_delivery", delivered, ua=None, source="ses")
    roll = rng.random()
    if roll < 0.15:
        add("email_click", delivered + 3000)  # a scanner, seconds after the delivery
    elif roll < 0.3:
        for n in range(3):
            add("email_click", sent + HOUR + n * 200)  # a scanner's burst
    elif roll < 0.4:
        add("email_click", delivered + 2000, ua=SCANNER)
    if rng.random() < 0.35:
        clicked = sent + rng.randint(2, 72) * HOUR
        add("email_click", clicked, url=f"{SITE}/")
        view = world.event(lead_id, "page_view", clicked + 2000, url=f"{SITE}/", user_agent=CHROME)
        out.append((clicked + 2000, view))
    if rng.random() < 0.5:
        add("email_open", sent + rng.randint(1, 48) * HOUR, ua="Mozilla/5.0")
    roll = rng.random()
    if roll < 0.05:
        add("email_bounce", delivered + 5000, ua=None, source="ses")
    elif roll < 0.08:
        add("email_complaint", sent + 5 * HOUR, ua=None, source="ses")
    elif roll < 0.14:
        out.append((sent + 6 * HOUR, world.event(lead_id, "unsubscribe", sent + 6 * HOUR, source="email")))
    return out


# --- the recount, from the raw items ----------------------------------------------------------------


def raw_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"]):
        items += [deserialize(i) for i in page["Items"]]
    return items


def is_machine(e: dict[str, Any]) -> bool:
    if (e.get("fetch_purpose") or "") in bots.NOT_A_VIEW:
        return True
    return e["source"] in bots.BROWSER_SOURCES and bots.is_bot(e.get("user_agent"))


def third_business_day(start: date) -> date:
    found, d = 0, start
    while found < 3:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in JP_HOLIDAYS:
            found += 1
    return d


class Recount:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.profiles: dict[str, dict[str, Any]] = {}
        self.memberships: list[dict[str, Any]] = []
        self.held: set[tuple[str, str, int]] = set()
        self.claims: list[dict[str, Any]] = []
        self.enrollments: list[dict[str, Any]] = []
        self.deferrals: list[dict[str, Any]] = []
        self.alert_items: list[dict[str, Any]] = []
        self.reactivations: list[dict[str, Any]] = []
        for i in items:
            pk, sk = i["pk"], i["sk"]
            if not pk.startswith("LEAD#"):
                continue
            lead_id = pk[5:]
            kind = sk.split("#")[0]
            if kind == "EV":
                self.events[lead_id].append(i)
            elif kind == "PROFILE":
                self.profiles[lead_id] = i
            elif kind == "MEMBER":
                self.memberships.append({**i, "lead_id": lead_id})
            elif kind == "APPROACH" and i["status"] == "holdout":
                self.held.add((lead_id, i["segment_id"], int(i["entered_at"])))
            elif kind == "MAIL":
                self.claims.append(i)
            elif kind == "ENROLL":
                self.enrollments.append(i)
            elif kind == "DEFER":
                self.deferrals.append(i)
            elif kind == "ALERT":
                self.alert_items.append({**i, "lead_id": lead_id})
            elif kind == "REACTIVATED":
                self.reactivations.append({**i, "lead_id": lead_id})
        for evs in self.events.values():
            evs.sort(key=lambda e: (e["ts"], e["id"]))

    def returns(self, lead_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events[lead_id]
                if e.get("revisit") and e["kind"] != "email_click" and not is_machine(e)]

    def conversions(self, lead_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events[lead_id] if e["kind"] in ("purchase", "sales_conversation", "conversion")]

    def definition(self, segment_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for m in (m for m in self.memberships if m["segment_id"] == segment_id):
            entered, left = int(m["entered_at"]), m.get("left_at")
            arm = "h" if (m["lead_id"], segment_id, entered) in self.held else "t"
            out[day(entered)]["entered"] += 1
            out[day(entered)]["entered_h"] += arm == "h"
            if left is not None:
                out[day(int(left))]["left"] += 1
            for name, found in (("returned", self.returns(m["lead_id"])),
                                ("converted", self.conversions(m["lead_id"]))):
                first = next((e for e in found if entered <= e["ts"] and (left is None or e["ts"] < left)), None)
                if first is not None:
                    out[day(first["ts"])][name] += 1
                    out[day(entered)][f"{name}_{arm}"] += 1
        for r in (r for r in self.reactivations if r["segment_id"] == segment_id):
            out[day(int(r["reactivated_at"]))]["reactivated"] += 1
        return out

    def members_on(self, segment_id: str, at: int) -> int:
        return sum(1 for m in self.memberships if m["segment_id"] == segment_id and m["entered_at"] <= at
                   and (m.get("left_at") is None or m["left_at"] > at))

    def human_click(self, lead_id: str, click: dict[str, Any]) -> bool:
        if is_machine(click):
            return False
        as_events = [Event(**{k: v for k, v in e.items() if k in Event.__dataclass_fields__})
                     for e in self.events[lead_id]]
        me = next(e for e in as_events if e.id == click["id"])
        return alerts.scanner_click(me, as_events, alerts.AlertSettings()) is None

    def steps(self) -> dict[tuple[str, int], dict[str, int]]:
        out: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        sent_at: dict[str, int] = {c["message_id"]: int(c["claimed_at"]) for c in self.claims}
        for c in self.claims:
            out[(c["sequence"], int(c["step_index"]))]["sent"] += 1
        for e in self.enrollments:
            out[(e["sequence"], 0)]["enrolled"] += 1
        for d in self.deferrals:  # one marker per enrollment step the cap or the gap moved
            out[(d["sequence"], int(d["step_index"]))]["deferred"] += 1
        for lead_id, evs in self.events.items():
            firsts: dict[tuple[str, str], int] = {}
            for e in evs:
                name = {"email_delivery": "delivered", "email_open": "opened", "email_bounce": "bounced",
                        "email_complaint": "complained"}.get(e["kind"])
                if e["kind"] == "email_click" and self.human_click(lead_id, e):
                    name = "clicked"
                if name and e.get("message_id"):
                    firsts.setdefault((e["message_id"], name), e["ts"])

            def last_mail(ts: int, lead_id: str = lead_id) -> str | None:
                fits = [(at, m) for m, at in sent_at.items() if f":{lead_id}:" in m and at <= ts and ts - at <= 7 * DAY]
                return max(fits)[1] if fits else None

            for name, found in (("returned", self.returns(lead_id)), ("converted", self.conversions(lead_id)),
                                ("unsubscribed", [e for e in evs if e["kind"] == "unsubscribe"][:1])):
                for e in found:
                    m = last_mail(e["ts"])
                    if m:
                        firsts.setdefault((m, name), e["ts"])
            for message_id, name in firsts:
                sequence, step = message_id.split(":")[:2]
                out[(sequence, int(step))][name] += 1
        return out

    def owners(self) -> dict[str, tuple[int, int, float | None]]:
        sent: dict[str, int] = defaultdict(int)
        followed: dict[str, list[int]] = defaultdict(list)
        for a in self.alert_items:
            sent[self.profiles[a["lead_id"]].get("owner") or "team"] += 1
        for lead_id in {r["lead_id"] for r in self.reactivations}:
            at = int(self.profiles[lead_id]["reactivated_at"])
            first = next((e for e in self.events[lead_id] if e["kind"] == "sales_followup" and e["ts"] >= at), None)
            start = datetime.fromtimestamp(at / 1000, TOKYO).date()
            done = datetime.fromtimestamp(first["ts"] / 1000, TOKYO).date() if first is not None else None
            if first is not None and done is not None and done <= third_business_day(start):
                followed[self.profiles[lead_id].get("owner") or "team"].append(first["ts"] - at)
        return {o: (sent[o], len(followed[o]), statistics.median(followed[o]) if followed[o] else None)
                for o in sent}


# --- the test ---------------------------------------------------------------------------------------


def test_every_report_number_equals_a_recount_from_raw_records(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(os.environ["TABLE_NAME"])
    definitions = simulate(store, monkeypatch)
    first, last = datetime.fromtimestamp(T0 / 1000, TOKYO).date(), date(2026, 10, 31)
    infos = [DefinitionInfo(d.id, d.name, d.approach.type, getattr(d.approach, "sequence", None),
                            d.approach.holdout) for d in definitions]
    report = build_report(CounterStore(store.client, store.table_name), infos,
                          [SequenceInfo("nurture", "ナーチャリング", STEPS)], first, last, RUN2)
    truth = Recount(raw_items())

    checked = 0
    for d in report.definitions:
        expected = truth.definition(d.info.id)
        for when, row in d.trend:
            if when < first:
                continue
            counts = expected.get(when.strftime("%Y%m%d"), {})
            for name in ("entered", "left", "returned", "reactivated", "converted"):
                assert row[name] == counts.get(name, 0), (d.info.id, when, name)
                checked += 1
        assert d.totals["members"] == truth.members_on(d.info.id, RUN2)
        for name in ("returned", "converted"):
            comparison = d.returns if name == "returned" else d.conversions
            entered = sum(c.get("entered", 0) for c in expected.values())
            held = sum(c.get("entered_h", 0) for c in expected.values())
            want = compare(entered - held, sum(c.get(f"{name}_t", 0) for c in expected.values()),
                           held, sum(c.get(f"{name}_h", 0) for c in expected.values()))
            assert comparison == want, (d.info.id, name)
    steps = truth.steps()
    for s in report.steps:
        for name, value in s.counts.items():
            assert value == steps[(s.sequence.id, s.index)].get(name, 0), (s.index, name)
            checked += 1
    owners = truth.owners()
    assert {o.owner: (o.alerts, o.followed, o.median_ms) for o in report.owners} == owners

    # Positive controls: the dataset exercised what it claims to.
    nurture = next(d for d in report.definitions if d.info.id == "nurture")
    assert nurture.totals["entered_h"] > 0 and nurture.returns.held > 0
    first_step = report.steps[0].counts
    assert first_step["clicked"] > 0 and first_step["returned"] > 0 and first_step["unsubscribed"] > 0
    assert first_step["bounced"] + first_step["complained"] > 0
    scanner_clicks = sum(1 for lead_id, evs in truth.events.items() for e in evs
                         if e["kind"] == "email_click" and not truth.human_click(lead_id, e))
    assert scanner_clicks > first_step["clicked"] / 2  # many clicks were scanners, and none were counted
    assert sum(d.totals["left"] for d in report.definitions) > 0
    assert any(o.followed for o in report.owners)
    assert report.items_read <= (len(report.definitions) * 90 + len(report.steps) * 31 + 2 * 31)
    assert checked > 100
