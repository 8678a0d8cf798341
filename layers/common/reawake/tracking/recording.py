"""Recording what visitors and leads do: the domain calls behind the tracking API.

Each function takes the store, the settings and ``now_ms`` and returns a plain result; the
HTTP layer only parses and answers.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace

from reawake.core import counters
from reawake.core.events import ActivityIn, BrowserEventIn, Event, to_epoch_ms
from reawake.core.leads import Lead, flag_revisits, fold_events
from reawake.core.normalize import normalize_email
from reawake.core.scoring import ScoringConfig, apply_events
from reawake.core.settings import Settings
from reawake.core.store import EVENTS_PER_COMMIT, CommitConflict, Store
from reawake.core.tokens import Purpose, Token, TokenError, sign, verify

MAX_ATTEMPTS = 8
MINUTE_MS = 60_000
BROWSER_PAST_LIMIT_MS = 24 * 60 * MINUTE_MS  # beacons queued longer than a day are refused
FUTURE_LIMIT_MS = 5 * MINUTE_MS  # clock skew allowed on the caller's side
ACTIVITY_EPOCH_MS = 946_684_800_000  # 2000-01-01: older history is surely a typo
IDENTIFY_TOKEN_TTL_MS = 30 * MINUTE_MS


class InvalidInput(ValueError):
    """Input that passed the schema but not the rules; ``field`` names where."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Recorded:
    accepted: int
    duplicates: int
    revisits: int = 0


def check_time(ts: int, now_ms: int, oldest_ms: int, field: str) -> None:
    if ts > now_ms + FUTURE_LIMIT_MS:
        raise InvalidInput("timestamp_in_future", "the timestamp is in the future", field)
    if ts < oldest_ms:
        raise InvalidInput("timestamp_too_old", "the timestamp is too far in the past", field)


def browser_events(
    batch: list[BrowserEventIn],
    settings: Settings,
    now_ms: int,
    source: str = "browser",
    user_agent: str = "",
    skew_ms: int = 0,
) -> list[Event]:
    """Validate a batch against the clock and the configured sites; all or nothing. ``skew_ms`` is
    added to the browser's timestamps (the local stack's clock runs ahead of the wall clock)."""
    events = []
    for index, item in enumerate(batch):
        ts = to_epoch_ms(item.ts) + skew_ms
        check_time(ts, now_ms, now_ms - BROWSER_PAST_LIMIT_MS, f"events.{index}.ts")
        if not settings.is_site_url(item.url):
            raise InvalidInput("unknown_site", "the page is not on a configured site", f"events.{index}.url")
        events.append(
            Event(
                id=item.id,
                kind=item.type,
                ts=ts,
                source=source,
                visitor_id=item.visitor_id,
                url=item.url,
                referrer=item.referrer,
                props=dict(item.props),
                user_agent=user_agent or None,
            )
        )
    return events


