"""One exit-status rule for every command (README, "Exit status"): 0 = done as asked; 1 = it ran and
what it checked or imported has problems (validation problems, rejected rows, a run that failed);
2 = it could not do what was asked (wrong arguments, a name that does not exist, an unreadable
file, no stack, an AWS error)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake_tools import cli
from reawake_tools.commands import leads, segments, sequences, templates
from reawake_tools.imports.leads import import_csv_file

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00+09:00"
SAMPLE = ROOT / "config" / "sample" / "leads.csv"


@pytest.fixture
def run(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The CLI pointed at the emulator (the `aws` fixture's environment), from the repository."""
    for module in (segments, sequences, templates):
        monkeypatch.setattr(module, "connect", lambda stack_name: {})
    monkeypatch.setattr(leads, "use_stack", lambda stack_name: None)
    monkeypatch.chdir(ROOT)
    import_csv_file(Store(os.environ["TABLE_NAME"]), SAMPLE, get_settings(), 1_795_000_000_000)

    def call(*argv: str) -> int:
        try:
            return cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            return int(exc.code or 0)

    return call


def test_a_name_that_does_not_exist_is_2_in_every_command(run: Any, tmp_path: Path) -> None:
    # The positive controls first: the same commands with names that exist.
    assert run("leads", "timeline", "t.yamada@sakura-seiki.example.jp") == 0
    assert run("segments", "explain", "dormant-no-visit", "--lead", "t.yamada@sakura-seiki.example.jp",
               "--now", NOW) == 0
    assert run("templates", "preview", "case-study", "--sample") == 0
    # An unknown lead, segment, template or mail.
    assert run("leads", "timeline", "nobody@example.jp") == 2
    assert run("segments", "explain", "dormant-no-visit", "--lead", "nobody@example.jp", "--now", NOW) == 2
    assert run("segments", "preview", "no-such-segment", "--now", NOW) == 2
    assert run("templates", "preview", "no-such-template", "--sample") == 2
    assert run("outbox", "--show", "9", "--dir", tmp_path) == 2


def test_unreadable_input_and_wrong_arguments_are_2(run: Any, tmp_path: Path) -> None:
    assert run("leads", "import", tmp_path / "missing.csv") == 2
    assert run("activities", "import", tmp_path / "missing.csv") == 2
    assert run("leads", "timeline", "not-an-email") == 2
    assert run("segments", "preview") == 2  # the segment id is missing
    assert run("segments", "run", "--shards", "0") == 2


def test_problems_found_in_what_was_checked_or_imported_are_1(run: Any, tmp_path: Path) -> None:
    bad_segments = tmp_path / "segments.yaml"
    bad_segments.write_text("segments:\n  - id: x\n    name: x\n    approach: {type: watch}\n"
                            "    rule: {event: page_view, within: 30x}\n", encoding="utf-8")
    assert run("segments", "validate") == 0  # the positive control: the shipped config
    assert run("segments", "validate", bad_segments) == 1
    rows = tmp_path / "leads.csv"
    rows.write_text("email,name\na@example.jp,A\nnot-an-email,B\n", encoding="utf-8")
    assert run("leads", "import", rows) == 1
