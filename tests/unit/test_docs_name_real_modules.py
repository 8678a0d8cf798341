"""A newcomer finds each room by the name the README gives it: every module, package and path the
README names (and docs/decisions.md's layout section) exists in the tree as it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"reawake": ROOT / "layers" / "common" / "reawake", "reawake_tools": ROOT / "tools" / "reawake_tools"}
#: ``reawake.track(...)`` and friends are t.js's page API, not modules.
SNIPPET_API = {"track", "identify", "optOut", "push", "flush", "page"}
DOTTED = re.compile(r"(?<![\w/.])(reawake(?:_tools)?)((?:\.[A-Za-z_]\w*)+)")
SLASHED = re.compile(r"(?<![\w/.])((?:layers/common/|tools/)?reawake(?:_tools)?/[\w/.\-]*\w/?)")
TOP = ("functions/", "layers/", "tools/", "tests/", "bench/", "config/", "site/", "templates/", "statemachines/",
       "docs/")
PLAIN = re.compile(r"`((?:" + "|".join(map(re.escape, TOP)) + r")[\w/.\-]*)`")


def module_exists(dotted: str) -> bool:
    """``reawake.core.leads`` or ``reawake.core.leads.went_quiet`` (a name in an existing module)."""
    head, *parts = dotted.split(".")
    where = PACKAGES[head]
    for index, part in enumerate(parts):
        if (where / part).is_dir():
            where = where / part
        elif (where / f"{part}.py").is_file():
            return True
        else:  # a name in the package's __init__, or nothing
            return index > 0 and part in (where / "__init__.py").read_text(encoding="utf-8")
    return True


def path_exists(path: str) -> bool:
    return any((base / path).exists() for base in (ROOT, ROOT / "layers" / "common", ROOT / "tools"))


def missing(text: str) -> list[str]:
    found = []
    for match in DOTTED.finditer(text):
        if match.group(2)[1:].split(".")[0] not in SNIPPET_API and not module_exists(match.group(0)):
            found.append(match.group(0))
    found += [m.group(1) for m in SLASHED.finditer(text) if not path_exists(m.group(1))]
    found += [m.group(1) for m in PLAIN.finditer(text) if not path_exists(m.group(1))]
    return found


def layout_section(text: str) -> str:
    start = text.index("\n## Layout")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_the_readme_names_modules_and_paths_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "reawake/tracking/" in layout_section(readme), "positive control: the Layout section is read"
    assert missing(readme) == []


def test_the_layout_decision_names_modules_that_exist() -> None:
    decisions = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    section = layout_section(decisions)
    assert "reawake_tools" in section
    assert missing(section) == []


def test_the_check_sees_a_module_that_is_not_there() -> None:
    """The control: the old flat names are reported."""
    assert missing("(`reawake/track_api.py`) and `reawake.alert_api` and `reawake.core.nothing`") == [
        "reawake.alert_api", "reawake.core.nothing", "reawake/track_api.py"]
    assert missing("`reawake.core.leads.went_quiet`, `reawake_tools/local/`, `config/segments.yaml`") == []