def record(
    store: Store, settings: Settings, events: list[Event], now_ms: int, scoring: ScoringConfig | None = None
) -> Recorded:
    """Store events once each (by id), attributing them to the visitor's lead when known, and
    update that lead's aggregates (and score, given the scoring config) in the same transaction."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    duplicates = len(events) - len(unique)
    accepted = revisits = 0
    groups: dict[tuple[str | None, str | None], list[Event]] = {}
    for event in unique.values():
        groups.setdefault((event.lead_id, event.visitor_id), []).append(event)
    for (lead_id, visitor_id), group in groups.items():
        if lead_id is None and visitor_id is not None:
            lead_id = store.get_visitor_lead(visitor_id)
        result = _record_group(store, settings, lead_id, group, now_ms, scoring)
        accepted += result.accepted
        duplicates += result.duplicates
        revisits += result.revisits
    return Recorded(accepted, duplicates, revisits)


def expires_at(settings: Settings, now_ms: int) -> int:
    return now_ms // 1000 + settings.event_retention_days * 86_400


def updated_lead(
    lead: Lead, events: list[Event], settings: Settings, now_ms: int, scoring: ScoringConfig | None
) -> Lead:
    updated = fold_events(lead, events, settings.time_zone, now_ms, settings.event_retention_days)
    return apply_events(updated, events, scoring, now_ms) if scoring else updated


def _record_group(
    store: Store,
    settings: Settings,
    lead_id: str | None,
    events: list[Event],
    now_ms: int,
    scoring: ScoringConfig | None,
) -> Recorded:
    total = Recorded(0, 0)
    lead = store.get_lead(lead_id) if lead_id else None
    if lead is not None and lead.lead_id != lead_id:  # an id from before `reawake migrate lead-ids`
        lead_id = lead.lead_id
        events = [e.for_lead(lead_id) for e in events]
    for start in range(0, len(events), EVENTS_PER_COMMIT):
        result, lead = _commit_chunk(store, settings, lead_id, lead, events[start : start + EVENTS_PER_COMMIT],
                                     now_ms, scoring)
        total = Recorded(total.accepted + result.accepted, total.duplicates + result.duplicates,
                         total.revisits + result.revisits)
    return total


def _commit_chunk(
    store: Store,
    settings: Settings,
    lead_id: str | None,
    lead: Lead | None,
    events: list[Event],
    now_ms: int,
    scoring: ScoringConfig | None,
) -> tuple[Recorded, Lead | None]:
    """One transaction's worth of events; returns what was recorded and the lead as it now is."""
    pending = list(events)
    for _ in range(MAX_ATTEMPTS):
        if not pending:
            break
        if lead is None:
            to_store, new_lead = pending, None
        else:
            to_store = flag_revisits(lead, pending)
            new_lead = updated_lead(lead, to_store, settings, now_ms, scoring)
        new_lead, counts = counters.count(lead, new_lead, to_store, now_ms, settings.time_zone)
        try:
            store.commit(
                to_store,
                expires_at(settings, now_ms),
                new_lead,
                lead.version if lead else None,
            )
            counters.add(store, counts)
            saved = replace(new_lead, version=lead.version + 1) if new_lead and lead else None
            recorded = Recorded(len(to_store), len(events) - len(to_store), sum(e.revisit for e in to_store))
            return recorded, saved
        except CommitConflict as conflict:
            pending = [e for e in pending if e.id not in conflict.duplicate_ids]
            if conflict.stale_lead and lead_id:
                lead = store.get_lead(lead_id)
                if lead is not None and lead.lead_id != lead_id:  # moved to a new id meanwhile
                    lead_id = lead.lead_id
                    pending = [e.for_lead(lead_id) for e in pending]
    else:
        raise RuntimeError("the lead kept changing; giving up after retries")
    return Recorded(0, len(events)), lead


# --- identity ---------------------------------------------------------------------------------


