"""The business flow's metrics (Powertools Metrics, CloudWatch EMF) as the track handler emits them;
the alert, call-list and step-mail functions' metrics are asserted beside their own tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from reawake.core.store import Store
from tests.component.test_ses_feedback import bounce, notification, sns
from tests.component.test_track_api import event, new_lead, now_ms, unsubscribe_token
from tests.conftest import LambdaContext, load_function

Metrics = Callable[[], dict[str, float]]


def test_events_accepted_duplicate_and_rejected(api: Any, metrics_emitted: Metrics) -> None:
    new_lead(api)
    metrics_emitted()
    assert api("POST", "/v1/events", [event(1), event(2)])[0] == 202
    assert api("POST", "/v1/events", [event(2), event(3)])[0] == 202
    assert api("POST", "/v1/events", [{"id": "x"}])[0] == 400
    found = metrics_emitted()
    assert found.get("EventsAccepted") == 3
    assert found.get("EventsDuplicate") == 1
    assert found.get("EventsRejected") == 1
    assert "Revisits" not in found, "an active lead's visit is no revisit"


def test_a_dormant_leads_visit_counts_as_a_revisit(api: Any, metrics_emitted: Metrics) -> None:
    lead_id = new_lead(api)
    store = Store(os.environ["TABLE_NAME"])
    lead = store.get_lead(lead_id)
    assert lead is not None
    store.save_lead(replace(lead, dormant_since=now_ms() - 86_400_000), lead.version)
    metrics_emitted()
    assert api("POST", "/v1/events", [event(5)])[0] == 202
    assert metrics_emitted().get("Revisits") == 1


def test_unsubscribes_bounces_and_complaints(api: Any, metrics_emitted: Metrics) -> None:
    lead_id = new_lead(api)
    metrics_emitted()
    assert api("POST", f"/v1/unsubscribe/{unsubscribe_token(lead_id)}", b"List-Unsubscribe=One-Click",
               headers={"content-type": "application/x-www-form-urlencoded"})[0] == 200
    complaint = notification("Complaint", complaint={"complainedRecipients": [{"emailAddress": "taro@example.co.jp"}]})
    delivery = notification("Delivery", delivery={"recipients": ["taro@example.co.jp"]})
    load_function("track").handler(sns(bounce("Permanent"), complaint, delivery), LambdaContext())
    found = metrics_emitted()
    assert (found.get("Unsubscribes"), found.get("Bounces"), found.get("Complaints")) == (1, 1, 1)


def test_the_track_functions_log_lines_carry_api_gateways_request_id(aws: Any) -> None:
    from reawake_tools.local.apigw import http_event, match, routes_of
    from reawake_tools.local.template import load_template

    route, params = match(routes_of(load_template()), "POST", "/v1/events") or (None, {})
    assert route is not None
    request = http_event(route, params, "POST", "/v1/events", {"content-type": "application/json"}, b"[]")
    app = load_function("track")
    app.logger.set_correlation_id(None)  # the logger is per process: an earlier test's request set it
    assert app.logger.get_correlation_id() is None, "control: none before a request"
    app.handler(request, LambdaContext())
    assert app.logger.get_correlation_id() == request["requestContext"]["requestId"]
