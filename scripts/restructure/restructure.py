#!/usr/bin/env python3
# ruff: noqa
"""Restructure a Reawake checkout into feature packages and a lean Lambda layer (issue 11, items 1 and 3).

Deterministic and re-runnable on any checkout of the project (run it on a clean tree):

    python3 /work/wt/restructure/restructure.py [REPO] [--commit]

What it does, in order:
1. ``git mv`` of every tracked file under ``layers/common/reawake`` whose module is listed in
   ``mapping.tsv`` (old module or package -> new one; the longest listed prefix wins). Anything not
   listed stays where it is. A listed source that does not exist is skipped with a warning.
   Modules that go to ``reawake_tools`` land under ``tools/reawake_tools`` (outside the layer's
   ContentUri, so ``sam build`` never ships them).
2. Rewrites every reference to a moved module in every tracked text file: ``from reawake.X import``,
   ``from reawake import X`` (split per new package), ``import reawake.X``, dotted strings
   (monkeypatch/mock paths, ``importlib.import_module``, ``python -m``), ``layers/common/reawake/..``
   paths, ``Path(__file__).parents[N]`` depths of moved files. No shims: nothing re-exports an old name.
3. pyproject.toml (two package roots, the script entry, mypy packages/mypy_path, ruff first-party),
   layers/common/requirements.txt pinned from ``pins.txt``, the README's Layout section, the
   decisions section appended to docs/decisions.md, the layer test added
   (``files/tests/unit/test_layer.py``), ``__init__.py`` of new packages.
4. ``ruff check --fix --select I`` on the Python files it changed (import order and wrapping).

It prints every warning; the exit status is 1 when something needs a person (see the last lines).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
ROOTS = {"reawake": "layers/common/reawake", "reawake_tools": "tools/reawake_tools"}
LAYER_PKG = "layers/common/reawake"
TEXT_SUFFIXES = {".py", ".pyi", ".toml", ".md", ".yaml", ".yml", ".cfg", ".ini", ".sh", ".txt"}
TEXT_NAMES = {"Makefile", ".gitignore"}
# History stays as written: docs/decisions.md gets the move table appended instead.
SKIP_TEXT = {"docs/decisions.md"}
# Module names bound by `from reawake import X` that the new layout renames (no `*_api` any more).
BINDING_RENAMES = {
    "alert_api": "alert_entry",
    "calllist_api": "calllist_entry",
    "stepmail_api": "stepmail_entry",
    "segment_api": "segment_entry",
    "track_api": "routes",
    "tracking": "recording",
}
DOTTED = re.compile(r"(?<![\w.])reawake(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
LAYER_PATH = re.compile(r"layers/common/reawake/([A-Za-z0-9_/]+?)(\.py|/|(?![A-Za-z0-9_/]))")
FILE_DEPTH = re.compile(r"Path\(__file__\)(\.resolve\(\))?\.parents\[(\d+)\]")

warnings: list[str] = []
problems: list[str] = []


def warn(msg: str) -> None:
    warnings.append(msg)
    print(f"WARNING: {msg}", file=sys.stderr)


def problem(msg: str) -> None:
    problems.append(msg)
    print(f"PROBLEM: {msg}", file=sys.stderr)


def git(repo: Path, *args: str, capture: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=capture, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


# ---------------------------------------------------------------- modules and paths


def module_path(module: str, package: bool) -> str:
    top, _, rest = module.partition(".")
    base = ROOTS[top] + ("/" + rest.replace(".", "/") if rest else "")
    return base + "/__init__.py" if package else base + ".py"


def path_module(path: str) -> tuple[str, bool] | None:
    """'layers/common/reawake/a/b.py' -> ('reawake.a.b', False); an __init__.py -> (package, True)."""
    for top, root in ROOTS.items():
        if path.startswith(root + "/") and path.endswith(".py"):
            parts = path[len(root) + 1 : -3].split("/")
            package = parts[-1] == "__init__"
            if package:
                parts = parts[:-1]
            return ".".join([top, *parts]), package
    return None


def read_table(name: str) -> list[list[str]]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


class Mapping:
    """The active part of mapping.tsv (sources that exist) and the old module inventory."""

    def __init__(self, repo: Path) -> None:
        self.files = [p for p in git(repo, "ls-files", "-z", "--", LAYER_PKG).split("\0") if p]
        self.modules: dict[str, bool] = {}  # old module -> is a package
        for path in self.files:
            found = path_module(path)
            if found:
                self.modules[found[0]] = found[1]
        self.entries: dict[str, str] = {}
        for old, new in ((r[0], r[1]) for r in read_table("mapping.tsv")):
            if old in self.modules:
                self.entries[old] = new
            else:
                warn(f"mapping: {old} does not exist here, skipped (-> {new})")
        targets: dict[str, str] = {}
        for old in self.modules:
            new = self.resolve(old)
            if new in targets and targets[new] != old:
                raise SystemExit(f"mapping: {old} and {targets[new]} would both become {new}")
            targets[new] = old
        for new, old in targets.items():
            if new != old and new in self.modules and self.resolve(new) == new:
                raise SystemExit(f"mapping: {old} -> {new}, but {new} exists and stays")

    def resolve(self, dotted: str) -> str:
        """The new name of a dotted reference (a module, or a module's attribute)."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            if head in self.entries:
                return ".".join([self.entries[head], *parts[i:]])
        return dotted

    def new_path(self, path: str) -> str:
        """Where a tracked file under the layer package goes (data files follow their package)."""
        found = path_module(path)
        if found:
            module, package = found
            return module_path(self.resolve(module), package)
        # a non-Python file: it moves with the package that holds it
        rel = PurePosixPath(path).relative_to(LAYER_PKG)
        parts = list(rel.parts)
        for i in range(len(parts) - 1, 0, -1):
            package = ".".join(["reawake", *parts[:i]])
            if package in self.modules and self.resolve(package) != package:
                new = self.resolve(package)
                return str(PurePosixPath(module_path(new, True)).parent.joinpath(*parts[i:]))
        return path


# ---------------------------------------------------------------- step 1: moves


def move_files(repo: Path, mapping: Mapping) -> dict[str, str]:
    moves = {p: mapping.new_path(p) for p in mapping.files}
    moves = {old: new for old, new in moves.items() if old != new}
    for old, new in sorted(moves.items()):
        (repo / new).parent.mkdir(parents=True, exist_ok=True)
        git(repo, "mv", old, new)
    # __init__.py for every new package, with the docstring from packages.tsv
    docs = {r[0]: (r[1], len(r) > 2 and r[2] == "replace") for r in read_table("packages.tsv")}
    new_modules = {mapping.resolve(m) for m in mapping.modules}
    packages = {".".join(m.split(".")[:i]) for m in new_modules for i in range(1, m.count(".") + 1)}
    for package in sorted(packages):
        init = repo / module_path(package, True)
        doc, replace = docs.get(package, ("", False))
        if not init.exists() or replace:
            if not doc:
                doc = f"{package.rsplit('.', 1)[-1].capitalize()}."
                warn(f"{init.relative_to(repo)}: no docstring in packages.tsv, wrote '{doc}'")
            body = init.read_text(encoding="utf-8") if init.exists() else ""
            old_doc = ast.get_docstring(ast.parse(body)) if body else None
            tree = ast.parse(body) if body else None
            rest = ""
            if tree and tree.body and old_doc is not None:
                rest = "\n".join(body.splitlines()[tree.body[0].end_lineno or 0 :]).lstrip("\n")
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(wrap_docstring(doc) + ("\n" + rest if rest else ""), encoding="utf-8")
            git(repo, "add", str(init.relative_to(repo)))
    typed = repo / "tools/reawake_tools/py.typed"
    if (repo / "tools/reawake_tools").is_dir() and not typed.exists():
        typed.write_text("", encoding="utf-8")
        git(repo, "add", str(typed.relative_to(repo)))
    # remove directories left empty (untracked caches included)
    for path in sorted((repo / LAYER_PKG).rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
    for path in sorted((repo / LAYER_PKG).rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return moves


def wrap_docstring(text: str, width: int = 100) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return '"""' + "\n".join(lines) + '"""\n'


# ---------------------------------------------------------------- step 2: references


def rewrite_dotted(text: str, mapping: Mapping) -> str:
    return DOTTED.sub(lambda m: mapping.resolve(m.group(0)), text)


def rewrite_paths(text: str, mapping: Mapping) -> str:
    def repl(m: re.Match[str]) -> str:
        rel, tail = m.group(1).rstrip("/"), m.group(2)
        module = "reawake." + rel.replace("/", ".")
        if module not in mapping.modules:
            return m.group(0)
        new = mapping.resolve(module)
        if new == module:
            return m.group(0)
        top, _, rest = new.partition(".")
        return ROOTS[top] + "/" + rest.replace(".", "/") + tail

    return LAYER_PATH.sub(repl, text)


def rewrite_python(text: str, path: str, mapping: Mapping) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        warn(f"{path}: not Python 3 ({e}); dotted references rewritten as text only")
        return rewrite_dotted(rewrite_paths(text, mapping), mapping)
    lines = text.splitlines(keepends=True)
    spans: dict[int, tuple[int, str]] = {}  # first line (0-based) -> (last line, replacement)
    renames: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        if node.module != "reawake" and not node.module.startswith("reawake."):
            continue
        if not any(f"{node.module}.{a.name}" in mapping.modules for a in node.names):
            continue  # attributes only: the dotted rewrite handles the module name
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if full in mapping.modules:
                new_parent, _, new_base = mapping.resolve(full).rpartition(".")
                bound = alias.asname or alias.name
                if alias.asname is None and new_base != alias.name and alias.name in BINDING_RENAMES:
                    bound = BINDING_RENAMES[alias.name]
                    renames[alias.name] = bound
                item = new_base if bound == new_base else f"{new_base} as {bound}"
            else:
                new_parent = mapping.resolve(node.module)
                item = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            groups.setdefault(new_parent, []).append(item)
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        indent = lines[first][: node.col_offset]
        if lines[first][: node.col_offset].strip():
            warn(f"{path}:{node.lineno}: an import after other code on its line; left as text")
            continue
        trailing = lines[last][node.end_col_offset :].rstrip("\n")
        stmts = [f"{indent}from {parent} import {', '.join(items)}" for parent, items in groups.items()]
        if trailing.strip():
            stmts[-1] += trailing
        spans[first] = (last, "\n".join(stmts) + "\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in spans:
            last, replacement = spans[i]
            out.append(replacement)
            i = last + 1
        else:
            out.append(rewrite_dotted(rewrite_paths(lines[i], mapping), mapping))
            i += 1
    result = "".join(out)
    if renames:
        result = rename_bindings(result, renames, path)
    return result


def rename_bindings(text: str, renames: dict[str, str], path: str) -> str:
    """Rename module bindings (``alert_api`` -> ``alert_entry``) as names, never inside strings or
    after a dot (an attribute of something else)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    names = {t.string for t in tokens if t.type == tokenize.NAME}
    for old, new in list(renames.items()):
        if new in names and new not in renames.values():
            warn(f"{path}: {new} already used; {old} kept its name")
            renames.pop(old)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    prev = None
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string in renames and not (prev and prev.string == "."):
            edits.append((tok.start[0] - 1, tok.start[1], tok.end[1], renames[tok.string]))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok
    for row, start, end, new in sorted(edits, reverse=True):
        lines[row] = lines[row][:start] + new + lines[row][end:]
    return "".join(lines)


def fix_file_depths(text: str, old_path: str, new_path: str, path: str) -> str:
    """``Path(__file__).parents[N]`` of a moved file keeps pointing at the same directory."""

    def repl(m: re.Match[str]) -> str:
        n = int(m.group(2))
        target = PurePosixPath(old_path).parents[n]
        new_parents = list(PurePosixPath(new_path).parents)
        if target not in new_parents:
            warn(f"{path}: Path(__file__).parents[{n}] pointed at {target}, not above the new place")
            return m.group(0)
        return f"Path(__file__){m.group(1) or ''}.parents[{new_parents.index(target)}]"

    return FILE_DEPTH.sub(repl, text)


def text_files(repo: Path) -> list[str]:
    out = []
    for path in git(repo, "ls-files", "-z").split("\0"):
        if not path or path in SKIP_TEXT:
            continue
        p = PurePosixPath(path)
        if p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES:
            if path.startswith(("site/", "templates/")) and p.suffix != ".md":
                continue
            out.append(path)
    return out


def rewrite_references(repo: Path, mapping: Mapping, moves: dict[str, str]) -> list[str]:
    moved_from = {new: old for old, new in moves.items()}
    changed = []
    for path in text_files(repo):
        file = repo / path
        if not file.is_file():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.endswith((".py", ".pyi")):
            new = rewrite_python(text, path, mapping)
            if path in moved_from:
                new = fix_file_depths(new, moved_from[path], path, path)
        else:
            new = rewrite_dotted(rewrite_paths(text, mapping), mapping)
        if new != text:
            file.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


# ---------------------------------------------------------------- step 3: project files


def sub_once(text: str, pattern: str, repl: str, what: str, flags: int = re.M) -> str:
    new, n = re.subn(pattern, repl, text, count=1, flags=flags)
    if not n:
        warn(f"pyproject.toml: {what}: not found, left as is")
    return new


def edit_pyproject(repo: Path) -> None:
    file = repo / "pyproject.toml"
    text = file.read_text(encoding="utf-8")
    if "reawake_tools" in text and "tools/reawake_tools" in text:
        return
    text = sub_once(
        text,
        r'^\[tool\.setuptools\]\npackage-dir = \{ *"" *= *"layers/common" *\}\n',
        "[tool.setuptools.package-dir]\n"
        "# Two package roots: the runtime (the Lambda layer's ContentUri) and the tools (CLI, local stack,\n"
        "# demo), which `pip install -e .` installs for people and tests and `sam build` never sees.\n"
        'reawake = "layers/common/reawake"\n'
        'reawake_tools = "tools/reawake_tools"\n',
        "package-dir",
    )
    text = sub_once(text, r'^where = \["layers/common"\]', 'where = ["layers/common", "tools"]', "packages.find")
    text = sub_once(
        text,
        r'^(reawake = \["static/\*", "py\.typed"\])',
        r'\1' + '\nreawake_tools = ["py.typed"]',
        "package-data",
    )
    text = sub_once(text, r'^mypy_path = "layers/common"', 'mypy_path = "layers/common:tools"', "mypy_path")
    text = sub_once(text, r'^packages = \["reawake"\]', 'packages = ["reawake", "reawake_tools"]', "mypy packages")
    text = sub_once(
        text,
        r'^(known-first-party = \[)"reawake", ',
        r'\1"reawake", "reawake_tools", ',
        "ruff known-first-party",
    )
    file.write_text(text, encoding="utf-8")


def pin_requirements(repo: Path) -> None:
    """Every line of the layer's requirements.txt pinned (pins.txt: what pip resolved for the
    layer's platform, python3.12 arm64), plus their dependencies, so a build is repeatable."""
    file = repo / "layers/common/requirements.txt"
    pins: dict[str, str] = {}
    for line in (HERE / "pins.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    wanted = []
    for line in file.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name = canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])
        wanted.append(name)
    deps = read_table("pin-deps.tsv")
    closure = {canonical(r[0]): [canonical(d) for d in r[1].split()] if len(r) > 1 else [] for r in deps}
    seen: list[str] = []
    stack = list(wanted)
    while stack:
        name = stack.pop(0)
        if name in seen:
            continue
        seen.append(name)
        if name not in closure:
            problem(f"layers/common/requirements.txt: {name} is not in pins.txt/pin-deps.tsv: pin it by hand "
                    "(and its dependencies); the layer test fails on an unpinned line")
        stack.extend(closure.get(name, []))
    out = [
        "# The Lambda layer's dependencies, pinned (python3.12, arm64). Direct ones first, then what they",
        "# pull in. pyproject.toml keeps ranges for development; tests/unit/test_layer.py checks the pins.",
    ]
    for name in seen:
        line = f"{name}=={pins[name]}" if name in pins else name
        via = ", ".join(sorted(p for p in seen if name in closure.get(p, [])))
        out.append(line if name in wanted else f"{line}  # via {via}")
    file.write_text("\n".join(out) + "\n", encoding="utf-8")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def replace_readme_layout(repo: Path) -> None:
    file = repo / "README.md"
    text = file.read_text(encoding="utf-8")
    new_section = (HERE / "readme-layout.md").read_text(encoding="utf-8").rstrip("\n") + "\n"
    m = re.search(r"^## Layout\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if not m:
        warn("README.md: no '## Layout' section; appended one")
        text = text.rstrip("\n") + "\n\n" + new_section
    else:
        after = text[m.end() :]
        text = text[: m.start()] + new_section + ("\n" + after if after else "")
    file.write_text(text, encoding="utf-8")


def append_decisions(repo: Path) -> None:
    file = repo / "docs/decisions.md"
    section = (HERE / "decisions-section.md").read_text(encoding="utf-8").strip("\n")
    text = file.read_text(encoding="utf-8")
    title = section.splitlines()[0]
    if title in text:
        return
    file.write_text(text.rstrip("\n") + "\n\n" + section + "\n", encoding="utf-8")


def copy_files(repo: Path) -> list[str]:
    out = []
    for src in sorted((HERE / "files").rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts:
            rel = src.relative_to(HERE / "files")
            dst = repo / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            git(repo, "add", str(rel))
            out.append(str(rel))
    return out


# ---------------------------------------------------------------- targeted patches


LINKS = "layers/common/reawake/mail/links.py"
LINKS_OLD = re.compile(
    r"(?P<i> +)from reawake_tools\.local\.template import load_template\n\n"
    r"(?P=i)default = load_template\(\)\[\"Parameters\"\]\[\"SiteOrigins\"\]\[\"Default\"\]\n"
)
LINKS_HELPER = '''

class _TagsAsNull(yaml.SafeLoader):
    """Reads template.yaml with CloudFormation's short-form tags (!Ref, !Sub...) as null: only literal
    parameter defaults are read here, and the layer must not import the tools' template reader."""


_TagsAsNull.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template_default(parameter: str) -> object:
    """A parameter's default in the project's template.yaml (beside the layer in a checkout)."""
    path = Path(__file__).resolve().parents[4] / "template.yaml"
    with path.open(encoding="utf-8") as f:
        template = yaml.load(f, Loader=_TagsAsNull)  # noqa: S506 - a SafeLoader subclass
    return template["Parameters"][parameter]["Default"]
'''


def patch_links(repo: Path) -> None:
    """mail/links.py read template.yaml's SiteOrigins default through the local stack's reader (now a
    tool): it reads it itself, so the layer imports nothing from reawake_tools."""
    file = repo / LINKS
    if not file.exists():
        return
    text = file.read_text(encoding="utf-8")
    if "reawake_tools" not in text:
        return
    new, n = LINKS_OLD.subn(lambda m: f'{m.group("i")}default = _template_default("SiteOrigins")\n', text)
    if not n:
        problem(f"{LINKS}: imports reawake_tools in a way this script does not know; fix by hand")
        return
    new = new.rstrip("\n") + "\n" + LINKS_HELPER
    if not re.search(r"^import yaml$", new, re.M):
        new = re.sub(r"^(from __future__ import annotations\n\n)", r"\1import yaml\n", new, count=1, flags=re.M)
    if not re.search(r"^from pathlib import Path$", new, re.M):
        new = re.sub(r"^(from __future__ import annotations\n\n)", r"\1from pathlib import Path\n", new, count=1,
                     flags=re.M)
    file.write_text(new, encoding="utf-8")


PACKAGE_SCAN = re.compile(r'^PACKAGE = ROOT / "layers" / "common" / "reawake"\n', re.M)


def patch_package_scans(repo: Path) -> None:
    """A test that scans the package's source for what the CLI reads (``PACKAGE.rglob``) scans both
    packages now: the CLI is in reawake_tools. Any other path built from "layers"/"common" is reported."""
    for path in git(repo, "ls-files", "-z", "--", "*.py").split("\0"):
        file = repo / path
        if not path or not file.is_file() or path == "tests/unit/test_layer.py":
            continue
        text = file.read_text(encoding="utf-8")
        if PACKAGE_SCAN.search(text) and text.count("PACKAGE") == 2 and "PACKAGE.rglob(" in text:
            text = PACKAGE_SCAN.sub('PACKAGES = (ROOT / "layers" / "common" / "reawake", ROOT / "tools" / "reawake_tools")\n',
                                    text)
            text = re.sub(r'PACKAGE\.rglob\(("[^"]*")\)', r"(p for package in PACKAGES for p in package.rglob(\1))", text,
                          count=1)
            file.write_text(text, encoding="utf-8")
        elif re.search(r'"layers"\s*/\s*"common"', text):
            warn(f"{path}: builds a path to layers/common: check it still means the layer (the tools moved out)")


# ---------------------------------------------------------------- checks


def layer_imports_tools(repo: Path) -> None:
    """Every import in the layer package, lazy ones included, must stay out of the tools and moto."""
    for file in sorted((repo / LAYER_PKG).rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("reawake_tools", "moto", "tests", "bench"):
                    problem(f"{file.relative_to(repo)}:{node.lineno}: the layer imports {name}")


def long_lines(repo: Path, changed: list[str]) -> None:
    """Lines the rewrite made too long for ruff (E501) and that no rule here can wrap: code lines."""
    exe = ruff_exe(repo)
    py = [p for p in changed if p.endswith(".py") and (repo / p).exists()]
    if not exe or not py:
        return
    done = subprocess.run([exe, "check", "--select", "E501", "--output-format", "concise", *py], cwd=repo,
                          capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if "E501" in line:
            problem(f"too long after the rewrite (wrap it by hand): {line}")


def wrap_long_comment_lines(repo: Path, changed: list[str]) -> None:
    """A docstring or comment line the rewrite made longer than 120 characters is split at a space."""
    for path in changed:
        file = repo / path
        if not path.endswith(".py") or not file.exists():
            continue
        text = file.read_text(encoding="utf-8")
        strings = set()
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.STRING and tok.string.startswith(('"""', "'''")):
                    strings.update(range(tok.start[0], tok.end[0] + 1))
                elif tok.type == tokenize.COMMENT and tok.start[1] == len(tok.line) - len(tok.line.lstrip()):
                    strings.add(-tok.start[0])
        except (tokenize.TokenError, IndentationError):
            continue
        lines = text.split("\n")
        out = []
        for no, line in enumerate(lines, 1):
            if len(line) <= 120 or (no not in strings and -no not in strings):
                out.append(line)
                continue
            indent = line[: len(line) - len(line.lstrip())]
            prefix = indent + ("# " if -no in strings else "")
            cut = line.rfind(" ", len(prefix) + 1, 121)
            if cut <= len(prefix):
                out.append(line)
                continue
            out.append(line[:cut])
            out.append(prefix + line[cut + 1 :])
        new = "\n".join(out)
        if new != text:
            file.write_text(new, encoding="utf-8")


def ruff_exe(repo: Path) -> str | None:
    ruff = repo / ".venv/bin/ruff"
    return str(ruff) if ruff.exists() else shutil.which("ruff")


def ruff_fix(repo: Path, changed: list[str]) -> None:
    exe = ruff_exe(repo)
    py = [p for p in changed if p.endswith(".py") and (repo / p).exists()]
    if not exe:
        warn("ruff not found (.venv/bin/ruff or PATH): imports not re-sorted; run `ruff check --fix --select I .`")
        return
    if py:
        subprocess.run([exe, "check", "--quiet", "--fix", "--select", "I", *py], cwd=repo, check=False)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", default=".", help="a checkout of the project (default: .)")
    parser.add_argument("--commit", action="store_true", help="commit the result (git commit)")
    parser.add_argument("--force", action="store_true", help="run on a tree with uncommitted changes")
    args = parser.parse_args()
    repo = Path(git(Path(args.repo), "rev-parse", "--show-toplevel").strip())
    if git(repo, "ls-files", "--", f"{LAYER_PKG}/core").strip():
        print("already restructured (layers/common/reawake/core exists): reset to the base first")
        return 2
    if git(repo, "status", "--porcelain", "--untracked-files=no").strip() and not args.force:
        print("uncommitted changes: commit or stash them first (or --force)")
        return 2
    mapping = Mapping(repo)
    moves = move_files(repo, mapping)
    print(f"moved {len(moves)} files")
    changed = rewrite_references(repo, mapping, moves)
    patch_links(repo)
    patch_package_scans(repo)
    edit_pyproject(repo)
    pin_requirements(repo)
    replace_readme_layout(repo)
    append_decisions(repo)
    added = copy_files(repo)
    print(f"rewrote references in {len(changed)} files; added {', '.join(added)}")
    ruff_fix(repo, changed + added)
    wrap_long_comment_lines(repo, changed)
    long_lines(repo, changed)
    layer_imports_tools(repo)
    git(repo, "add", "-u")
    if args.commit:
        git(repo, "commit", "-q", "-m", "Layout: feature packages under reawake/, the tools (CLI, local stack, demo, "
            "imports) in reawake_tools outside the Lambda layer; layer requirements pinned (restructure.py)")
        print("committed")
    print(f"\n{len(warnings)} warning(s), {len(problems)} problem(s)")
    for p in problems:
        print(f"  PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
