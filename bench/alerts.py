"""Revisit alerts: how fast a salesperson hears of a return, and what the alert handler costs.

1. **Latency on the local stack** (`reawake local --no-samples` in a subprocess, as `make local`
   runs it): 200 dormant leads come back one after another (identify + a page view over HTTP);
   the time from the page view's HTTP response to the alert mail accepted by the emulator's SES
   (seen in the stack's outbox). Goal: p95 ≤ 2 s. Anchors: HubSpot calls its alerts "real time";
   Pardot's take "a few hours"; Mautic is bound to its cron (5–15 min).
2. **Handler cost per record** (in-process emulator): the alert function on a one-record stream
   batch (read the lead, reactivate, claim the window, read the visit, render, SES, SNS, marks)
   vs. a bare SES send of the same raw message, both measured in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import SITE, emulated_stack, report

REVISITS = 200
COST_RECORDS = 200
OWNER = "sato.kenji@example.co.jp"
DAY = 86_400_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def dormant(index: int, now_ms: int) -> Any:
    from reawake.core.leads import Lead, new_lead_id

    email = f"bench{index:04d}@kyumin.example.jp"
    since = now_ms - 40 * DAY
    return Lead(lead_id=new_lead_id(), email=email, registered_at=now_ms - 400 * DAY, name=f"休眠 {index}",
                company="ベンチ株式会社", owner=OWNER, segments={"dormant-no-visit": since}, dormant_since=since)


def latency_on_stack() -> list[float]:
    from reawake_tools.local.clock import now_of
    from tests.stack.harness import start, stop
    from tests.stack.test_alerts_on_stack import SentMail, come_back

    with tempfile.TemporaryDirectory() as tmp:
        stack = start(Path(tmp), "--no-samples")
        try:
            store = stack.store()
            now = int(now_of(stack.info).timestamp() * 1000)
            leads = [dormant(i, now) for i in range(REVISITS)]
            for lead in leads:
                store.save_lead(lead, None)
            sent = SentMail(stack)
            latencies = []
            for lead in leads:
                began = come_back(stack, lead)
                latencies.append(sent.wait_for_alert(lead.lead_id, timeout=30) - began)
            return latencies
        finally:
            stop(stack)


def handler_cost() -> tuple[float, float]:
    """(median ms per record of the alert handler, median ms of a bare SES raw send)."""
    import os

    with emulated_stack() as created:
        import boto3

        from reawake.alerts import entry as alert_entry
        from reawake.core.dynamo import serialize
        from reawake.core.events import Event
        from reawake.core.settings import get_settings
        from reawake.core.store import Store, event_to_item
        from reawake.segments.definitions import upload_config
        from reawake.tracking.recording import record
        from reawake_tools.local.connect import reset_caches
        from reawake_tools.local.template import ROOT, function_environment, load_template
        from tests.conftest import LambdaContext, load_function

        os.environ.update(function_environment(load_template(), created, "AlertFunction"))
        reset_caches()
        alert_entry.reset()
        s3 = boto3.client("s3")
        bucket = os.environ["CONFIG_BUCKET"]
        upload_config(s3, bucket, ROOT / "config")
        for name in ("mail.yaml", "owners.yaml"):
            s3.put_object(Bucket=bucket, Key=f"config/{name}", Body=(ROOT / "config" / name).read_bytes())
        sesv2 = boto3.client("sesv2")
        sesv2.create_email_identity(EmailIdentity="info@example.co.jp")
        store = Store(get_settings().table_name)
        app = load_function("alert")
        now = int(time.time() * 1000)
        handler_ms: list[float] = []
        for i in range(COST_RECORDS):
            lead = dormant(i, now)
            store.save_lead(lead, None)
            event = Event(id=f"bench{i:06d}pv", kind="page_view", ts=now - 2000, source="browser",
                          lead_id=lead.lead_id, url=f"{SITE}/product/", user_agent="Mozilla/5.0 Chrome/131.0",
                          props={"title": "製品紹介"})
            record(store, get_settings(), [event], now)
            flagged = store.lead_events(lead.lead_id)[0]
            image = serialize(event_to_item(flagged, 0))
            batch = {"Records": [{"eventID": str(i), "eventName": "INSERT", "eventSource": "aws:dynamodb",
                                  "awsRegion": "ap-northeast-1",
                                  "dynamodb": {"SequenceNumber": str(i), "NewImage": image, "Keys": {}}}]}
            began = time.perf_counter()
            result = app.handler(batch, LambdaContext())
            handler_ms.append((time.perf_counter() - began) * 1000)
            assert result == {"batchItemFailures": []}, result
        from moto.ses.models import ses_backends

        raw_messages = [m.raw_data.encode() for m in ses_backends["123456789012"]["ap-northeast-1"].sent_messages]
        assert len(raw_messages) == COST_RECORDS
        bare_ms = []
        for raw in raw_messages:
            began = time.perf_counter()
            sesv2.send_email(FromEmailAddress="info@example.co.jp", Destination={"ToAddresses": [OWNER]},
                             Content={"Raw": {"Data": raw}})
            bare_ms.append((time.perf_counter() - began) * 1000)
        reset_caches()
        alert_entry.reset()
        return statistics.median(handler_ms[5:]), statistics.median(bare_ms[5:])


def run() -> None:
    handler_ms, bare_ms = handler_cost()
    latencies = latency_on_stack()
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    report("alerts", [
        ("revisits on the local stack", f"{len(latencies)}"),
        ("page view response -> alert in SES, p50", f"{p50 * 1000:.0f} ms"),
        ("page view response -> alert in SES, p95", f"{p95 * 1000:.0f} ms (goal <= 2000 ms; "
                                                    "HubSpot 'real time', Pardot 'a few hours', Mautic cron 5-15 min)"),
        ("max", f"{max(latencies) * 1000:.0f} ms"),
        ("alert handler per record (median)", f"{handler_ms:.1f} ms"),
        ("bare SES raw send (median)", f"{bare_ms:.1f} ms"),
        ("handler / bare send", f"{handler_ms / bare_ms:.1f}x"),
    ])


if __name__ == "__main__":
    run()