def identify_token(lead_id: str, key: bytes, now_ms: int) -> str:
    """The short-lived token appended to a tracked link's target (``rw_id``)."""
    return sign(Token(Purpose.IDENTIFY, lead_id, (now_ms + IDENTIFY_TOKEN_TTL_MS) // 1000), key)


def lead_for_token(token: str, key: bytes, now_ms: int) -> str:
    try:
        return verify(token, key, Purpose.IDENTIFY, now_ms // 1000).lead_id
    except TokenError as exc:
        raise InvalidInput("bad_token", f"the identify token is not valid ({exc.reason})", "token") from exc


def ensure_lead(
    store: Store, email: str, now_ms: int, source: str, name: str | None = None, company: str | None = None
) -> Lead:
    """The lead with this email, created (registered now) when it does not exist yet."""
    lead_id = store.claim_lead_id(email)
    lead = store.get_lead(lead_id)
    if lead is not None:
        return lead
    lead = Lead(lead_id=lead_id, email=email, registered_at=now_ms, source=source, name=name, company=company)
    with contextlib.suppress(CommitConflict):  # created concurrently: use that one
        store.save_lead(lead, None)
    found = store.get_lead(lead_id)
    assert found is not None
    return found


def link(
    store: Store,
    settings: Settings,
    visitor_id: str,
    lead_id: str,
    now_ms: int,
    scoring: ScoringConfig | None = None,
) -> str:
    """Link a browser to a lead; on the first link, fold its anonymous history into the lead."""
    current = store.get_lead(lead_id)  # a token from before `reawake migrate lead-ids` names the old id
    lead_id = current.lead_id if current else lead_id
    outcome = store.link_visitor(visitor_id, lead_id, now_ms)
    if outcome != "new":
        return outcome
    history = [e.for_lead(lead_id) for e in store.visitor_events(visitor_id)]
    if not history:
        return outcome
    for _ in range(MAX_ATTEMPTS):
        lead = store.get_lead(lead_id)
        if lead is None:
            return outcome
        try:
            store.save_lead(updated_lead(lead, history, settings, now_ms, scoring), lead.version)
            return outcome
        except CommitConflict:
            continue
    raise RuntimeError("the lead kept changing; giving up after retries")


def consent_record(marketing_email: bool, text: str | None, source_url: str | None, now_ms: int) -> dict[str, object]:
    return {"marketing_email": marketing_email, "text": text, "source_url": source_url, "at": now_ms}


def record_consent(store: Store, lead: Lead, consent: dict[str, object]) -> None:
    for _ in range(MAX_ATTEMPTS):
        try:
            store.save_lead(replace(lead, consent=consent), lead.version)
            return
        except CommitConflict:
            fresh = store.get_lead(lead.lead_id)
            assert fresh is not None
            lead = fresh
    raise RuntimeError("the lead kept changing; giving up after retries")


# --- email links ------------------------------------------------------------------------------


def email_event(kind: str, token: Token, now_ms: int, url: str | None = None, user_agent: str = "") -> Event:
    """An email interaction; its id is derived so that a replayed request is stored once a minute."""
    raw = f"{kind}|{token.lead_id}|{token.message_id}|{url}|{now_ms // MINUTE_MS}"
    event_id = "e" + hashlib.sha256(raw.encode()).hexdigest()[:31]
    props = {"campaign": token.message_id.split(":")[0]} if token.message_id else {}
    return Event(
        id=event_id,
        kind=kind,
        ts=now_ms,
        source="email",
        lead_id=token.lead_id,
        url=url,
        message_id=token.message_id,
        props=props,
        user_agent=user_agent or None,
    )


def unsubscribe(store: Store, settings: Settings, lead_id: str, now_ms: int, via: str) -> bool:
    """Suppress the lead at once. Returns False when the lead does not exist."""
    event = Event(
        id=f"unsub-{lead_id}", kind="unsubscribe", ts=now_ms, source="email", lead_id=lead_id, props={"via": via}
    )
    return suppress(store, settings, lead_id, event, "unsubscribe", now_ms)


def suppress(store: Store, settings: Settings, lead_id: str, event: Event, reason: str | None, now_ms: int) -> bool:
    """Record an email event and, given a reason (unsubscribe, bounce, complaint), suppress the lead
    in the same write: it is never mailed again. Returns False when the lead does not exist."""
    for _ in range(MAX_ATTEMPTS):
        lead = store.get_lead(lead_id)
        if lead is None:
            return False
        updated = lead
        if reason == "unsubscribe" and lead.unsubscribed_at is None:
            updated = replace(updated, unsubscribed_at=now_ms)
        if reason and updated.suppressed in (None, "unsubscribe"):
            updated = replace(updated, suppressed=reason)
        stored = event.for_lead(lead.lead_id)
        counted, counts = counters.count(lead, updated, [stored], now_ms, settings.time_zone)
        try:
            store.commit([stored], expires_at(settings, now_ms), counted, lead.version)
            counters.add(store, counts)
            return True
        except CommitConflict as conflict:
            if conflict.duplicate_ids:
                return True  # this notification was recorded before
    raise RuntimeError("the lead kept changing; giving up after retries")


# --- server-to-server activities --------------------------------------------------------------


def activity_events(activities: list[ActivityIn], now_ms: int) -> list[tuple[str, Event]]:
    """Validate activities against the clock; returns (normalized email, event) pairs."""
    out = []
    for index, item in enumerate(activities):
        try:
            email = normalize_email(item.email)
        except ValueError as exc:
            raise InvalidInput("invalid_email", str(exc), f"activities.{index}.email") from exc
        ts = to_epoch_ms(item.occurred_at)
        check_time(ts, now_ms, ACTIVITY_EPOCH_MS, f"activities.{index}.occurred_at")
        # Without an id, the same activity sent twice (a re-imported CSV) is still stored once.
        event_id = item.id or "a" + hashlib.sha256(f"{email}|{item.type}|{ts}|{item.url}".encode()).hexdigest()[:31]
        out.append(
            (email, Event(id=event_id, kind=item.type, ts=ts, source="activity", url=item.url, props=dict(item.props)))
        )
    return out


def record_activities(
    store: Store,
    settings: Settings,
    pairs: list[tuple[str, Event]],
    now_ms: int,
    scoring: ScoringConfig | None = None,
) -> Recorded:
    """Record activities; a lead unknown so far is created, registered at its first activity."""
    total = Recorded(0, 0)
    by_email: dict[str, list[Event]] = {}
    for email, event in pairs:
        by_email.setdefault(email, []).append(event)
    for email, events in by_email.items():
        lead = ensure_lead(store, email, min(e.ts for e in events), source="activity")
        result = record(store, settings, [e.for_lead(lead.lead_id) for e in events], now_ms, scoring)
        total = Recorded(
            total.accepted + result.accepted, total.duplicates + result.duplicates, total.revisits + result.revisits
        )
    return total
