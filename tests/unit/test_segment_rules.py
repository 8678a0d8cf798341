"""The segment rule language: what validates, what does not (and the message), what a rule means."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.core.yamlfile import ConfigError
from reawake.segments.rules.compile import CompileError, Context, compile_rule
from reawake.segments.rules.config import load_segment_files, load_segments
from reawake.segments.rules.explain import explain
from reawake.segments.rules.model import OwnerTaskApproach, SequenceApproach, WatchApproach
from reawake_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
SITE = "https://www.example.co.jp"
NOW = int(datetime(2026, 11, 23, 10, tzinfo=TOKYO).timestamp() * 1000)
DAY = 86_400_000


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


def one(rule: str, approach: str = "{type: watch}") -> str:
    return f"segments:\n  - id: t\n    name: テスト\n    approach: {approach}\n    rule:\n{rule}"


def problems(text: str, scoring: ScoringConfig | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_segments(text, "segments.yaml", scoring)
    return [str(issue) for issue in caught.value.issues]


# --- the shipped definitions -----------------------------------------------------------------


def test_the_shipped_definitions_validate_and_name_their_approach(scoring: ScoringConfig) -> None:
    definitions = {d.id: d for d in load_segment_files([ROOT / "config" / "segments.yaml"], scoring)}
    assert list(definitions) == [
        "dormant-no-visit",
        "dormant-no-webinar",
        "dormant-no-followup",
        "dormant-no-purchase",
        "dormant-no-use",
    ]
    assert definitions["dormant-no-visit"].name == "登録90日以上・直近30日サイト訪問なし"
    assert isinstance(definitions["dormant-no-visit"].approach, WatchApproach)
    webinar = definitions["dormant-no-webinar"].approach
    assert isinstance(webinar, SequenceApproach) and webinar.sequence == "webinar-invite"
    followup = definitions["dormant-no-followup"].approach
    assert isinstance(followup, OwnerTaskApproach) and followup.sequence == "dm-then-call"


# --- invalid files: every kind, with the message -------------------------------------------

INVALID = [
    ("segments: [\n", "segments.yaml:2:1: YAML syntax error: expected the node content, but found '<stream end>'"),
    ("", "segments.yaml: the file is empty; expected segments: with a list of definitions"),
    ("- a\n", "expected a mapping with segments: (a list of definitions) at the top"),
    ("segments: []\n", "segments.yaml:1:1: segments: List should have at least 1 item"),
    ("segment:\n  - id: a\n", "segments.yaml:1:1: segment: unknown key 'segment' (did you mean 'segments'?)"),
    (
        "segments:\n  - id: a\n    id: b\n",
        "segments.yaml:3:5: segments[0].id: duplicate key 'id' (a later value would silently win)",
    ),
    (
        one("      event: page_view\n      within: 30d\n").replace("id: t", "id: Dormant_1"),
        "segments[0].id: id 'Dormant_1': lowercase letters, digits and hyphens",
    ),
    (
        one("      event: page_view\n      within: 30d\n").replace("    name: テスト\n", ""),
        "segments[0].name: 'name' is required",
    ),
    (
        one("      event: page_view\n      within: 30d\n", "{type: mail}"),
        "segments[0].approach: approach needs a type: one of watch, sequence, owner_task",
    ),
    (
        one("      event: page_view\n      within: 30d\n", "{type: sequence}"),
        "segments[0].approach.sequence: 'sequence' is required",
    ),
    (
        one("      event: page_view\n      within: 30d\n", "{type: watch, sequence: x}"),
        "segments[0].approach.sequence: unknown key 'sequence'",
    ),
    (
        one("      event: pageview\n      within: 30d\n"),
        "segments[0].rule.event: unknown event kind 'pageview'; known kinds: conversion,",
    ),
    (one("      event: [purchase, purchase]\n      ever: true\n"), "segments[0].rule.event: a kind is listed twice"),
    (
        one("      event: page_view\n      withn: 30d\n"),
        "segments[0].rule.withn: unknown key 'withn' (did you mean 'within'?)",
    ),
    (
        one("      event: page_view\n      within: 3mon\n"),
        "segments.yaml:7:7: segments[0].rule.within: '3mon' is not a duration; write e.g. 30d, 2w, 3mo, 1y or 12h",
    ),
    (one("      event: page_view\n      within: 30\n"), "segments[0].rule.within: 30 needs a unit: e.g. 30d (days)"),
    (
        one("      event: page_view\n      within: 3m\n"),
        "segments[0].rule.within: '3m' is not a duration (use mo for months)",
    ),
    (
        one("      event: page_view\n"),
        "segments[0].rule: an event condition needs exactly one of within, older_than, ever",
    ),
    (
        one("      event: page_view\n      within: 30d\n      ever: true\n"),
        "needs exactly one of within, older_than, ever (found within, ever)",
    ),
    (
        one("      event: page_view\n      ever: false\n"),
        "segments[0].rule.ever: ever: false is not a window; write not: {event: ..., ever: true}",
    ),
    (
        one("      event: page_view\n      path: /seminar\n      ever: true\n"),
        "segments[0].rule.path: path '/seminar' must be a folder one or two levels deep, "
        "like /seminar/ or /seminar/2026/",
    ),
    (
        one("      event: page_view\n      path: /a/b/c/\n      ever: true\n"),
        "segments[0].rule.path: path '/a/b/c/' must be a folder one or two levels deep",
    ),
    (
        one("      event: page_view\n      site: https://www.example.co.jp/seminar/\n      ever: true\n"),
        "must be an origin like https://www.example.co.jp (use path: for folders)",
    ),
    (
        one("      event: page_view\n      site: www.example.co.jp\n      ever: true\n"),
        "segments[0].rule.site: site 'www.example.co.jp' must be an origin",
    ),
    (
        one("      event: page_view\n      site: https://evil.example\\@www.example.co.jp\n      ever: true\n"),
        "must be an origin like https://www.example.co.jp",  # browsers read it on evil.example
    ),
    (
        one(f"      event: page_view\n      site: {SITE}\n      topic: pricing\n      within: 30d\n"),
        "segments[0].rule: one filter per event condition, not site and topic",
    ),
    (
        one("      event: page_view\n      path: /seminar/\n      within: 30d\n      at_least: 3\n"),
        "segments[0].rule.at_least: at_least cannot be used with a path filter: "
        "daily counts are kept only per kind, site and topic",
    ),
    (
        one("      event: page_view\n      campaign: spring\n      within: 30d\n      at_least: 3\n"),
        "at_least cannot be used with a campaign filter",
    ),
    (
        one("      event: page_view\n      ever: true\n      at_least: 3\n"),
        "segments[0].rule.at_least: at_least needs a within window (e.g. within: 3mo)",
    ),
    (one("      event: page_view\n      within: 2y\n      at_least: 3\n"), "at_least counts reach back at most 1y"),
    (
        one("      event: page_view\n      within: 30d\n      at_least: 0\n"),
        "segments[0].rule.at_least: Input should be greater than or equal to 1",
    ),
    (
        one("      event: page_view\n      within: 30d\n      at_least: '3'\n"),
        "segments[0].rule.at_least: Input should be a valid integer (got '3')",
    ),
    (
        one("      field: x\n      equals: [1]\n"),
        "segments[0].rule.equals: Input should be a valid string, integer, number or boolean (got [1])",
    ),
    (one("      field: x\n      contains: 5\n"), "segments[0].rule.contains: Input should be a valid string (got 5)"),
    (
        one("      attr: registerd_at\n      older_than: 90d\n"),
        "segments[0].rule.attr: Input should be 'registered_at', 'converted_at'",
    ),
    (
        one("      attr: owner\n      within: 3d\n"),
        "segments[0].rule: owner takes equals, in, contains, exists, not within",
    ),
    (
        one("      attr: registered_at\n      equals: x\n"),
        "segments[0].rule: registered_at takes within, older_than, exists, not equals",
    ),
    (one("      attr: owner\n"), "segments[0].rule: needs exactly one operator of equals, in, contains"),
    (
        one("      field: 業種\n      equals: a\n      contains: b\n"),
        "needs exactly one operator of equals, in, contains, gt, gte, lt, lte, exists, within, older_than "
        "(found equals, contains)",
    ),
    (
        one("      field: 従業員数\n      gt: many\n"),
        "segments[0].rule.gt: Input should be a valid number (got 'many')",
    ),
    (one("      field: ''\n      exists: true\n"), "segments[0].rule.field: String should have at least 1 character"),
    (
        one("      attr: owner\n      equals: a\n      event: purchase\n"),
        "segments[0].rule: a condition has exactly one of all, any, not, event, attr, field, band, "
        "found event and attr",
    ),
    (
        one("      owner: a\n"),
        "segments[0].rule: a condition needs one of the keys all, any, not, event, attr, field, band (found owner)",
    ),
    (one("      all: []\n"), "segments[0].rule.all: List should have at least 1 item"),
    (one("      all:\n        - 5\n"), "segments[0].rule.all[0]: a condition is a mapping with one of the keys"),
    (
        one(
            "      all:\n        - not:\n            any:\n"
            "              - event: purchase\n                within: 1x\n"
        ),
        "segments.yaml:10:17: segments[0].rule.all[0].not.any[0].within: '1x' is not a duration",
    ),
    (one("      band: hott\n"), "segments[0].rule.band: unknown band 'hott'; bands in scoring.yaml: hot, warm, cold"),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[m[:50] for _, m in INVALID])
def test_invalid_files_name_file_path_and_problem(text: str, message: str, scoring: ScoringConfig) -> None:
    found = problems(text, scoring)
    assert any(message in line for line in found), found
    assert all(line.startswith("segments.yaml") for line in found)


def test_every_problem_in_a_file_is_reported_at_once(scoring: ScoringConfig) -> None:
    text = one("      all:\n        - {event: pageview, within: 30d}\n        - {attr: owner, within: 3d}\n")
    assert len(problems(text, scoring)) == 2


def test_bands_and_scores_need_the_scoring_config() -> None:
    assert problems(one("      band: hot\n")) == [
        "segments.yaml:6:7: segments[0].rule.band: band conditions need the scoring config (scoring.yaml)"
    ]
    assert "score conditions need the scoring config" in problems(one("      attr: score\n      gt: 3\n"))[0]


def test_segment_ids_are_unique_within_and_across_files(tmp_path: Path) -> None:
    rule = "      event: purchase\n      ever: true\n"
    twice = one(rule) + one(rule).removeprefix("segments:\n")
    assert "segments[1].id: duplicate segment id 't' (first at line 2)" in problems(twice)[0]
    (tmp_path / "a.yaml").write_text(one(rule), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(one(rule), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_segment_files([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert (
        str(caught.value)
        == f"{tmp_path}/b.yaml:2:5: segments[0].id: duplicate segment id 't' (first in {tmp_path}/a.yaml:2)"
    )


# --- what rules mean, on hand-made leads ---------------------------------------------------


def lead(**changes: object) -> Lead:
    base: dict[str, object] = {"lead_id": "l1", "email": "a@example.jp", "registered_at": NOW - 400 * DAY}
    return Lead(**{**base, **changes})  # type: ignore[arg-type]


def holds(rule: str, subject: Lead, scoring: ScoringConfig | None = None, now: int = NOW) -> bool:
    definition = load_segments(one(rule), "t.yaml", scoring)[0]
    ctx = Context(now, TOKYO, scoring)
    result = compile_rule(definition.rule, ctx)(subject)
    assert explain(definition.rule, subject, ctx).held == result
    return result


def test_a_kind_list_is_one_stream() -> None:
    rule = "      event: [purchase, conversion]\n      older_than: 30d\n"
    assert holds(rule, lead(last={"purchase": NOW - 40 * DAY}))
    assert not holds(rule, lead(last={"purchase": NOW - 40 * DAY, "conversion": NOW - DAY}))
    assert not holds(rule, lead())


def test_imported_fields_compare_as_people_write_them() -> None:
    subject = lead(attrs={"従業員数": "１，２００", "業種": "ｻｰﾋﾞｽ業", "ランク": "", "契約日": "2025/11/23"})
    assert holds("      field: 従業員数\n      gte: 1200\n", subject)
    assert holds("      field: 従業員数\n      equals: 1200\n", subject)
    assert holds("      field: 業種\n      equals: サービス業\n", subject)
    assert not holds("      field: ランク\n      exists: true\n", subject)  # an empty cell is no value
    assert holds("      not:\n        field: ランク\n        equals: A\n", subject)
    # A date is its midnight in Tokyo: 2025-11-23 00:00 is before now - 1y (2025-11-23 10:00).
    assert holds("      field: 契約日\n      older_than: 1y\n", subject)
    assert not holds("      field: 契約日\n      within: 1y\n", subject)
    assert holds("      field: 契約日\n      within: 367d\n", subject)
    assert not holds("      field: 業種\n      older_than: 1d\n", subject)  # not a date


def test_owner_and_company_compare_without_case_or_width() -> None:
    subject = lead(owner="Tanaka@Example.co.jp", company="ＡＢＣ株式会社")
    assert holds("      attr: owner\n      equals: tanaka@example.co.jp\n", subject)
    assert holds("      attr: company\n      contains: abc\n", subject)


def test_bands_drop_unsubscribed_and_bounced_leads(scoring: ScoringConfig) -> None:
    hot = lead(score=80.0, score_at=NOW)
    assert holds("      band: hot\n", hot, scoring)
    assert not holds("      band: [hot, warm, cold]\n", lead(score=80.0, score_at=NOW, suppressed="bounce"), scoring)
    assert not holds("      band: [hot, warm, cold]\n", lead(score=80.0, score_at=NOW, unsubscribed_at=NOW), scoring)
    # One half-life later 80 has decayed to 40: warm.
    assert holds("      band: warm\n", hot, scoring, now=NOW + 30 * DAY)


def test_compiling_bands_without_scoring_config_is_refused(scoring: ScoringConfig) -> None:
    definition = load_segments(one("      band: hot\n"), "t.yaml", scoring)[0]
    with pytest.raises(CompileError, match="band conditions need the scoring config"):
        compile_rule(definition.rule, Context(NOW, TOKYO))


def test_explain_shows_each_condition_and_the_values_read() -> None:
    definition = load_segment_files([ROOT / "config" / "segments.yaml"])[0]
    subject = lead(last={f"page_view@site:{SITE}": NOW - 45 * DAY})
    text = explain(definition.rule, subject, Context(NOW, TOKYO)).render()
    assert text.splitlines() == [
        "✓ all of",
        "  ✓ registered_at older_than 90d  — 2025-10-19 10:00:00.000 JST; before 2026-08-25 10:00:00.000 JST?",
        "  ✓ not",
        f"    ✗ page_view@site:{SITE} within 30d  — latest 2026-10-09 10:00:00.000 JST; "
        "since 2026-10-24 10:00:00.000 JST",
    ]


# --- the command ---------------------------------------------------------------------------


def test_validate_command_reports_ok_and_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = ROOT / "config" / "segments.yaml"
    assert main(["segments", "validate", str(shipped), "--scoring", str(ROOT / "config" / "scoring.yaml")]) == 0
    out = capsys.readouterr().out
    assert "dormant-no-webinar  直近3か月ウェビナー視聴・申込なし  → sequence webinar-invite" in out
    assert out.rstrip().endswith("5 segments OK (bands from " + str(ROOT / "config" / "scoring.yaml") + ")")
    bad = tmp_path / "bad.yaml"
    bad.write_text(one("      event: page_view\n      within: 3mon\n"), encoding="utf-8")
    assert main(["segments", "validate", str(bad), "--scoring", str(ROOT / "config" / "scoring.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:7:7: segments[0].rule.within: '3mon' is not a duration" in err
    assert err.rstrip().endswith("1 problem found")


def test_validate_command_rejects_an_approach_whose_sequence_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = (ROOT / "config" / "segments.yaml").read_text(encoding="utf-8")
    typo = tmp_path / "segments.yaml"
    typo.write_text(shipped.replace("sequence: webinar-invite", "sequence: webinar-invitee"), encoding="utf-8")
    scoring = str(ROOT / "config" / "scoring.yaml")
    sequences = str(ROOT / "config" / "sequences")
    assert main(["segments", "validate", str(typo), "--scoring", scoring, "--sequences", sequences]) == 1
    err = capsys.readouterr().err
    assert f"{typo}:" in err and "approach.sequence: no sequence 'webinar-invitee' (sequences: dm-then-call," in err
    # The positive control: the file as shipped, against the same folder.
    typo.write_text(shipped, encoding="utf-8")
    assert main(["segments", "validate", str(typo), "--scoring", scoring, "--sequences", sequences]) == 0
    # Away from config/ without --sequences: the missing folder is named, not only the sequences.
    assert main(["segments", "validate", str(typo), "--scoring", scoring]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'sequences'}: no such folder" in err and "--sequences DIR" in err


def test_a_date_that_is_no_date_is_reported_with_its_line() -> None:
    from reawake.core.yamlfile import ConfigError
    from reawake.segments.rules.config import load_segments

    text = (
        "segments:\n  - id: x\n    name: x\n    approach: {type: watch}\n"
        "    rule: {field: 契約日, older_than: 2026-13-01}\n"
    )
    try:
        load_segments(text, "bad.yaml")
    except ConfigError as exc:
        (issue,) = exc.issues
        assert issue.line == 5 and "2026-13-01" in issue.message and "not one" in issue.message
    else:
        raise AssertionError("accepted a date that does not exist")
