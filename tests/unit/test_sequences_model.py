"""Sequence and step-mail settings files: the shipped samples load; every mistake is reported
with file, line, YAML path and what to write instead."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reawake.core.durations import Duration
from reawake.core.scoring import ScoringConfig, load_scoring_file
from reawake.core.yamlfile import ConfigError
from reawake.stepmail.sequences import load_sequences, load_stepmail_settings, parse_sequence, parse_stepmail_settings

ROOT = Path(__file__).resolve().parents[2]
SEQUENCES = ROOT / "config" / "sequences"


@pytest.fixture(scope="module")
def scoring() -> ScoringConfig:
    return load_scoring_file(ROOT / "config" / "scoring.yaml")


def problems(text: str, scoring: ScoringConfig | None = None, stem: str = "t") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_sequence(textwrap.dedent(text), f"{stem}.yaml", stem, scoring=scoring)
    return [str(issue) for issue in caught.value.issues]


def test_the_shipped_sequences_load_with_the_steps_the_segments_ask_for(scoring: ScoringConfig) -> None:
    settings = load_stepmail_settings(ROOT / "config" / "stepmail.yaml")
    sequences = load_sequences([SEQUENCES], settings, scoring)
    assert set(sequences) == {"webinar-invite", "dm-then-call", "repurchase", "win-back"}
    webinar = sequences["webinar-invite"]
    assert webinar.templates == ["useful-content", "case-study", "webinar-invitation"]
    assert [str(s.delay) if s.delay else None for s in webinar.steps] == [None, "6d", "14d"]
    assert webinar.steps[2].after == "enrollment"
    assert [s.kind for s in sequences["dm-then-call"].steps] == ["email", "owner_task"]
    assert sequences["dm-then-call"].steps[1].task == "call"
    assert sequences["repurchase"].templates == ["repurchase-offer"]
    assert "purchase" in sequences["repurchase"].exit.conversion
    assert [s.kind for s in sequences["win-back"].steps] == ["email", "owner_task"]
    assert all(s.name for seq in sequences.values() for s in [seq])  # Japanese names


def test_the_shipped_settings_are_the_issue_defaults() -> None:
    settings = load_stepmail_settings(ROOT / "config" / "stepmail.yaml")
    assert settings.time_zone == "Asia/Tokyo"
    window = settings.send_window
    assert (window.days, window.start, window.end, window.holidays, window.closed) == ((0, 1, 2, 3, 4), 600, 1080,
                                                                                      True, ())
    assert settings.frequency_cap is not None
    assert (settings.frequency_cap.max, settings.frequency_cap.per) == (2, Duration(7, "d"))


def test_an_empty_settings_file_means_the_defaults() -> None:
    assert parse_stepmail_settings("", "stepmail.yaml") == load_stepmail_settings(ROOT / "config" / "stepmail.yaml")


def test_window_times_and_days_read_as_people_write_them() -> None:
    settings = parse_stepmail_settings(
        textwrap.dedent(
            """\
            send_window:
              days: [月, 火, 水曜日, Thursday, FRI]
              start: 9:30          # unquoted: YAML reads 570, the same minutes
              end: "２４:００"
              closed: [2026-12-29, "2026-12-30"]
            """
        )
    )
    window = settings.send_window
    assert (window.days, window.start, window.end) == ((0, 1, 2, 3, 4), 570, 1440)
    assert [d.isoformat() for d in window.closed] == ["2026-12-29", "2026-12-30"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("send_window: {start: 10}",
         "stepmail.yaml:1:15: send_window.start: 10 is not a time of day; write it as 'HH:MM'"),
        ("send_window: {start: '25:00'}", "send_window.start: '25:00' is not a time of day"),
        ("send_window: {start: '18:00', end: '10:00'}",
         "send_window: start (18:00) must be before end (10:00); a window cannot cross midnight"),
        ("send_window: {days: [mon, funday]}", "send_window.days[1]: 'funday' is not a day; write mon, tue"),
        ("send_window: {days: []}", "send_window.days: "),
        ("send_window: {closed: [2026-13-01]}", "stepmail.yaml:1:24: '2026-13-01' looks like a date but is not one"),
        ("frequency_cap: {max: 0, per: 7d}", "frequency_cap.max: Input should be greater than or equal to 1"),
        ("frequency_cap: {max: 2, per: 7m}", "frequency_cap.per: '7m' is not a duration (use mo for months)"),
        ("time_zone: Asia/Tokio", "time_zone: 'Asia/Tokio' is not a time zone"),
        ("send_windows: {}", "unknown key 'send_windows' (did you mean 'send_window'?)"),
    ],
)
def test_bad_settings_name_file_line_path_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stepmail_settings(text, "stepmail.yaml")
    assert message in str(caught.value)


GOOD = """\
name: テスト
steps:
  - template: first
  - template: second
    delay: 3d
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("template: first", "tempalte: first"),
         "t.yaml:3:5: steps[0].tempalte: unknown key 'tempalte' (did you mean 'template'?)"),
        (GOOD.replace("delay: 3d", "delay: 3days"), "t.yaml:5:5: steps[1].delay: '3days' is not a duration"),
        (GOOD.replace("delay: 3d", "delay: 3"), "steps[1].delay: 3 needs a unit"),
        (GOOD.replace("  - template: first\n", "  - kind: email\n"),
         "t.yaml:3:5: steps[0]: an email step needs a template (templates/NAME.html.j2)"),
        (GOOD.replace("  - template: first\n", "  - kind: owner_task\n    template: first\n"),
         "steps[0]: an owner_task step sends no mail: remove template:"),
        (GOOD.replace("template: first", "template: First Mail"), "steps[0].template: String should match pattern"),
        (GOOD + "    after: previus\n", "steps[1].after: Input should be 'previous' or 'enrollment'"),
        (GOOD + "    when: {previous: open}\n",
         "steps[1].when.previous: Input should be 'opened', 'not_opened', 'clicked' or 'not_clicked'"),
        (GOOD.replace("  - template: first\n", "  - template: first\n    when: {previous: opened}\n"),
         "t.yaml:4:12: steps[0].when.previous: no mail is sent before this step"),
        (GOOD + "    when: {previous: clicked}\n",
         "steps[1].when.previous: 'clicked' can never hold while exit.revisit is on"),
        (GOOD + "exit: {unsubscribe: false}\n",
         "t.yaml:6:1: exit: 'unsubscribe': unsubscribes, hard bounces and complaints always end a sequence"),
        (GOOD + "exit: {conversion: [purchased]}\n", "exit.conversion[0]: unknown event kind 'purchased'"),
        ("id: other\n" + GOOD, "t.yaml:1:1: id: the id must be the file's name, 't' (or leave id: out)"),
        ("name: テスト\nsteps: []\n", "steps: List should have at least 1 item"),
        ("steps:\n  - template: a\n", "t.yaml:1:1: name: 'name' is required"),
        ("- a\n", "t.yaml:1:1: expected a mapping with name: and steps: at the top"),
        ("", "t.yaml: the file is empty"),
        (GOOD.replace("delay: 3d", "delay: 3d\n  - template: third\n    delay: 1d\n    after: enrollment"),
         "t.yaml:7:5: steps[2].delay: this step would be due before step 2 (the one above it)"),
        (GOOD + "send_window: {start: '8:00', end: '8:00'}\n", "send_window: start (08:00) must be before end"),
    ],
)
def test_bad_sequences_name_file_line_path_and_problem(text: str, message: str) -> None:
    found = problems(text)
    assert any(message in p for p in found), found


