"""Segment run cost (issue 3): reading every lead vs. reading it and evaluating every definition.

Figures, all measured in one run on the in-process emulator (``bench.common.emulated_stack``):

1. **Scan vs. scan + evaluate**, 100k leads: ``Store.scan_leads`` over every shard, each item
   deserialized into a ``Lead`` (what a shard must do anyway), vs. the same scan with every
   shipped definition (``config/segments.yaml`` + ``config/scoring.yaml``, compiled once per
   shard, as ``run_shard`` does) evaluated on each lead. Each of 64 parallel-scan shards is read
   both ways back to back, order alternating, so load from other work hits both sides alike.
   No membership writes in this ratio; a ``run_shard`` first run (writes every entry) and re-run
   (writes nothing) are timed separately on one shard, for context.
2. **O(leads)**: the same leads (same ids, profiles and time spans) with 10x the events each:
   aggregates grow (more day buckets, more ``last`` keys), events are never read. Scan + evaluate
   at 10x vs. 1x, shard by shard, interleaved; 20k leads each side (the 10x items are almost three
   times larger and the emulator holds both sets at once). The run scans the ``lead_facts`` index
   (what the rules read, without the maps that grow with events); the same comparison over the
   whole-profile ``leads`` index, projected and not, is printed beside it.
3. **Rule evaluation throughput**: predicates over leads already in memory, one core.
4. **Lead item size** (DynamoDB's own size rules): average and p95; it drives RCU per scanned
   lead and WCU per tracked event.

Lead shapes come from ``tests.datagen`` (seeded: aggregates folded from generated events by
``reawake.core.leads.fold_events``, scores by ``reawake.core.scoring.apply_events``); 2,500 distinct shapes
are replicated with new emails and ids to reach 100k.

The leads go straight into moto's table in-process (``load_items``: PutItem through boto3 costs
minutes per 100k and adds nothing to what is measured: the items are already there on AWS). Scans
are served by the local stack's own fast path (``reawake_tools.local.fast_scan``: moto's Scan costs
~15 ms per item), with the index and projection a run uses (``reawake.segments.reads.scan_plan``); the time spent in
it is reported ("emulator") and is part of both sides; the ratio without it is printed too, and
so is the strictest one: JSON -> Lead alone (no HTTP, no botocore) vs. the same plus predicates.
The client side (boto3 request, response parsing, ``Lead``, predicates) is the real code.
"""

from __future__ import annotations

import gc
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import emulated_stack, median, report

ROOT = Path(__file__).resolve().parents[1]
LEADS = 100_000
DENSE_LEADS = 20_000  # the 10x-events comparison (both sides at this count)
SHAPES = 2_500
FACTOR = 10
SHARDS = 64  # parallel-scan segments; each is scanned alone and with evaluation back to back
DENSE_SHARDS = 16
DENSE_PASSES = 1
RUN_SHARDS = 64  # the run_shard timing evaluates shard 0 of 64 (about 1.5k leads)
PAGE_BYTES = 1024 * 1024
TOKYO = ZoneInfo("Asia/Tokyo")
RATIO_GOAL = 1.25
DENSE_GOAL = 1.15


# --- DynamoDB item size
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    if "e" in digits.lower():  # scientific notation: count the mantissa
        digits = digits.lower().split("e", 1)[0]
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB JSON (attribute name not included)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(inner) * 3 // 4
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


# --- the emulator shortcut ------------------------------------------------------------------


def _wire(value: Any) -> dict[str, Any]:
    """A moto DynamoType as DynamoDB JSON."""
    if value.is_map():
        return {"M": {k: _wire(v) for k, v in value.value.items()}}
    if value.is_list():
        return {"L": [_wire(v) for v in value.value]}
    return {value.type: value.value}


@dataclass
class ItemSet:
    """Lead items ready for moto: the table's ``items`` mapping, and each item's size."""

    items: Any  # moto's Table.items: a defaultdict of hash key -> range key -> Item
    sizes: list[int]
    index_sizes: list[int]  # of the item in the ``lead_facts`` index


