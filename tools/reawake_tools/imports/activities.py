"""`reawake activities import`: history from a CSV file (another tool's export, a POS, a CRM).

Same rules as ``POST /v1/activities`` (``tracking.activity_events``): any event kind, a
deterministic id so that re-importing a file stores nothing twice, a lead created for an unknown
email (registered at its first activity). Per row: a row is validated whole or rejected whole,
and its event is written in one transaction together with the lead's aggregates (and the new
lead, when there was none), so a row is never half imported.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from reawake.core.events import MAX_PROPS, ActivityIn, Event
from reawake.core.kinds import ACTIVITY_KINDS
from reawake.core.leads import Lead, flag_revisits, new_lead_id
from reawake.core.normalize import normalize_email
from reawake.core.scoring import ScoringConfig
from reawake.core.settings import Settings
from reawake.core.store import EVENTS_PER_COMMIT, CommitConflict, Store
from reawake.reports import counters
from reawake.reports.counting import Bump
from reawake.tracking.recording import MAX_ATTEMPTS, InvalidInput, activity_events, expires_at, updated_lead
from reawake_tools.imports.csvfile import (
    ACTIVITY_HEADERS,
    ImportReport,
    RowIssue,
    RowRejected,
    Table,
    header_key,
    parse_datetime,
    read_file,
    row_issues,
    shown_value,
    too_many_cells,
)
from reawake_tools.imports.leads import BATCH, WORKERS, Progress
from reawake_tools.imports.pipeline import pipelined, transact

logger = Logger(child=True)


# Japanese names people use for event kinds, beside the kinds themselves.
TYPE_ALIASES = {
    "ページ閲覧": "page_view",
    "閲覧": "page_view",
    "ページビュー": "page_view",
    "pv": "page_view",
    "フォーム送信": "form_submit",
    "資料ダウンロード": "download",
    "ダウンロード": "download",
    "ウェビナー視聴": "webinar_view",
    "セミナー視聴": "webinar_view",
    "ウェビナー申込": "webinar_application",
    "ウェビナー申し込み": "webinar_application",
    "セミナー申込": "webinar_application",
    "セミナー申し込み": "webinar_application",
    "購入": "purchase",
    "注文": "purchase",
    "受注": "purchase",
    "商談": "sales_conversation",
    "営業商談": "sales_conversation",
    "フォロー": "sales_followup",
    "営業フォロー": "sales_followup",
    "フォローアップ": "sales_followup",
    "製品利用": "product_use",
    "利用": "product_use",
    "成約": "conversion",
    "コンバージョン": "conversion",
    "メールクリック": "email_click",
    "メール開封": "email_open",
    "カスタム": "custom",
}
_TYPES = {header_key(k): v for k, v in TYPE_ALIASES.items()} | {header_key(k): k for k in ACTIVITY_KINDS}

PropText = Annotated[str, StringConstraints(max_length=500)]


class ActivityRow(BaseModel):
    """One data row of an activities file, after header mapping; ActivityIn checks the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    type: str
    occurred_at: int
    url: str | None = None
    id: str | None = None
    props: Annotated[dict[str, PropText], Field(max_length=MAX_PROPS)] = {}

    @field_validator("type")
    @classmethod
    def _kind(cls, value: str) -> str:
        kind = _TYPES.get(header_key(value))
        if kind is None:
            raise ValueError(f"未知の種別です (unknown type; use one of: {', '.join(sorted(ACTIVITY_KINDS))})")
        return kind

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_datetime(value, (info.context or {})["tz"]) if isinstance(value, str) else value


def row_id(row: ActivityRow) -> str | None:
    """Two rows are one activity when every cell is the same: without an id column, the other
    columns count too (two purchases of different products on one day are two purchases). With no
    other column, None: tracking derives the id exactly as for ``POST /v1/activities``."""
    if not row.props:
        return None
    try:
        email = normalize_email(row.email)
    except ValueError:
        return None  # activity_events rejects the row
    props = json.dumps(row.props, ensure_ascii=False, sort_keys=True)
    return "a" + hashlib.sha256(f"{email}|{row.type}|{row.occurred_at}|{row.url}|{props}".encode()).hexdigest()[:31]


