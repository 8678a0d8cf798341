"""schemathesis hooks for the fuzz suite (loaded by the `st` process through SCHEMATHESIS_HOOKS).

JSON Schema cannot say "a page of a configured site", "a time within the last day" or "an email", so
most generated events and activities would be refused before they reach the store, and the fuzzer would
never see what storing them does (numbers DynamoDB cannot hold were found there). These hooks put a
configured site, the current time and a real-looking address into the fields that are already
schema-valid, and leave everything else as generated: a negative case stays negative."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any
from urllib.parse import quote

import schemathesis

SITE = os.environ.get("REAWAKE_FUZZ_SITE", "")


def _on_site(url: Any) -> Any:
    if not (SITE and isinstance(url, str) and 8 <= len(url) <= 2048):
        return url
    return f"{SITE}/{quote(url, safe='')}"[:2048]


def _now(ts: Any) -> Any:
    return int(time.time() * 1000) if type(ts) is int else ts


def _email(email: Any) -> Any:
    if not isinstance(email, str) or len(email) > 254:
        return email
    return f"fuzz-{hashlib.sha256(email.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}@example.co.jp"


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    path = context.operation.path if context.operation is not None else ""
    if not isinstance(body, dict):
        return body
    if path == "/v1/events" and isinstance(body.get("events"), list):
        for event in body["events"]:
            if isinstance(event, dict):
                if "url" in event:
                    event["url"] = _on_site(event["url"])
                if "ts" in event:
                    event["ts"] = _now(event["ts"])
    elif path == "/v1/activities" and isinstance(body.get("activities"), list):
        for activity in body["activities"]:
            if isinstance(activity, dict):
                if "email" in activity:
                    activity["email"] = _email(activity["email"])
                if "occurred_at" in activity:
                    activity["occurred_at"] = _now(activity["occurred_at"])
                if isinstance(activity.get("url"), str):
                    activity["url"] = _on_site(activity["url"])
    elif path == "/v1/identify" and "email" in body:
        body["email"] = _email(body["email"])
    return body