def load_items(shapes: list[dict[str, Any]], count: int) -> ItemSet:
    """``count`` lead items cycling through ``shapes`` (DynamoDB JSON), each with its own email
    and id (``bench000000@example.jp`` ...), as moto stores them. Replicas share the moto values
    of their shape's aggregates (nothing here updates an item in place; a Put replaces it)."""
    from collections import defaultdict

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from reawake.core.leads import new_lead_id
    from reawake.segments.reads import FACTS_ATTRS

    identity = ("pk", "lead_key", "lead_id", "email")
    in_index = {*identity, "sk", *FACTS_ATTRS}
    prepared = []
    for shape in shapes:
        rest = {k: v for k, v in shape.items() if k not in identity}
        moto_rest = {k: DynamoType(v) for k, v in rest.items()}
        sample = {
            "pk": {"S": "LEAD#" + "x" * 20},
            "lead_key": {"S": "x" * 20},
            "lead_id": {"S": "x" * 20},
            "email": {"S": "bench000000@example.jp"},
        }
        whole = {**rest, **sample}
        prepared.append((moto_rest, item_size(whole), item_size({k: v for k, v in whole.items() if k in in_index})))
    items: dict[Any, dict[Any, Any]] = defaultdict(dict)
    sizes = []
    index_sizes = []
    for i in range(count):
        moto_rest, size, index_size = prepared[i % len(prepared)]
        email = f"bench{i:06d}@example.jp"
        lead_id = new_lead_id()
        ids = {
            "pk": {"S": f"LEAD#{lead_id}"},
            "lead_key": {"S": lead_id},
            "lead_id": {"S": lead_id},
            "email": {"S": email},
        }
        item = Item(DynamoType(ids["pk"]), moto_rest["sk"], {})
        dict.update(item.attrs, moto_rest, **{k: DynamoType(v) for k, v in ids.items()})
        items[item.hash_key][item.range_key] = item
        sizes.append(size)
        index_sizes.append(index_size)
    return ItemSet(items, sizes, index_sizes)


# --- lead shapes -----------------------------------------------------------------------------


def denser_events(dataset: Any, factor: int, seed: int = 7) -> dict[str, list[Any]]:
    """Each lead's events plus ``factor - 1`` more per event: same kind and source, a time within
    the lead's own span (so the latest event stays the latest), and for page events a page,
    site, topic and campaign drawn as ``tests.datagen`` draws them (new ``last`` keys, new day
    buckets)."""
    from reawake.core.events import Event
    from tests.datagen import CAMPAIGNS, PATHS, SHOP, SITE, TOPICS

    rng = random.Random(seed)
    dense: dict[str, list[Any]] = {}
    for lead_id, events in dataset.events.items():
        if not events:
            dense[lead_id] = []
            continue
        lo = min(e.ts for e in events)
        hi = max(e.ts for e in events)
        more = []
        for event in events:
            for n in range(factor - 1):
                ts = rng.randint(lo, hi)
                props: dict[str, Any] = {}
                url = None
                if event.url:
                    url = (SITE if rng.random() < 0.8 else SHOP) + rng.choice(PATHS)
                    if rng.random() < 0.4:
                        props["topic"] = rng.choice(TOPICS)
                    if rng.random() < 0.1:
                        props["campaign"] = rng.choice(CAMPAIGNS)
                elif rng.random() < 0.2:
                    props["topic"] = rng.choice(TOPICS)
                more.append(
                    Event(
                        id=f"{event.id}-{n}",
                        kind=event.kind,
                        ts=ts,
                        source=event.source,
                        lead_id=lead_id,
                        url=url,
                        props=props,
                    )
                )
        dense[lead_id] = events + more
    return dense