def activity_event(
    cells: dict[str, str], table: Table, number: int, settings: Settings, now_ms: int
) -> tuple[str, Event]:
    """The (normalized email, event) of one row; RowRejected names the columns at fault."""
    known = {k: v for k, v in cells.items() if k in ("email", "type", "occurred_at", "url", "id")}
    props = {k: v for k, v in cells.items() if k not in known}
    try:
        row = ActivityRow.model_validate({**known, "props": props}, context={"tz": settings.time_zone})
        kind: Any = row.type  # checked against ActivityKind by ActivityIn
        # Only what the row has: ActivityIn's url check does not accept an explicit None.
        optional: dict[str, Any] = {k: v for k, v in (("id", row.id or row_id(row)), ("url", row.url)) if v}
        item = ActivityIn(email=row.email, type=kind, occurred_at=row.occurred_at, **optional)
    except ValidationError as exc:
        raise RowRejected(row_issues(exc, number, table)) from exc
    try:
        [(email, event)] = activity_events([item], now_ms)
    except InvalidInput as exc:
        column = (exc.field or "").rsplit(".", 1)[-1] or None
        message = f"{exc.message}: {shown_value(cells[column])}" if column in cells else exc.message
        raise RowRejected([RowIssue(number, table.label(column) if column else None, message)]) from exc
    return email, replace(event, props=dict(row.props))


def validate_rows(table: Table, settings: Settings, now_ms: int, report: ImportReport) -> dict[str, list[Event]]:
    """Valid rows' events grouped by email; rejected rows and repeats go to the report."""
    groups: dict[str, list[Event]] = {}
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        extra = too_many_cells(number, cells)
        if extra:
            report.rejected.append(extra)
            continue
        try:
            email, event = activity_event(cells, table, number, settings, now_ms)
        except RowRejected as exc:
            report.rejected.extend(exc.issues)
            continue
        if event.id in seen:
            report.duplicates += 1
            first = seen[event.id]
            report.notes.append(
                RowIssue(number, None, f"行 {first} と同じアクティビティ (same activity as row {first})")
            )
            continue
        seen[event.id] = number
        groups.setdefault(email, []).append(event)
    return groups


@dataclass
class Written:
    recorded: int = 0
    duplicates: int = 0  # already stored by an earlier import
    lead_created: bool = False


def _write_group(
    store: Store,
    settings: Settings,
    email: str,
    lead: Lead | None,
    events: list[Event],
    now_ms: int,
    scoring: ScoringConfig | None,
) -> Written:
    """Store one lead's events with its aggregates, EVENTS_PER_COMMIT events per transaction."""
    written = Written()
    lead_id = lead.lead_id if lead else store.claim_lead_id(email, looked_up=True)
    registered_at = min(e.ts for e in events)
    ordered = sorted((e.for_lead(lead_id) for e in events), key=lambda e: e.ts)
    for start in range(0, len(ordered), EVENTS_PER_COMMIT):
        pending = ordered[start : start + EVENTS_PER_COMMIT]
        for _ in range(MAX_ATTEMPTS):
            if not pending:
                break
            base = lead or Lead(lead_id=lead_id, email=email, registered_at=registered_at, source="activity")
            expected = lead.version if lead else None
            to_store = flag_revisits(base, pending)
            updated = updated_lead(base, to_store, settings, now_ms, scoring)
            updated, counts = counters.count(base, updated, to_store, now_ms, settings.time_zone)
            try:
                store.commit(to_store, expires_at(settings, now_ms), updated, expected)
                counters.add(store, counts)
            except CommitConflict as conflict:
                written.duplicates += len(conflict.duplicate_ids)
                pending = [e for e in pending if e.id not in conflict.duplicate_ids]
                if conflict.stale_lead:
                    lead = store.get_lead(lead_id)
                continue
            written.recorded += len(to_store)
            written.lead_created = written.lead_created or lead is None
            lead = replace(updated, version=(expected or 0) + 1)
            break
        else:
            raise RuntimeError("the lead kept changing; giving up after retries")
    logger.debug("activities imported", extra={"lead_id": lead_id})
    return written


@dataclass
class Planned:
    """One lead's events and new state, as transaction items to pack with other leads'."""

    email: str
    items: list[dict[str, Any]]
    written: Written
    counts: list[Bump]


