"""The report's CSV files open in Excel (BOM or CP932) and a cross-tab cell becomes a segment."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import yaml

from reawake.core.leads import Lead
from reawake.core.scoring import load_scoring_file
from reawake.reports import csvout
from reawake.reports.crosstab import cell_definition, cross_tab, raw_rules
from reawake.reports.model import build_report
from reawake.segments.rules.compile import Context, compile_definitions
from reawake.segments.rules.config import load_segments
from tests import reportdata
from tests.datagen import NOW, TOKYO

ROOT = Path(__file__).resolve().parents[2]


def test_every_csv_round_trips_through_cp932_and_utf8_bom() -> None:
    report = build_report(reportdata.counters(), reportdata.DEFINITIONS, reportdata.SEQUENCES,
                          reportdata.LAST - timedelta(days=29), reportdata.LAST, NOW, reportdata.OWNERS)
    tables = csvout.tables(report)
    assert {"trend.csv", "funnel.csv", "holdout.csv", "alerts.csv", "call_tasks.csv"} <= set(tables)
    for name, (header, rows) in tables.items():
        expected = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
        for encoding, codec in (("cp932", "cp932"), ("utf-8-sig", "utf-8")):
            data = csvout.encode(header, rows, encoding)
            if codec == "utf-8":
                assert data.startswith(b"\xef\xbb\xbf")
            text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
            shown = [[c.translate(csvout.CP932_SAME) for c in r] for r in expected] if codec == "cp932" else expected
            assert list(csv.reader(io.StringIO(text))) == shown, (name, encoding)
            assert "?" not in text  # nothing lost: the minus sign and the wave dash survive
    verdicts = csvout.encode(*tables["holdout.csv"], "cp932").decode("cp932")
    assert "95%CI +" in verdicts and "～" in verdicts and "－" in verdicts
    trend = tables["trend.csv"][1]
    assert any(r[2] == "直近3か月ウェビナー視聴・申込なし" for r in trend)


def test_a_cell_becomes_a_segment_that_validates_and_selects_the_cell() -> None:
    scoring = load_scoring_file(ROOT / "config" / "scoring.yaml")
    text = (ROOT / "config" / "segments.yaml").read_text(encoding="utf-8")
    definitions = load_segments(text, scoring=scoring)
    leads = [Lead(lead_id=f"l{n}", email=f"l{n}@example.jp", registered_at=NOW - 400 * 86_400_000,
                  attrs={"業種": ["製造業", "小売", "サービス"][n % 3]} if n % 4 else {},
                  owner="sato@example.co.jp" if n % 2 else None, segments={"dormant-no-visit": NOW - 86_400_000},
                  reactivated_at=NOW if n % 5 == 0 else None) for n in range(40)]
    table = cross_tab(leads, [(d.id, d.name) for d in definitions], "業種", scoring, NOW, keep_members=True)
    assert sum(c.count for c in table.cells) == 40
    assert sum(c.returned for c in table.cells) == 8
    number, cell = next((i + 1, c) for i, c in enumerate(table.cells) if c.value == "小売")
    made = cell_definition(cell, "業種", raw_rules(text), number)
    (new,) = load_segments(made, scoring=scoring)  # what `reawake segments validate` accepts
    assert yaml.safe_load(made)["segments"][0]["rule"]["all"][-1] == {"field": "業種", "equals": "小売"}
    ((_, predicate),) = compile_definitions([new], Context(NOW, TOKYO, scoring))
    assert {lead.lead_id for lead in leads if predicate(lead)} == set(cell.lead_ids)
    blank = next((i + 1, c) for i, c in enumerate(table.cells) if c.value == "")
    load_segments(cell_definition(blank[1], "業種", raw_rules(text), blank[0]), scoring=scoring)
    by_owner = cross_tab(leads, [(d.id, d.name) for d in definitions], "owner", scoring, NOW)
    load_segments(cell_definition(by_owner.cells[0], "owner", raw_rules(text), 1), scoring=scoring)
    members = csvout.members(leads[:3], "cp932").decode("cp932")
    assert members.splitlines()[0] == "email,name,company,owner,lead_id"