def denser_leads(dataset: Any, dense: dict[str, list[Any]], scoring: Any) -> list[Any]:
    """The dataset's leads with their aggregates and score rebuilt from ``dense`` events."""
    from reawake.core.leads import fold_events
    from reawake.core.scoring import apply_events
    from tests.datagen import RETENTION_DAYS

    leads = []
    for lead in dataset.leads:
        events = dense[lead.lead_id]
        fresh = replace(lead, last={}, days={}, score=0.0, score_at=0)
        fresh = fold_events(fresh, events, TOKYO, dataset.now_ms, RETENTION_DAYS)
        leads.append(apply_events(fresh, events, scoring, dataset.now_ms))
    return leads


def load_config() -> tuple[Any, list[Any]]:
    from reawake.core.scoring import load_scoring_file
    from reawake.segments.rules.config import load_segment_files

    scoring = load_scoring_file(ROOT / "config" / "scoring.yaml")
    return scoring, load_segment_files([ROOT / "config" / "segments.yaml"], scoring)


def to_wire(leads: list[Any]) -> list[dict[str, Any]]:
    from reawake.core.dynamo import serialize
    from reawake.core.store import lead_to_item

    return [serialize(lead_to_item(lead)) for lead in leads]


# --- measuring -------------------------------------------------------------------------------


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def shard_pass(store: Any, shard: int, total: int, evaluate: Callable[[], Any] | None,
               paths: Any = None, index: str = "leads") -> tuple[float, int, int]:
    """(seconds, leads, matches): one parallel-scan segment of ``index`` read into Leads
    (projected to ``paths``, as ``run_shard`` reads it); with ``evaluate`` (which compiles the
    definitions, as ``run_shard`` does once per shard) every definition is tested on every lead."""
    from reawake.segments.run import matching

    start = time.perf_counter()
    leads = matches = 0
    if evaluate is None:
        for _ in store.scan_leads(shard, total, paths, index):
            leads += 1
    else:
        compiled = evaluate()
        for lead in store.scan_leads(shard, total, paths, index):
            leads += 1
            matches += len(matching(compiled, lead))
    return time.perf_counter() - start, leads, matches


def dense_pass(store: Any, table: Any, small: ItemSet, dense: ItemSet, compiled: Callable[[], Any],
               paths: Any, index: str) -> tuple[dict[str, float], dict[str, float]]:
    """Scan + evaluate of the 1x and the 10x leads, shard by shard, interleaved, order alternating:
    ({side: seconds}, {side: of which the emulator's})."""
    from reawake_tools.local.fast_scan import stats

    seconds = {"1x": 0.0, "10x": 0.0}
    emulator = {"1x": 0.0, "10x": 0.0}
    for pass_ in range(DENSE_PASSES):
        for shard in range(DENSE_SHARDS):
            for name in ("1x", "10x") if (shard + pass_) % 2 == 0 else ("10x", "1x"):
                table.items = (small if name == "1x" else dense).items
                before = stats.seconds
                seconds[name] += shard_pass(store, shard, DENSE_SHARDS, compiled, paths, index)[0]
                emulator[name] += stats.seconds - before
    return seconds, emulator


def throughput(leads: list[Any], predicates: list[Callable[[Any], bool]], repeat: int) -> float:
    """Best of three: leads x definitions evaluated per second, leads already in memory."""
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            for lead in leads:
                for predicate in predicates:
                    predicate(lead)
        best = min(best, time.perf_counter() - start)
    return repeat * len(leads) * len(predicates) / best


def client_work(
    raw: list[dict[str, Any]], predicates: list[Callable[[Any], bool]], rounds: int = 5
) -> tuple[float, float]:
    """Seconds per lead of the client work without HTTP, botocore or the emulator: DynamoDB JSON
    -> Lead, then (second figure) the same and every predicate. Interleaved, best of ``rounds``."""
    from reawake.core.store import lead_from_item

    best = [math.inf, math.inf]
    for round_ in range(rounds):
        for evaluate in (False, True) if round_ % 2 == 0 else (True, False):
            start = time.perf_counter()
            for item in raw:
                lead = lead_from_item(item)
                if evaluate:
                    for predicate in predicates:
                        predicate(lead)
            best[evaluate] = min(best[evaluate], time.perf_counter() - start)
    return best[0] / len(raw), best[1] / len(raw)


