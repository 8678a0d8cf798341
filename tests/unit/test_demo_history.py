"""`reawake demo`'s leads: their CSV files import without a rejected row, and the history puts each
lead in the definitions of config/segments.yaml the story needs, at any moment of the year."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake.core.leads import Lead, fold_events, new_lead_id
from reawake.core.scoring import load_scoring_file
from reawake.core.settings import Settings
from reawake.mail.config import load_owners_file
from reawake.segments.rules.compile import Context, compile_definitions
from reawake.segments.rules.config import load_segment_files
from reawake_tools.demo.history import ROLES, activities_csv, demo_leads, leads_csv
from reawake_tools.imports import activities as activities_import
from reawake_tools.imports import leads as leads_import
from reawake_tools.imports.csvfile import ACTIVITY_HEADERS, LEAD_HEADERS, ImportReport, parse
from tests.conftest import ROOT

TOKYO = ZoneInfo("Asia/Tokyo")
SETTINGS = Settings(table_name="t", config_bucket="b", signing_secret_arn="", api_key_secret_arn="",
                    site_origins=("https://www.example.co.jp",), time_zone=TOKYO, event_retention_days=400)
SCORING = load_scoring_file(ROOT / "config" / "scoring.yaml")
DEFINITIONS = load_segment_files([ROOT / "config" / "segments.yaml"], SCORING)
OWNERS = list(load_owners_file(ROOT / "config" / "owners.yaml"))


def imported(now: datetime, run_id: str = "t1") -> dict[str, Lead]:
    """The demo leads as the two importers would store them at ``now`` (their pure parts)."""
    now_ms = int(now.timestamp() * 1000)
    demo = demo_leads(run_id, now, OWNERS)
    report = ImportReport("leads.csv")
    rows = leads_import.validate_rows(parse(leads_csv(demo).encode(), "leads.csv", LEAD_HEADERS, ("email",)),
                                      SETTINGS, now_ms, report)
    table = parse(activities_csv(demo).encode(), "activities.csv", ACTIVITY_HEADERS, ("email", "type", "occurred_at"))
    events = activities_import.validate_rows(table, SETTINGS, now_ms, report)
    assert not report.rejected and not report.notes, [str(i) for i in report.rejected + report.notes]
    leads = {}
    for person in demo:
        (_, row), = rows[person.email]
        lead = leads_import.apply_row(None, row, now_ms, new_lead_id())
        history = [e.for_lead(lead.lead_id) for e in events[person.email]]
        leads[person.role] = fold_events(lead, history, TOKYO, now_ms, SETTINGS.event_retention_days)
    return leads


@pytest.mark.parametrize("now", [
    datetime(2026, 11, 23, 21, 11, tzinfo=TOKYO),  # a holiday evening
    datetime(2026, 1, 1, 0, 5, tzinfo=TOKYO),  # just after midnight, new year
    datetime(2027, 3, 31, 23, 59, tzinfo=TOKYO),  # month ends: calendar months vs days
    datetime(2026, 6, 15, 10, 0, tzinfo=TOKYO),
])
def test_each_demo_lead_enters_exactly_the_definitions_its_story_needs(now: datetime) -> None:
    leads = imported(now)
    predicates = compile_definitions(DEFINITIONS, Context(int(now.timestamp() * 1000), TOKYO, SCORING))
    entered = {role: tuple(d.id for d, holds in predicates if holds(lead)) for role, lead in leads.items()}
    expected = {x.role: x.expected for x in demo_leads("t1", now, OWNERS)}
    assert entered == expected
    assert entered["clicker"] == ("dormant-no-visit", "dormant-no-webinar")
    assert entered["followup"] == ("dormant-no-followup",) and entered["active"] == ()


def test_a_year_of_history_with_japanese_names_owners_and_a_run_id_in_every_address() -> None:
    now = datetime(2026, 11, 23, 21, 11, tzinfo=TOKYO)
    demo = demo_leads("ab12cd", now, OWNERS)
    assert [x.role for x in demo] == list(ROLES) and len(demo) == 5
    assert all(x.email.startswith("demo-ab12cd-") and x.email.endswith("@example.jp") for x in demo)
    assert {x.owner for x in demo} == set(OWNERS)
    assert all(any("\u3040" <= c <= "\u9fff" for c in x.name + x.company) for x in demo)
    for person in demo:
        assert 13 <= (now - person.registered_at).days / 30.4 <= 15, "registered about 14 months ago"
        assert all(person.registered_at <= a.at < now for a in person.activities)
    # Another run, another set of leads; the same run at the same moment, the same files.
    another = demo_leads("ef34ab", now, OWNERS)
    assert {x.email for x in demo}.isdisjoint(x.email for x in another)
    assert activities_csv(demo) == activities_csv(demo_leads("ab12cd", now, OWNERS))
    assert leads_csv(demo).splitlines()[0] == "メールアドレス,氏名,会社名,担当営業,登録日,業種"


def test_without_owners_the_leads_have_none() -> None:
    assert all(x.owner is None for x in demo_leads("x", datetime(2026, 11, 23, tzinfo=TOKYO), []))