def _plan(store: Store, settings: Settings, email: str, lead: Lead | None, known_id: str | None,
          events: list[Event], now_ms: int, scoring: ScoringConfig | None) -> Planned:
    """The one commit of a lead with at most EVENTS_PER_COMMIT new events (``_write_group``'s
    first round), plus the conditional claim of a new email's id."""
    lead_id = lead.lead_id if lead else known_id or new_lead_id()
    to_store = sorted((e.for_lead(lead_id) for e in events), key=lambda e: e.ts)
    base = lead or Lead(lead_id=lead_id, email=email, registered_at=to_store[0].ts, source="activity")
    to_store = flag_revisits(base, to_store)
    updated = updated_lead(base, to_store, settings, now_ms, scoring)
    updated, counts = counters.count(base, updated, to_store, now_ms, settings.time_zone)
    items = store.commit_items(to_store, expires_at(settings, now_ms), updated, lead.version if lead else None)
    if lead is None and known_id is None:
        items.insert(0, {"Put": store.email_claim_put(email, lead_id)})
    return Planned(email, items, Written(recorded=len(to_store), lead_created=lead is None), counts)


def _write_again(store: Store, settings: Settings, email: str, known_id: str | None, events: list[Event],
                 now_ms: int, scoring: ScoringConfig | None) -> Written:
    """A lead on its own (many events, or its batched write was refused): read afresh, then write."""
    lead = store.get_lead(known_id) if known_id else None
    return _write_group(store, settings, email, lead, events, now_ms, scoring)


def import_table(
    store: Store,
    table: Table,
    settings: Settings,
    now_ms: int,
    progress: Progress | None = None,
    scoring: ScoringConfig | None = None,
) -> ImportReport:
    """Each chunk of BATCH emails: one batched read of their ids and leads; the leads with at most
    EVENTS_PER_COMMIT new events written packed together (``Store.transact_groups``: each lead's
    events, id claims and aggregates all or nothing, several leads per request), the others, and any
    whose batched write was refused (a duplicate event, a lead changed meanwhile), one by one."""
    report = ImportReport(table.file, rows=len(table.rows))
    groups = validate_rows(table, settings, now_ms, report)
    emails = list(groups)
    done = len(table.rows) - sum(len(events) for events in groups.values())

    def plan(chunk: list[str]) -> tuple[list[str], dict[str, str], list[Planned]]:
        ids = store.lead_ids_of(chunk)
        existing = store.get_leads(list(ids.values()))
        small = [e for e in chunk if len(groups[e]) <= EVENTS_PER_COMMIT]
        return chunk, ids, [_plan(store, settings, e, existing.get(ids.get(e, "")), ids.get(e), groups[e], now_ms,
                                  scoring) for e in small]

    def write(planned: tuple[list[str], dict[str, str], list[Planned]]) -> list[tuple[str, Written]]:
        chunk, ids, plans = planned
        refused = transact(store, [p.items for p in plans], pool)
        kept = [p for i, p in enumerate(plans) if i not in refused]
        counters.add(store, [b for p in kept for b in p.counts])
        results = {p.email: p.written for p in kept}
        alone = [e for e in chunk if e not in results]
        written = pool.map(_write_again, [store] * len(alone), [settings] * len(alone), alone,
                           [ids.get(e) for e in alone], [groups[e] for e in alone], [now_ms] * len(alone),
                           [scoring] * len(alone))
        results.update(zip(alone, written, strict=True))
        return [(e, results[e]) for e in chunk]

    def finish(results: list[tuple[str, Written]]) -> None:
        nonlocal done
        for email, written in results:
            report.recorded += written.recorded
            report.duplicates += written.duplicates
            report.created += written.lead_created
            done += len(groups[email])
        if progress:
            progress(done, len(table.rows))

    with ThreadPoolExecutor(WORKERS) as pool:  # transactions in flight, and the leads written one by one
        pipelined((emails[i : i + BATCH] for i in range(0, len(emails), BATCH)), plan, write, finish)
    logger.info(
        "activities import finished",
        extra={
            "recorded": report.recorded,
            "duplicates": report.duplicates,
            "leads_created": report.created,
            "rejected_rows": report.rejected_rows,
        },
    )
    return report


def import_activities_file(
    store: Store,
    path: Path | str,
    settings: Settings,
    now_ms: int,
    progress: Progress | None = None,
    scoring: ScoringConfig | None = None,
) -> ImportReport:
    """Import an activities CSV file. Raises CsvFileError when the file itself cannot be read."""
    table = read_file(path, ACTIVITY_HEADERS, required=("email", "type", "occurred_at"))
    return import_table(store, table, settings, now_ms, progress, scoring)
