"""`reawake leads import`: leads from a CSV file, created or updated by email, row by row.

- A row is validated whole (LeadRow) or rejected whole; a rejected row writes nothing.
- Rows with the same email are merged in file order (the later non-empty value wins) and written
  once; the earlier rows are reported as merged.
- One email = one conditional write of the lead profile at version+1, the same optimistic
  version that tracking uses, so an import never loses an event's aggregates and vice versa.
  Only identity fields and attributes change: aggregates, score, consent and suppression never.
- An empty cell never clears a stored value. Re-importing a file changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from reawake.core.leads import Lead, new_lead_id
from reawake.core.normalize import company_key, normalize_email
from reawake.core.settings import Settings
from reawake.core.store import CommitConflict, Store
from reawake.tracking.recording import FUTURE_LIMIT_MS, MAX_ATTEMPTS
from reawake_tools.imports.csvfile import (
    LEAD_HEADERS,
    ImportReport,
    RowIssue,
    Table,
    parse_datetime,
    read_file,
    row_issues,
    too_many_cells,
)
from reawake_tools.imports.pipeline import pipelined, transact

logger = Logger(child=True)

Progress = Callable[[int, int], None]
OLDEST_REGISTRATION_MS = -2_208_988_800_000  # 1900-01-01: older is surely a typo
BATCH = 100  # leads read per BatchGetItem
WORKERS = 8  # conditional writes in flight at once (boto3 clients are thread-safe)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_text(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("制御文字は使えません (control characters are not allowed)")
    return value


Text = Annotated[str, StringConstraints(max_length=200), AfterValidator(_plain_text)]
AttrValue = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_plain_text)]


class LeadRow(BaseModel):
    """One data row of a leads file, after header mapping (cells are trimmed, empty ones absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    name: Text | None = None
    company: Text | None = None
    owner: str | None = None
    registered_at: int | None = None
    attrs: dict[str, AttrValue] = {}

    @field_validator("email", "owner")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("registered_at", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        context = info.context or {}
        ts = parse_datetime(value, context["tz"])
        if ts > context["now_ms"] + FUTURE_LIMIT_MS:
            raise ValueError("未来の日付です (the date is in the future)")
        if ts < OLDEST_REGISTRATION_MS:
            raise ValueError("古すぎる日付です (the date is before 1900)")
        return ts


def lead_row(cells: dict[str, str], settings: Settings, now_ms: int) -> LeadRow:
    """Validate one row's cells; ValidationError names the columns."""
    known = {k: v for k, v in cells.items() if k in LEAD_HEADERS}
    split_name = " ".join(known.pop(k) for k in ("last_name", "first_name") if k in known)
    if split_name and "name" not in known:
        known["name"] = split_name
    attrs = {k: v for k, v in cells.items() if k not in LEAD_HEADERS}
    return LeadRow.model_validate({**known, "attrs": attrs}, context={"tz": settings.time_zone, "now_ms": now_ms})


def apply_row(lead: Lead | None, row: LeadRow, now_ms: int, lead_id: str) -> Lead:
    """The lead after this row: created (as ``lead_id``) when absent; otherwise identity fields and
    attributes given in the row replace the stored ones and everything else is kept."""
    if lead is None:
        registered_at = now_ms if row.registered_at is None else row.registered_at
        lead = Lead(lead_id=lead_id, email=row.email, registered_at=registered_at)
    return replace(
        lead,
        name=row.name or lead.name,
        company=row.company or lead.company,
        company_key=company_key(row.company) if row.company else lead.company_key,
        owner=row.owner or lead.owner,
        registered_at=lead.registered_at if row.registered_at is None else row.registered_at,
        attrs={**lead.attrs, **row.attrs},
    )


def validate_rows(
    table: Table, settings: Settings, now_ms: int, report: ImportReport
) -> dict[str, list[tuple[int, LeadRow]]]:
    """Valid rows grouped by email (file order kept); rejected rows go to the report."""
    groups: dict[str, list[tuple[int, LeadRow]]] = {}
    for number, cells in table.rows:
        extra = too_many_cells(number, cells)
        if extra:
            report.rejected.append(extra)
            continue
        try:
            row = lead_row(cells, settings, now_ms)
        except ValidationError as exc:
            report.rejected.extend(row_issues(exc, number, table))
            continue
        groups.setdefault(row.email, []).append((number, row))
    for rows in groups.values():
        last = rows[-1][0]
        report.notes.extend(
            RowIssue(n, None, f"行 {last} と同じメールアドレスのため統合 (merged into row {last}: same email)")
            for n, _ in rows[:-1]
        )
    return groups


def _write(store: Store, current: Lead | None, rows: list[tuple[int, LeadRow]], now_ms: int) -> str:
    """Write one email's rows as one conditional put; "created", "updated" or "unchanged"."""
    lead_id = current.lead_id if current else store.claim_lead_id(rows[0][1].email, looked_up=True)
    for _ in range(MAX_ATTEMPTS):
        target = current
        for _, row in rows:
            target = apply_row(target, row, now_ms, lead_id)
        assert target is not None
        if current is not None and target == current:
            return "unchanged"
        try:
            store.save_lead(target, current.version if current else None)
        except CommitConflict:
            current = store.get_lead(lead_id)  # changed (or created) meanwhile: apply the rows again
            continue
        logger.debug("lead imported", extra={"lead_id": lead_id, "new_lead": current is None})
        return "created" if current is None else "updated"
    raise RuntimeError("the lead kept changing; giving up after retries")


def _write_again(store: Store, known_id: str | None, rows: list[tuple[int, LeadRow]], now_ms: int) -> str:
    """A refused email, on its own: read afresh, then ``_write``."""
    return _write(store, store.get_lead(known_id) if known_id else None, rows, now_ms)


def _plan(store: Store, email: str, current: Lead | None, known_id: str | None,
          rows: list[tuple[int, LeadRow]], now_ms: int) -> tuple[list[dict[str, Any]], str]:
    """The transaction items of one email's rows ([] when nothing changes) and the outcome they
    make: the lead's conditional put, and for a new email the conditional claim of its id."""
    lead_id = current.lead_id if current else known_id or new_lead_id()
    target = current
    for _, row in rows:
        target = apply_row(target, row, now_ms, lead_id)
    assert target is not None
    if current is not None and target == current:
        return [], "unchanged"
    items = [{"Put": store.lead_put(target, current.version if current else None)}]
    if current is None and known_id is None:
        items.insert(0, {"Put": store.email_claim_put(email, lead_id)})
    return items, "created" if current is None else "updated"


def import_table(
    store: Store, table: Table, settings: Settings, now_ms: int, progress: Progress | None = None
) -> ImportReport:
    """Each chunk of BATCH emails: one batched read of their ids and leads, then their writes
    packed into transactions (``Store.transact_groups``, ~50 new leads per request). An email
    whose write is refused (claimed or changed meanwhile) is written again on its own (``_write``)."""
    report = ImportReport(table.file, rows=len(table.rows))
    groups = validate_rows(table, settings, now_ms, report)
    emails = list(groups)
    done = len(table.rows) - sum(len(rows) for rows in groups.values())  # rejected rows
    one_by_one = 0

    def plan(chunk: list[str]) -> tuple[list[str], dict[str, str], list[tuple[list[dict[str, Any]], str]]]:
        ids = store.lead_ids_of(chunk)
        existing = store.get_leads(list(ids.values()))
        return chunk, ids, [_plan(store, e, existing.get(ids.get(e, "")), ids.get(e), groups[e], now_ms)
                            for e in chunk]

    def write(planned: tuple[list[str], dict[str, str], list[tuple[list[dict[str, Any]], str]]]
              ) -> list[tuple[str, str, bool]]:
        """(email, outcome, whether it was written again on its own) per email of the chunk."""
        chunk, ids, plans = planned
        outcomes = [(e, outcome, False) for e, (_, outcome) in zip(chunk, plans, strict=True)]
        again = sorted(transact(store, [items for items, _ in plans], pool))
        retried = pool.map(_write_again, [store] * len(again), [ids.get(chunk[i]) for i in again],
                           [groups[chunk[i]] for i in again], [now_ms] * len(again))
        for i, outcome in zip(again, retried, strict=True):
            outcomes[i] = (chunk[i], outcome, True)
        return outcomes

    def finish(outcomes: list[tuple[str, str, bool]]) -> None:
        nonlocal done, one_by_one
        for email, outcome, again in outcomes:
            setattr(report, outcome, getattr(report, outcome) + 1)
            one_by_one += again
            done += len(groups[email])
        if progress:
            progress(done, len(table.rows))

    with ThreadPoolExecutor(WORKERS) as pool:  # transactions in flight, and refused leads one by one
        pipelined((emails[i : i + BATCH] for i in range(0, len(emails), BATCH)), plan, write, finish)
    logger.info(
        "leads import finished",
        extra={
            "leads_created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected_rows": report.rejected_rows,
            "merged_rows": len(report.notes),
            "written_one_by_one": one_by_one,
        },
    )
    return report


def import_csv_file(
    store: Store, path: Path | str, settings: Settings, now_ms: int, progress: Progress | None = None
) -> ImportReport:
    """Import a leads CSV file. Raises CsvFileError when the file itself cannot be read."""
    table = read_file(path, LEAD_HEADERS, required=("email",))
    return import_table(store, table, settings, now_ms, progress)
