"""The report's entry: build it from the counters and the config bucket, write it to a folder (the
CLI, the local stack's ``/report``) or to the config bucket (the daily ``ReportFunction``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from reawake.core import clock
from reawake.core.counters import CounterStore
from reawake.core.durations import local_day
from reawake.core.settings import ReportFunctionSettings, get_settings
from reawake.core.store import Store
from reawake.reports import csvout, html
from reawake.reports.crosstab import CrossTab, cross_tab
from reawake.reports.model import DefinitionInfo, Report, SequenceInfo, build_report

logger = Logger(child=True)
REPORTS_PREFIX = "reports/"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ReportConfig:
    definitions: list[DefinitionInfo]
    sequences: list[SequenceInfo]
    owner_names: dict[str, str]
    definition_names: list[tuple[str, str]]
    scoring: Any


def read_config(bucket: str) -> ReportConfig:
    """Definitions, sequences and owners' names from the config bucket."""
    from reawake.segments.definitions import OwnerMailBucket
    from reawake.stepmail.store import SequenceConfig

    templates = OwnerMailBucket(bucket)
    segments = templates.segments()
    definitions = [DefinitionInfo(d.id, d.name, d.approach.type, getattr(d.approach, "sequence", None),
                                  d.approach.holdout) for d in segments]
    sequences = [SequenceInfo(s.id, s.name, tuple(step.name or step.template or f"ステップ{i + 1}"
                                                  for i, step in enumerate(s.steps)))
                 for s in SequenceConfig(bucket).sequences().values()]
    owners = {email: owner.name for email, owner in templates.owners().items()}
    return ReportConfig(definitions, sequences, owners, [(d.id, d.name) for d in segments], templates.scoring())


def period(now_ms: int, first: date | None = None, last: date | None = None,
           days: int = DEFAULT_DAYS) -> tuple[date, date]:
    end = last or local_day(now_ms, get_settings().time_zone)
    return first or end - timedelta(days=days - 1), end


def build(store: Store, config: ReportConfig, first: date, last: date, now_ms: int) -> Report:
    return build_report(CounterStore(store.client, store.table_name), config.definitions, config.sequences, first,
                        last, now_ms, config.owner_names)


def crosstab(store: Store, config: ReportConfig, axis: str, now_ms: int, keep_members: bool = False) -> CrossTab:
    """One parallel-scan pass over the leads index."""
    return cross_tab(store.scan_leads(), config.definition_names, axis, config.scoring, now_ms, keep_members)


def files(report: Report, table: CrossTab | None = None, encoding: str = "utf-8-sig") -> dict[str, bytes]:
    """``index.html`` and the CSV files, as bytes."""
    out = {"index.html": html.render(report, get_settings().time_zone, table).encode("utf-8")}
    for name, (header, rows) in csvout.tables(report, table).items():
        out[name] = csvout.encode(header, rows, encoding)
    return out


def write(out_dir: Path, written: dict[str, bytes]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in written.items():
        (out_dir / name).write_bytes(data)
        paths.append(out_dir / name)
    return paths


def upload(client: Any, bucket: str, day: date, written: dict[str, bytes]) -> list[str]:
    """``reports/<day>/…`` and ``reports/latest/…`` in the config bucket."""
    keys = []
    for folder in (day.isoformat(), "latest"):
        for name, data in written.items():
            key = f"{REPORTS_PREFIX}{folder}/{name}"
            kind = "text/html; charset=utf-8" if name.endswith(".html") else "text/csv"
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=kind)
            keys.append(key)
    return keys


def live_page(query: dict[str, Any], now_ms: int) -> str:
    """The local stack's ``/report``: the report up to today, as HTML (ValueError: a bad date)."""
    try:
        first = date.fromisoformat(query["from"]) if query.get("from") else None
        last = date.fromisoformat(query["to"]) if query.get("to") else None
    except ValueError as exc:
        raise ValueError(f"from / to: not a date (YYYY-MM-DD): {exc}") from exc
    settings = get_settings()
    store = Store(settings.table_name)
    config = read_config(settings.config_bucket)
    report = build(store, config, *period(now_ms, first, last), now_ms)
    table = crosstab(store, config, str(query.get("by") or "owner"), now_ms)
    return html.render(report, settings.time_zone, table)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The daily ReportFunction: the last ``REPORT_DAYS`` days up to yesterday (a whole day)."""
    from reawake.core.aws import client

    settings = get_settings(ReportFunctionSettings)
    now_ms = clock.now_ms()
    if event.get("render") == "html":
        return {"html": live_page(event, now_ms)}
    yesterday = local_day(now_ms, settings.time_zone) - timedelta(days=1)
    first, last = period(now_ms, last=yesterday, days=settings.report_days)
    store = Store(settings.table_name)
    config = read_config(settings.config_bucket)
    report = build(store, config, first, last, now_ms)
    axis = settings.report_crosstab_axis
    table = crosstab(store, config, axis, now_ms) if axis else None
    keys = upload(client("s3"), settings.config_bucket, last, files(report, table))
    logger.info("report written", extra={"first": first.isoformat(), "last": last.isoformat(),
                                         "items_read": report.items_read, "objects": len(keys)})
    return {"first": first.isoformat(), "last": last.isoformat(), "items_read": report.items_read,
            "key": f"{REPORTS_PREFIX}latest/index.html"}
