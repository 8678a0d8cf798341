"""The arrows of the runtime package run one way: ``core`` (the kernel) imports only itself; ``mail``
and ``observability`` (shared below the features) import only the kernel and themselves; a feature
imports the kernel, the shared modules and itself. Only a feature's entry module (``<feature>/entry.py``:
the Lambda handler's wiring) may import another feature, to build the adapter behind one of its
ports (docs/decisions.md, "The kernel imports no feature").

Every import counts, lazy ones inside functions and ``if TYPE_CHECKING:`` ones included: a lazy
import is still an arrow, only one that a cycle does not break at load time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "reawake"
KERNEL = {"core"}
SHARED = {"mail", "observability"}
FEATURES = {"tracking", "segments", "stepmail", "alerts", "calllists", "reports"}
ENTRY = "entry"


def room_of(module: str) -> str:
    """``reawake.segments.rules.model`` -> ``segments``; ``reawake.observability`` -> ``observability``."""
    return module.split(".")[1] if module.count(".") else ""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reawake_imports(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of ``reawake.*`` in the source, relative ones resolved."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level]
                name = ".".join(base + ([name] if name else []))
            found.append((node.lineno, name))
    return [(line, name) for line, name in found if name == "reawake" or name.startswith("reawake.")]


def allowed(importer: str, imported: str) -> bool:
    here, there = room_of(importer), room_of(imported)
    if there == here or there in KERNEL or imported == "reawake":
        return True
    if here in KERNEL:
        return False
    if here in SHARED:
        return there in SHARED
    if there in SHARED:
        return True
    return here in FEATURES and there in FEATURES and importer.split(".")[-1] == ENTRY and importer.count(".") == 2


def wrong_arrows(modules: dict[str, str]) -> list[str]:
    """``importer:line -> imported`` for every import that points up or sideways; modules: name -> source."""
    return [f"{name}:{line} -> {imported}"
            for name, source in sorted(modules.items())
            for line, imported in reawake_imports(source, name)
            if not allowed(name, imported)]


def layer_sources() -> dict[str, str]:
    return {module_name(p): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_package_of_the_runtime_has_a_place() -> None:
    rooms = {room_of(m) for m in layer_sources()} - {""}
    assert rooms == KERNEL | SHARED | FEATURES, "a new package must be given its place in the direction"


def test_the_kernel_imports_no_feature_and_no_feature_imports_another_outside_its_entry() -> None:
    sources = layer_sources()
    arrows = [(n, i) for n, s in sources.items() for _, i in reawake_imports(s, n)]
    assert sum(room_of(n) in KERNEL for n, _ in arrows) > 20, "positive control: the kernel's own imports are read"
    assert ("reawake.segments.entry", "reawake.stepmail.enroller") in arrows, "control: an entry's wiring is seen"
    assert wrong_arrows(sources) == []


def test_the_check_sees_an_arrow_up_or_sideways() -> None:
    """The control: each kind of wrong arrow is reported, lazy, type-only and relative ones included;
    the allowed ones are not."""
    lazy = "def f():\n    from reawake.segments.reads import condition_paths\n"
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from reawake.stepmail import store\n"
    modules = {
        "reawake.core.config_store": lazy,
        "reawake.core.store": typed,
        "reawake.mail.templates": "import reawake.alerts.domain\n",
        "reawake.calllists.run": "from ..alerts import domain\n",
        "reawake.segments.rules.entry": "from reawake.stepmail.enroller import x\n",
        "reawake.segments.entry": "from reawake.stepmail.enroller import x\nfrom reawake.mail import mailer\n",
        "reawake.alerts.alerting": "from reawake.core.store import Store\nfrom reawake.observability import count\n"
                                   "from reawake.alerts import domain\nfrom . import store\n",
        "reawake.observability": "from reawake.core import clock\n",
    }
    assert wrong_arrows(modules) == [
        "reawake.calllists.run:1 -> reawake.alerts",
        "reawake.core.config_store:2 -> reawake.segments.reads",
        "reawake.core.store:3 -> reawake.stepmail",
        "reawake.mail.templates:1 -> reawake.alerts.domain",
        "reawake.segments.rules.entry:1 -> reawake.stepmail.enroller",
    ]