def run() -> dict[str, float]:
    started = time.perf_counter()
    with emulated_stack():
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        from reawake.core.store import Store
        from reawake.segments.reads import scan_plan
        from reawake.segments.rules.compile import Context, compile_definitions
        from reawake.segments.run import run_shard
        from reawake_tools.local.fast_scan import stats as scan
        from tests.datagen import generate

        store = Store(os.environ["TABLE_NAME"])
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].get_table(store.table_name)
        scoring, definitions = load_config()

        t = time.perf_counter()
        dataset = generate(scoring, SHAPES)
        shapes = dataset.leads
        dense_events = denser_events(dataset, FACTOR)
        dense_shapes = denser_leads(dataset, dense_events, scoring)
        now_ms = dataset.now_ms
        wire1, wire10 = to_wire(shapes), to_wire(dense_shapes)
        generated = time.perf_counter() - t
        t = time.perf_counter()
        full = load_items(wire1, LEADS)
        small = load_items(wire1, DENSE_LEADS)
        dense = load_items(wire10, DENSE_LEADS)
        index, paths = scan_plan(definitions)  # what a run reads of each lead, and where
        loaded = time.perf_counter() - t
        gc.collect()
        gc.freeze()  # the loaded items are permanent: keep the collector from rescanning them

        def compiled() -> Any:
            return compile_definitions(definitions, Context(now_ms, TOKYO, scoring))

        predicates = [p for _, p in compiled()]

        # 1. scan alone vs. scan + evaluate, 100k leads: each shard both ways, back to back
        table.items = full.items
        shard_pass(store, 0, 256, compiled, paths, index)  # warm-up (botocore models, paginator, caches)
        alone = {"s": 0.0, "emu": 0.0, "leads": 0}
        both = {"s": 0.0, "emu": 0.0, "leads": 0}
        per_shard: list[float] = []
        matches = 0
        for shard in range(SHARDS):
            pair = {}
            for evaluate in (False, True) if shard % 2 == 0 else (True, False):
                before = scan.seconds
                seconds, count, found = shard_pass(store, shard, SHARDS, compiled if evaluate else None, paths,
                                                   index)
                side = both if evaluate else alone
                side["s"] += seconds
                side["emu"] += scan.seconds - before
                side["leads"] += count
                matches += found
                pair[evaluate] = seconds
            per_shard.append(pair[True] / pair[False])
        assert alone["leads"] == both["leads"] == LEADS, (alone, both)
        ratio = both["s"] / alone["s"]
        strict = (both["s"] - both["emu"]) / (alone["s"] - alone["emu"])
        client1_read, client1 = client_work(wire1, predicates)
        bare = client1 / client1_read

        # 3. throughput, leads in memory
        per_second = throughput(shapes, predicates, LEADS // SHAPES)
        per_second_dense = throughput(dense_shapes, predicates, LEADS // SHAPES)

        # 2. the same leads (same ids, so the same shards) with 10x the events, shard by shard
        dense_s, dense_emu = dense_pass(store, table, small, dense, compiled, paths, index)
        profiles_s = dense_pass(store, table, small, dense, compiled, paths, "leads")[0]  # the projection alone
        whole_s = dense_pass(store, table, small, dense, compiled, None, "leads")[0]  # every attribute read
        d1, d10 = dense_s["1x"] / DENSE_PASSES, dense_s["10x"] / DENSE_PASSES
        dense_ratio = d10 / d1
        dense_client = (dense_s["10x"] - dense_emu["10x"]) / (dense_s["1x"] - dense_emu["1x"])
        whole_ratio = whole_s["10x"] / whole_s["1x"]
        profiles_ratio = profiles_s["10x"] / profiles_s["1x"]
        client10 = client_work(wire10, predicates, 3)[1]
        no_days = client_work([{k: v for k, v in w.items() if k != "days"} for w in wire10], predicates, 3)[1]
        events1 = statistics.mean(len(v) for v in dataset.events.values())
        events10 = statistics.mean(len(v) for v in dense_events.values())

        # 4. a real shard run: first run (every entry written) and a re-run (nothing written)
        table.items = full.items
        t = time.perf_counter()
        first = run_shard(store, definitions, 0, RUN_SHARDS, now_ms, TOKYO, scoring)
        first_s = time.perf_counter() - t
        t = time.perf_counter()
        again = run_shard(store, definitions, 0, RUN_SHARDS, now_ms, TOKYO, scoring)
        again_s = time.perf_counter() - t
        shard_scan_s = shard_pass(store, 0, RUN_SHARDS, None, paths, index)[0]
        gc.unfreeze()

    avg1, p95_1 = statistics.mean(full.sizes), percentile(full.sizes, 0.95)
    avg10, p95_10 = statistics.mean(dense.sizes), percentile(dense.sizes, 0.95)
    facts1 = statistics.mean(full.index_sizes)
    n_defs = len(definitions)
    scan_s, eval_s = alone["s"], both["s"]
    report(
        f"Segment run: scan alone vs. scan + evaluate, {LEADS:,} leads, {n_defs} shipped definitions",
        [
            (
                "data",
                f"{SHAPES:,} datagen lead shapes replicated to {LEADS:,} leads "
                f"(generated in {generated:.0f} s, put into the emulator in {loaded:.0f} s)",
            ),
            (
                "method",
                f"Store.scan_leads -> Lead over {SHARDS} parallel-scan shards; each shard scanned alone and "
                "with evaluation back to back, order alternating",
            ),
            ("scan alone", f"{scan_s:.1f} s ({scan_s / LEADS * 1e6:.0f} us per lead; emulator {alone['emu']:.1f} s)"),
            (
                "scan + evaluate",
                f"{eval_s:.1f} s ({eval_s / LEADS * 1e6:.0f} us per lead; {matches:,} memberships matched)",
            ),
            (f"ratio (goal <= {RATIO_GOAL})", f"{ratio:.3f}"),
            (
                "per shard",
                f"median {median(per_shard):.3f}, min {min(per_shard):.3f}, max {max(per_shard):.3f}",
            ),
            ("without the emulator's time", f"{strict:.3f}"),
            ("JSON -> Lead only (no HTTP/botocore)", f"{bare:.3f} (the strictest: the cheapest baseline)"),
            ("membership writes", "not in this ratio: a first run writes every entry (see run_shard below)"),
        ],
    )
    report(
        f"Segment run: the same leads with {FACTOR}x the events ({DENSE_LEADS:,} leads each side)",
        [
            ("events per lead", f"{events1:.1f} vs {events10:.1f} (the run never reads events)"),
            (
                "aggregates per lead",
                f"days {statistics.mean(len(s.days) for s in shapes):.0f} vs "
                f"{statistics.mean(len(s.days) for s in dense_shapes):.0f} buckets, "
                f"last {statistics.mean(len(s.last) for s in shapes):.0f} vs "
                f"{statistics.mean(len(s.last) for s in dense_shapes):.0f} keys",
            ),
            ("lead item size", f"avg {avg1:,.0f} vs {avg10:,.0f} bytes"),
            (
                "scan + evaluate",
                f"{d1:.2f} s vs {d10:.2f} s ({DENSE_SHARDS} shards each way, interleaved, order alternating)",
            ),
            ("index item size", f"avg {statistics.mean(small.index_sizes):,.0f} vs "
                                f"{statistics.mean(dense.index_sizes):,.0f} bytes (the `{index}` index)"),
            (f"ratio (goal <= {DENSE_GOAL})", f"{dense_ratio:.2f} (the `{index}` index, projected to the {len(paths)} "
                                              f"paths the rules and the run read)"),
            ("without the emulator's time", f"{dense_client:.2f} (the client side: what a shard's Lambda pays)"),
            ("ratio, whole profiles projected", f"{profiles_ratio:.2f} ({profiles_s['1x']:.2f} s vs "
                                               f"{profiles_s['10x']:.2f} s: the `leads` index, before `lead_facts`)"),
            ("ratio reading whole items", f"{whole_ratio:.2f} ({whole_s['1x']:.2f} s vs {whole_s['10x']:.2f} s: "
                                          "before the projection)"),
            (
                "JSON -> Lead -> predicates, whole items",
                f"{client1 * 1e6:.0f} vs {client10 * 1e6:.0f} us per lead "
                f"({client10 / client1:.2f}x; without `days`: {no_days * 1e6:.0f} us, {no_days / client1:.2f}x)",
            ),
            (
                "predicates alone",
                f"{per_second:,.0f} vs {per_second_dense:,.0f} lead-definitions/s "
                f"({per_second / per_second_dense:.2f}x)",
            ),
        ],
    )
    report(
        "Rule evaluation throughput (leads in memory, one core, best of 3)",
        [
            (
                "leads x definitions per second",
                f"{per_second:,.0f} ({per_second / n_defs:,.0f} leads/s x {n_defs} definitions; "
                f"{FACTOR}x events: {per_second_dense:,.0f})",
            ),
        ],
    )
    report(
        "Lead item size (DynamoDB's size rules: profile + aggregates)",
        [
            ("1x events", f"avg {avg1:,.0f} bytes, p95 {p95_1:,.0f}, max {max(full.sizes):,}"),
            (f"{FACTOR}x events", f"avg {avg10:,.0f} bytes, p95 {p95_10:,.0f}, max {max(dense.sizes):,}"),
            ("scan read units (eventually consistent)", f"{avg1 / 8192:.3f} RRU per lead (0.5 RRU per 4 KB read); "
                                                        f"of the `lead_facts` index {facts1 / 8192:.3f}"),
            (
                "profile write per tracked request",
                f"avg {math.ceil(avg1 / 1024)} KB -> {2 * math.ceil(avg1 / 1024)} WRU in the transaction + "
                f"{math.ceil(avg1 / 1024)} for the leads index entry + {math.ceil(facts1 / 1024)} for lead_facts; "
                f"p95 {3 * math.ceil(p95_1 / 1024) + math.ceil(percentile(full.index_sizes, 0.95) / 1024)} WRU",
            ),
        ],
    )
    report(
        f"run_shard on shard 0 of {RUN_SHARDS} of the {LEADS:,} leads (context, writes included)",
        [
            (
                "first run",
                f"{first_s:.2f} s for {first.scanned:,} leads ({first_s / max(first.scanned, 1) * 1e3:.2f} ms per "
                f"lead; {sum(first.entered.values()):,} entries written, {first.retries} retries)",
            ),
            (
                "re-run",
                f"{again_s:.2f} s ({again_s / max(again.scanned, 1) * 1e3:.2f} ms per lead; "
                f"{sum(again.entered.values()) + sum(again.left.values())} changes written)",
            ),
            ("scan of that shard alone", f"{shard_scan_s:.2f} s"),
            ("whole benchmark", f"{time.perf_counter() - started:.0f} s"),
        ],
    )
    return {
        "ratio": ratio,
        "ratio_without_emulator": strict,
        "dense_ratio": dense_ratio,
        "dense_ratio_whole_items": whole_ratio,
        "dense_ratio_whole_profiles_projected": profiles_ratio,
        "dense_ratio_without_emulator": dense_client,
        "per_second": per_second,
        "item_avg": avg1,
        "item_p95": p95_1,
        "scan_us_per_lead": scan_s / LEADS * 1e6,
        "eval_us_per_lead": eval_s / LEADS * 1e6,
    }


if __name__ == "__main__":
    run()
