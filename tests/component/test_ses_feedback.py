"""SES bounces and complaints (through SNS) suppress the lead for good; deliveries are recorded."""

from __future__ import annotations

import json
import os
from typing import Any

from reawake.core.store import Store
from tests.conftest import LambdaContext, load_function

EMAIL = "taro@example.co.jp"


def sns(*messages: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Message": m if isinstance(m, str) else json.dumps(m)}} for m in messages
        ]
    }


def notification(kind: str, **body: Any) -> dict[str, Any]:
    return {
        "eventType": kind,
        "mail": {"messageId": f"ses-{kind}-1", "destination": [EMAIL], "tags": {"message_id": ["webinar-invite:0:x"]}},
        **body,
    }


def bounce(bounce_type: str) -> dict[str, Any]:
    return notification("Bounce", bounce={"bounceType": bounce_type, "bouncedRecipients": [{"emailAddress": EMAIL}]})


def setup_lead(api: Any) -> str:
    assert api("POST", "/v1/identify", {"visitor_id": "visitor-0001", "email": EMAIL})[0] == 200
    return Store(os.environ["TABLE_NAME"]).lead_id_of(EMAIL) or ""


def test_hard_bounce_suppresses_and_a_replay_records_once(api: Any) -> None:
    lead_id = setup_lead(api)
    app = load_function("track")
    assert app.handler(sns(bounce("Permanent")), LambdaContext())["suppressed"] == 1
    app.handler(sns(bounce("Permanent")), LambdaContext())  # SNS delivers at least once
    store = Store(os.environ["TABLE_NAME"])
    lead = store.get_lead(lead_id)
    assert lead is not None and lead.suppressed == "bounce"
    assert [e.kind for e in store.lead_events(lead_id)] == ["email_bounce"]


def test_complaint_suppresses_even_after_an_unsubscribe(api: Any) -> None:
    lead_id = setup_lead(api)
    from reawake.core.settings import get_settings
    from reawake.tracking import recording

    store = Store(os.environ["TABLE_NAME"])
    recording.unsubscribe(store, get_settings(), lead_id, 1, via="link")
    complaint = notification("Complaint", complaint={"complainedRecipients": [{"emailAddress": EMAIL}]})
    load_function("track").handler(sns(complaint), LambdaContext())
    lead = store.get_lead(lead_id)
    assert lead is not None and lead.suppressed == "complaint" and lead.unsubscribed_at == 1


def test_soft_bounce_and_delivery_are_recorded_without_suppressing(api: Any) -> None:
    lead_id = setup_lead(api)
    delivery = notification("Delivery", delivery={"recipients": [EMAIL]})
    load_function("track").handler(sns(bounce("Transient"), delivery), LambdaContext())
    store = Store(os.environ["TABLE_NAME"])
    lead = store.get_lead(lead_id)
    assert lead is not None and lead.suppressed is None
    events = {e.kind: e for e in store.lead_events(lead_id)}
    assert set(events) == {"email_bounce", "email_delivery"}
    assert events["email_delivery"].message_id == "webinar-invite:0:x"


def test_garbage_and_strangers_are_skipped_without_failing_the_batch(api: Any) -> None:
    lead_id = setup_lead(api)
    stranger = bounce("Permanent")
    stranger["bounce"]["bouncedRecipients"] = [{"emailAddress": "nobody@example.jp"}]
    result = load_function("track").handler(
        sns("not json", {"eventType": "Bounce"}, stranger, bounce("Permanent")), LambdaContext()
    )
    assert result == {"recorded": 1, "suppressed": 1, "skipped": 3}
    assert Store(os.environ["TABLE_NAME"]).get_lead(lead_id).suppressed == "bounce"  # type: ignore[union-attr]
