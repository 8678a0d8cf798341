"""`reawake sequences validate`: the shipped config passes; a template variable that does not
exist, a missing template, a segment naming an unknown sequence or a bad file fails, naming the
file and line."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from reawake_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's config and templates, as the working directory."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_shipped_sequences_validate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sequences", "validate"]) == 0
    out = capsys.readouterr().out
    assert "  webinar-invite  ウェビナー案内" in out
    assert "day 6    case-study  (only if previous opened)" in out
    assert "day 3    owner task: call" in out
    assert out.rstrip().endswith(
        "config/sequences: 4 sequences OK (templates and their variables checked; send window mon,tue,wed,thu,fri "
        "10:00–18:00, Japanese holidays off (Asia/Tokyo); at most 2 mails per 7d per lead)"
    )


def test_an_undefined_template_variable_fails_validation(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = repo / "templates" / "case-study.html.j2"
    html.write_text(html.read_text(encoding="utf-8").replace("{{ lead.name", "{{ lead.nam", 1), encoding="utf-8")
    assert "lead.nam " in html.read_text(encoding="utf-8") or "lead.nam}" in html.read_text(encoding="utf-8")
    assert main(["sequences", "validate"]) == 1
    err = capsys.readouterr().err
    assert "config/sequences/webinar-invite.yaml:" in err
    assert "steps[1].template: template 'case-study': templates/case-study.html.j2:" in err
    assert "unknown variable 'lead.nam'" in err


def test_a_missing_template_and_an_unknown_sequence_are_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "config" / "sequences" / "repurchase.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("repurchase-offer", "repurchase-ofer"), encoding="utf-8")
    segments = repo / "config" / "segments.yaml"
    segments.write_text(segments.read_text(encoding="utf-8").replace("sequence: win-back", "sequence: winback"),
                        encoding="utf-8")
    assert main(["sequences", "validate"]) == 1
    err = capsys.readouterr().err
    assert "config/sequences/repurchase.yaml:15:5: steps[0].template: template 'repurchase-ofer': no template" in err
    assert re.search(r"config/segments.yaml:\d+:\d+: segments\[\d\]\.approach\.sequence: no sequence 'winback' "
                     r"\(sequences: dm-then-call, repurchase, webinar-invite, win-back\)", err)
    assert err.rstrip().endswith("2 problems found")


def test_a_call_task_segment_whose_sequence_asks_for_no_call_is_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segments = repo / "config" / "segments.yaml"
    segments.write_text(segments.read_text(encoding="utf-8").replace("sequence: win-back", "sequence: repurchase"),
                        encoding="utf-8")
    assert main(["sequences", "validate"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"segments\[\d\]\.approach\.sequence: an owner_task approach, but the sequence 'repurchase' "
                     r"has no `kind: owner_task` step", err)


def test_without_the_mail_package_only_files_are_checked(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def no_mail(name: str, package: str | None = None) -> ModuleType:
        if name == "reawake.mail.templates":
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_mail)
    assert main(["sequences", "validate"]) == 0
    captured = capsys.readouterr()
    assert "note: template variables were not checked" in captured.err
    assert "(template files found;" in captured.out
    (repo / "templates" / "win-back.txt.j2").unlink()
    assert main(["sequences", "validate"]) == 1
    assert "steps[0].template: template 'win-back': templates/win-back.txt.j2: missing" in capsys.readouterr().err


def test_a_bad_file_is_reported_with_its_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = repo / "bad.yaml"
    bad.write_text("name: 壊れた\nsteps:\n  - template: useful-content\n    delay: 3 days later\n", encoding="utf-8")
    assert main(["sequences", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:4:5: steps[0].delay: '3 days later' is not a duration" in err
    assert main(["sequences", "validate", "nowhere.yaml"]) == 1
    assert "nowhere.yaml: no such file or folder" in capsys.readouterr().err


def test_bands_need_the_scoring_config(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "config" / "sequences" / "repurchase.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "    when: {band: [warm, hot]}\n", encoding="utf-8")
    (repo / "config" / "scoring.yaml").unlink()
    assert main(["sequences", "validate"]) == 1
    err = capsys.readouterr().err
    assert "repurchase.yaml:16:12: steps[0].when.band: band conditions need the scoring config" in err
