# ruff: noqa
"""The Lambda layer holds only what the functions need: nothing under layers/common/ imports the tools
(the CLI, the local stack, the demo: ``reawake_tools``), moto, the tests or the benchmarks, and every
requirement of the layer is pinned.

Two witnesses, because one alone misses something:
- the source: every import statement of every module under layers/common/, lazy ones inside functions
  included, names the standard library, ``reawake`` or a distribution listed in requirements.txt;
- a fresh interpreter that can import only those (any other top-level package is not found, as in
  Lambda) imports every module under layers/common/.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
REQUIREMENTS = LAYER / "requirements.txt"


def requirement_names() -> list[str]:
    names = []
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            names.append(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_top_level() -> set[str]:
    """The standard library, reawake, and the import names of the layer's distributions."""
    wanted = {canonical(n) for n in requirement_names()}
    allowed = set(sys.stdlib_module_names) | {"reawake"}
    for module, dists in importlib.metadata.packages_distributions().items():
        if any(canonical(d) in wanted for d in dists):
            allowed.add(module)
    return allowed


def layer_modules() -> list[str]:
    out = []
    for path in sorted(LAYER.rglob("*.py")):
        parts = list(path.relative_to(LAYER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every import that runs (``if TYPE_CHECKING:`` blocks are for mypy only and never run)."""
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def test_every_layer_requirement_is_pinned() -> None:
    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    unpinned = [line for line in lines if line and not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line)]
    assert unpinned == []
    assert "boto3" in {canonical(n) for n in requirement_names()}, "positive control: the file was read"


def test_layer_sources_import_only_the_layer_and_its_requirements() -> None:
    allowed = allowed_top_level()
    assert "yaml" in allowed and "pydantic" in allowed, "positive control: requirements resolved to modules"
    assert "moto" not in allowed and "reawake_tools" not in allowed
    outside = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(LAYER.rglob("*.py"))
        for line, name in imported_names(path)
        if name.split(".")[0] not in allowed
    ]
    assert outside == []


# Runs in a fresh interpreter: imports are limited to `allowed` (as in the layer), then every module.
_PROBE = """
import importlib, importlib.abc, importlib.machinery, json, os, sys, sysconfig
allowed, modules = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])
stdlib = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
stdlib.append(os.path.join(stdlib[1], "lib-dynload"))

def in_stdlib(top):
    return importlib.machinery.PathFinder.find_spec(top, stdlib) is not None

class OnlyTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in allowed and not in_stdlib(top):
            raise ModuleNotFoundError(f"No module named {name!r} (not in the layer)", name=name)
        return None

sys.meta_path.insert(0, OnlyTheLayer())
failed = {}
for probe in ("moto", "reawake_tools"):
    try:
        importlib.import_module(probe)
        failed["control:" + probe] = "imported"
    except ImportError:
        pass
for module in modules:
    try:
        importlib.import_module(module)
    except Exception as e:
        failed[module] = f"{type(e).__name__}: {e}"
print(json.dumps({"failed": failed, "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "reawake")}))
"""


def test_every_layer_module_imports_with_only_the_layer_requirements() -> None:
    modules = layer_modules()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "PYTHON"))}
    env.update({"AWS_DEFAULT_REGION": "ap-northeast-1", "TABLE_NAME": "reawake", "CONFIG_BUCKET": "config",
                "POWERTOOLS_SERVICE_NAME": "reawake", "POWERTOOLS_TRACE_DISABLED": "true"})
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(LAYER)!r})\n" + _PROBE,
         json.dumps(sorted(allowed_top_level())), json.dumps(modules)],
        capture_output=True, text=True, env=env, cwd=LAYER, check=False, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert set(modules) <= set(result["loaded"]), "every module of the layer was imported"