def test_a_band_must_be_one_of_the_scoring_bands(scoring: ScoringConfig) -> None:
    text = GOOD + "    when: {band: [warm, luke-warm]}\n"
    assert problems(text, scoring) == [
        "t.yaml:6:12: steps[1].when.band: unknown band 'luke-warm'; bands in scoring.yaml: hot, warm, cold"
    ]
    assert parse_sequence(GOOD + "    when: {band: warm}\n", "t.yaml", "t", scoring=scoring).steps[1].when is not None


def test_steps_infer_their_kind_and_zero_delays_mean_at_once() -> None:
    text = "name: t\nsteps:\n  - template: a\n    delay: 0d\n  - task: call\n    delay: 2w\n  - kind: owner_task\n"
    sequence = parse_sequence(text, "t.yaml", "t")
    assert [(s.kind, s.task, s.delay) for s in sequence.steps] == [
        ("email", None, None),
        ("owner_task", "call", Duration(2, "w")),
        ("owner_task", "call", None),
    ]


def test_a_sequence_window_changes_only_the_fields_it_names() -> None:
    settings = parse_stepmail_settings("send_window: {start: '09:00'}")
    sequence = parse_sequence(GOOD + "send_window: {holidays: false, days: [sat]}\n", "t.yaml", "t")
    window = sequence.window(settings)
    assert (window.days, window.start, window.end, window.holidays) == ((5,), 540, 1080, False)
    # A change that does not fit the defaults is reported against the sequence file.
    bad = GOOD + "send_window: {end: '08:00'}\n"
    with pytest.raises(ConfigError, match=r"t.yaml:6:1: send_window: with the defaults of stepmail.yaml: start"):
        parse_sequence(bad, "t.yaml", "t", settings=settings)


def test_problems_of_every_file_are_reported_at_once_and_ids_are_file_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nsteps:\n  - template: x\n    delay: 1x\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("name: b\nstep: []\n", encoding="utf-8")
    (tmp_path / "c.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a sequence", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sequences([tmp_path])
    files = [issue.file for issue in caught.value.issues]
    assert str(tmp_path / "a.yaml") in files and str(tmp_path / "b.yaml") in files
    (tmp_path / "a.yaml").unlink()
    (tmp_path / "b.yaml").unlink()
    assert list(load_sequences([tmp_path])) == ["c"]
