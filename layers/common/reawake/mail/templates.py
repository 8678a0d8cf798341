"""Email templates: front matter, the sandboxed Jinja2 environments, the stores and the checks.

A template is two files, ``NAME.html.j2`` and ``NAME.txt.j2``. The HTML file starts with front
matter, YAML between two ``---`` lines::

    ---
    subject: "{{ lead.company }} {{ lead.name }}様 導入事例のご紹介"   # a Jinja template too
    preheader: 受発注の転記作業を月40時間削減した方法        # optional (the inbox preview line)
    from: "{{ owner.name }}（サンプル株式会社）"             # optional: a name, or "Name <address>"
    reply_to: "{{ owner.email }}"                             # optional
    ---

Marketers write templates, so they run in ``ImmutableSandboxedEnvironment`` (no access to Python
internals, no mutation), HTML autoescaped, and every undefined variable is an error
(``StrictUndefined``) that ``check_template`` finds before upload, never at send time.
"""

from __future__ import annotations

import difflib
import re
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reawake.core.config_store import ConfigStore
from reawake.mail.config import (
    MAIL_KEY,
    OWNERS_KEY,
    MailConfig,
    OwnerDirectory,
    load_mail_config,
    load_owners,
)
from reawake.mail.context import CONTRACT, KNOWN_VARIABLES, OPEN

TEMPLATES_PREFIX = "templates/"
HTML_SUFFIX = ".html.j2"
TEXT_SUFFIX = ".txt.j2"
DEFAULT_TEMPLATES = Path("templates")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
WEEKDAYS_JA = "月火水木金土日"
GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides the rest of a longer HTML part behind "[Message clipped]"


class TemplateProblem(ValueError):
    """A template cannot be loaded or rendered; ``problems`` lists why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class TemplateNotFound(TemplateProblem):
    pass


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    subject: str = Field(min_length=1, max_length=500)
    from_: str | None = Field(default=None, alias="from", max_length=300)
    preheader: str | None = Field(default=None, max_length=500)
    reply_to: str | None = Field(default=None, max_length=300)


FRONT_FIELDS = ("subject", "from", "preheader", "reply_to")


# --- environments ---------------------------------------------------------------------------------


def ja_date(value: Any, weekday: bool = False) -> str:
    """2026-11-24 -> 2026年11月24日 (weekday=True: 2026年11月24日（火）)."""
    if not isinstance(value, date):
        return str(value)
    text = f"{value.year}年{value.month}月{value.day}日"
    return f"{text}（{WEEKDAYS_JA[value.weekday()]}）" if weekday else text


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True, auto_reload=False
    )
    env.filters["ja_date"] = ja_date
    return env


@cache
def html_environment() -> ImmutableSandboxedEnvironment:
    return _environment(autoescape=True)


@cache
def text_environment() -> ImmutableSandboxedEnvironment:
    """The text part, subject, from, reply-to and preheader (escaped where they go into HTML)."""
    return _environment(autoescape=False)


# --- sources ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSource:
    name: str
    html_file: str  # where it came from, for messages
    text_file: str
    front: FrontMatter
    front_text: str
    html: str  # the HTML after the front matter
    html_offset: int  # lines taken by the front matter (add to a Jinja line number)
    text: str

    def front_line(self, key: str) -> int:
        """The line of a front matter key in the .html.j2 file."""
        for index, line in enumerate(self.front_text.splitlines(), start=2):
            if line.startswith(f"{key}:"):
                return index
        return 1


def split_front_matter(text: str, file: str) -> tuple[FrontMatter, str, str, int]:
    """(front matter, its YAML text, the body, the lines before the body)."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise TemplateProblem([f"{file}:1: front matter missing: start the file with a --- line, subject: ..., "
                               "and another --- line"])
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise TemplateProblem([f"{file}:1: the front matter is not closed: add a --- line after it"])
    front_text = "".join(lines[1:end])
    try:
        data = yaml.safe_load(front_text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise TemplateProblem([f"{file}:{line}: front matter: YAML syntax error: {getattr(exc, 'problem', exc)}"]) \
            from None
    if not isinstance(data, dict):
        raise TemplateProblem([f"{file}:2: front matter: expected keys such as subject: and preheader:"])
    try:
        front = FrontMatter.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            key = str(error["loc"][0]) if error["loc"] else ""
            if error["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, FRONT_FIELDS, n=1)
                message = f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + \
                    f"; the keys are {', '.join(FRONT_FIELDS)}"
            elif error["type"] == "missing":
                message = f"{key!r} is required"
            else:
                message = f"{key}: {error['msg']}"
            problems.append(f"{file}:2: front matter: {message}")
        raise TemplateProblem(problems) from None
    return front, front_text, "".join(lines[end + 1 :]), end + 1


@dataclass(frozen=True)
class CompiledTemplate:
    source: TemplateSource
    subject: Template
    from_: Template | None
    reply_to: Template | None
    preheader: Template | None
    html: Template
    text: Template

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def front(self) -> FrontMatter:
        return self.source.front


def _syntax_problem(exc: TemplateSyntaxError, file: str, offset: int, what: str = "") -> str:
    where = f"{file}:{(exc.lineno or 1) + offset}"
    return f"{where}: {what}syntax error: {exc.message}"


def compile_source(source: TemplateSource) -> CompiledTemplate:
    """Compile every part; TemplateProblem lists each syntax error with its file and line."""
    problems: list[str] = []
    html_env, text_env = html_environment(), text_environment()

    def build(env: ImmutableSandboxedEnvironment, text: str, file: str, offset: int, what: str = "") -> Any:
        try:
            return env.from_string(text)
        except TemplateSyntaxError as exc:
            problems.append(_syntax_problem(exc, file, offset, what))
        except TemplateError as exc:
            problems.append(f"{file}:{offset + 1}: {what}{exc}")
        return None

    front = source.front
    optional: dict[str, Template | None] = {}
    subject = build(text_env, front.subject, source.html_file, source.front_line("subject") - 1, "subject: ")
    for key, value in (("from", front.from_), ("reply_to", front.reply_to), ("preheader", front.preheader)):
        optional[key] = build(text_env, value, source.html_file, source.front_line(key) - 1, f"{key}: ") \
            if value is not None else None
    html = build(html_env, source.html, source.html_file, source.html_offset)
    text = build(text_env, source.text, source.text_file, 0)
    if problems:
        raise TemplateProblem(problems)
    return CompiledTemplate(source, subject, optional["from"], optional["reply_to"], optional["preheader"], html, text)


# --- stores -----------------------------------------------------------------------------------------


class _TemplateCache(ABC):
    """What both stores share: read by key with an etag, compile once per version of both files."""

    @abstractmethod
    def _read(self, key: str) -> tuple[str, str] | None:
        """(text, etag) of the object at key, or None when there is none."""

    @abstractmethod
    def describe(self, key: str) -> str:
        """Where key lives, for messages (a path or an s3:// URL)."""

    @abstractmethod
    def list_names(self) -> list[str]:
        """The template names this store holds."""

    def _cache(self) -> dict[str, Any]:
        found: dict[str, Any] | None = getattr(self, "_compiled_cache", None)
        if found is None:
            found = {}
            self._compiled_cache = found
        return found

    def _files(self, name: str) -> tuple[str, str]:
        if not NAME.match(name):
            raise TemplateNotFound([f"{name!r} is not a template name (lower-case letters, digits, - and _)"])
        return f"{TEMPLATES_PREFIX}{name}{HTML_SUFFIX}", f"{TEMPLATES_PREFIX}{name}{TEXT_SUFFIX}"

    def _both(self, name: str) -> tuple[tuple[str, str], tuple[str, str]]:
        html_key, text_key = self._files(name)
        html, text = self._read(html_key), self._read(text_key)
        missing = [self.describe(k) for k, v in ((html_key, html), (text_key, text)) if v is None]
        if html is None and text is None:
            raise TemplateNotFound([f"no template {name!r}: {missing[0]} and {missing[1]} are missing"])
        if html is None or text is None:
            raise TemplateNotFound([f"{missing[0]}: missing (every template needs both {name}{HTML_SUFFIX} "
                                    f"and {name}{TEXT_SUFFIX})"])
        return html, text

    def source(self, name: str) -> TemplateSource:
        (html_text, _), (text_text, _) = self._both(name)
        return self._source(name, html_text, text_text)

    def _source(self, name: str, html_text: str, text_text: str) -> TemplateSource:
        html_key, text_key = self._files(name)
        html_file, text_file = self.describe(html_key), self.describe(text_key)
        front, front_text, body, offset = split_front_matter(html_text, html_file)
        return TemplateSource(name, html_file, text_file, front, front_text, body, offset, text_text)

    def get(self, name: str) -> CompiledTemplate:
        """The compiled template; recompiled only when one of its files has a new etag."""
        (html_text, html_etag), (text_text, text_etag) = self._both(name)
        cache = self._cache()
        version = (html_etag, text_etag)
        cached = cache.get(name)
        if cached is not None and cached[0] == version:
            compiled: CompiledTemplate = cached[1]
            return compiled
        compiled = compile_source(self._source(name, html_text, text_text))
        cache[name] = (version, compiled)
        return compiled

    def _parsed(self, key: str, parse: Any) -> Any:
        found = self._read(key)
        if found is None:
            return None
        cache = self._cache()
        cached = cache.get(key)
        if cached is not None and cached[0] == found[1]:
            return cached[1]
        parsed = parse(found[0], self.describe(key))
        cache[key] = (found[1], parsed)
        return parsed

    def mail_config(self) -> MailConfig | None:
        """config/mail.yaml (None when there is none)."""
        found: MailConfig | None = self._parsed(MAIL_KEY, load_mail_config)
        return found

    def owners(self) -> OwnerDirectory:
        found: OwnerDirectory | None = self._parsed(OWNERS_KEY, load_owners)
        return found if found is not None else OwnerDirectory()


class TemplateStore(_TemplateCache, ConfigStore):
    """Templates (``templates/NAME.html.j2`` + ``.txt.j2``) and the mail config in the config
    bucket, cached per container and re-checked by ETag every few minutes (ConfigStore's
    conditional GET: an unchanged file is not downloaded again, nor recompiled)."""

    def _read(self, key: str) -> tuple[str, str] | None:
        entry = self._entry(key)
        return None if entry is None else (entry.text, entry.etag)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def list_names(self) -> list[str]:
        names: set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=TEMPLATES_PREFIX):
            for item in page.get("Contents", []):
                names.add(_name_of(item["Key"][len(TEMPLATES_PREFIX) :]))
        return sorted(n for n in names if n)


def bucket_templates() -> TemplateStore:
    """The templates and mail config in this function's config bucket (each entry module caches its own)."""
    from reawake.core.settings import get_settings

    return TemplateStore(get_settings().config_bucket)


class DirectoryTemplateStore(_TemplateCache):
    """The same from folders: the repository's ``templates/`` and ``config/`` (previews, checks)."""

    def __init__(self, templates_dir: Path = DEFAULT_TEMPLATES, config_dir: Path | None = None) -> None:
        self.templates_dir = Path(templates_dir)
        self.config_dir = Path(config_dir) if config_dir is not None else self.templates_dir.parent / "config"
        self._texts: dict[Path, tuple[str, str]] = {}

    def path(self, key: str) -> Path:
        folder, _, rest = key.partition("/")
        return (self.templates_dir if folder == "templates" else self.config_dir) / rest

    def describe(self, key: str) -> str:
        return str(self.path(key))

    def _read(self, key: str) -> tuple[str, str] | None:
        path = self.path(key)
        try:
            stat = path.stat()
        except OSError:
            return None
        etag = f"{stat.st_mtime_ns}-{stat.st_size}"
        cached = self._texts.get(path)
        if cached is None or cached[1] != etag:
            cached = (path.read_text(encoding="utf-8-sig"), etag)
            self._texts[path] = cached
        return cached

    def list_names(self) -> list[str]:
        if not self.templates_dir.is_dir():
            return []
        return sorted({n for n in (_name_of(p.name) for p in self.templates_dir.iterdir()) if n})


def _name_of(file: str) -> str:
    for suffix in (HTML_SUFFIX, TEXT_SUFFIX):
        if file.endswith(suffix):
            return file[: -len(suffix)]
    return ""


AnyTemplateStore = TemplateStore | DirectoryTemplateStore


# --- variables and checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    path: str  # lead.attrs.業種, owner.name, coupon
    file: str
    line: int


def _chain(node: nodes.Node) -> list[str] | None:
    """``lead.attrs["業種"]`` -> ["lead", "attrs", "業種"]; None when not rooted at a name."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            parts.clear()  # a computed key: only what is before it is known
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return list(reversed(parts))
        else:
            return None


def _uses(tree: nodes.Template, file: str, offset: int) -> Iterator[Use]:
    roots = find_undeclared_variables(tree)

    def visit(node: nodes.Node) -> Iterator[Use]:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            parts = _chain(node)
            if parts and parts[0] in roots and not (isinstance(node, nodes.Name) and node.ctx != "load"):
                yield Use(".".join(parts), file, (node.lineno or 1) + offset)
            inner: nodes.Node = node
            while isinstance(inner, (nodes.Getattr, nodes.Getitem)):  # only the keys of computed lookups
                if isinstance(inner, nodes.Getitem):
                    yield from visit(inner.arg)
                inner = inner.node
            return
        for child in node.iter_child_nodes():
            yield from visit(child)

    yield from visit(tree)


def _unsafe(tree: nodes.Template, file: str, offset: int, label: str = "") -> Iterator[str]:
    """Attribute names the sandbox refuses, found before anything runs."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], nodes.Const):
            name = node.args[0].value
        if isinstance(name, str) and name.startswith("_"):
            yield (f"{file}:{(node.lineno or 1) + offset}: {label}{name!r} is refused by the sandbox: templates cannot "
                   "reach Python internals")
    for stmt in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        yield (f"{file}:{(stmt.lineno or 1) + offset}: {label}extends/include/import are not supported: each template "
               "is self-contained")


def _parts(source: TemplateSource) -> list[tuple[str, str, int, ImmutableSandboxedEnvironment, str]]:
    """(text, file, line offset, environment, label) of every Jinja part of the template."""
    html_env, text_env = html_environment(), text_environment()
    parts = [(source.html, source.html_file, source.html_offset, html_env, ""),
             (source.text, source.text_file, 0, text_env, "")]
    front = source.front
    for key, value in (("subject", front.subject), ("from", front.from_), ("reply_to", front.reply_to),
                       ("preheader", front.preheader)):
        if value is not None:
            parts.append((value, source.html_file, source.front_line(key) - 1, text_env, f"{key}: "))
    return parts


def variable_uses(source: TemplateSource) -> list[Use]:
    uses: list[Use] = []
    for text, file, offset, env, _ in _parts(source):
        try:
            uses.extend(_uses(env.parse(text), file, offset))
        except TemplateSyntaxError:
            continue  # reported by the compile step
    return uses


def template_variables(name: str, store: AnyTemplateStore | None = None) -> set[str]:
    """The variables a template uses, as paths (``lead.name``, ``lead.attrs.業種``, ``today``),
    over its HTML, text, subject, from, reply-to and preheader. store: default ``templates/``."""
    source = (store or DirectoryTemplateStore()).source(name)
    return {use.path for use in variable_uses(source)}


def unknown_variable(path: str) -> str | None:
    """Why ``path`` is not in the context contract, or None when it is."""
    parts = path.split(".")
    root = parts[0]
    if root not in CONTRACT:
        if root in html_environment().globals:
            return None
        close = difflib.get_close_matches(root, list(CONTRACT), n=1)
        return (f"unknown variable {root!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; the variables are {', '.join(CONTRACT)}")
    node: Any = CONTRACT[root]
    for index, part in enumerate(parts[1:], start=1):
        if isinstance(node, dict):
            if part not in node:
                known = sorted(p for p in KNOWN_VARIABLES if p.startswith(".".join(parts[:index]) + "."))
                close = difflib.get_close_matches(".".join(parts[: index + 1]), known, n=1)
                return (f"unknown variable {'.'.join(parts[: index + 1])!r}"
                        + (f" (did you mean {close[0]!r}?)" if close else "")
                        + f"; {'.'.join(parts[:index])} has {', '.join(p.rsplit('.', 1)[1] for p in known)}")
            node = node[part]
        elif node == OPEN:
            return None  # any imported column; a value this lead lacks reads as ""
        elif isinstance(node, type):
            if hasattr(node, part) and not part.startswith("_"):
                return None  # a method or attribute of the value (lead.name.strip, today.year)
            return f"{'.'.join(parts[:index])} is a {node.__name__} and has no {part!r}"
    return None


def _line_of(problem: str) -> int:
    match = re.match(r"^[^:]*:(\d+):", problem)
    return int(match.group(1)) if match else 0


def _runtime_line(exc: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def check_template(
    name: str,
    store: AnyTemplateStore | None = None,
    mail: MailConfig | None = None,
    policy: Any = None,
) -> list[str]:
    """Every problem of one template, one line each (empty: fine): a missing part, front matter,
    syntax errors with their line, what the sandbox refuses, variables outside the context
    contract, and what a render with a sample lead finds (errors, links the click endpoint would
    not follow). mail: default the store's config/mail.yaml; policy: LinkPolicy.current(mail)."""
    from reawake.mail.links import LinkPolicy

    store = store or DirectoryTemplateStore()
    try:
        source = store.source(name)
    except TemplateProblem as exc:
        return exc.problems
    problems: list[str] = []
    for text, file, offset, env, label in _parts(source):
        try:
            tree = env.parse(text)
        except TemplateSyntaxError as exc:
            problems.append(_syntax_problem(exc, file, offset, label))
            continue
        found = list(_unsafe(tree, file, offset, label))
        for use in _uses(tree, file, offset):
            why = unknown_variable(use.path)
            if why:
                found.append(f"{use.file}:{use.line}: {label}{why}")
        problems.extend(sorted(found, key=_line_of))
    if problems:
        return list(dict.fromkeys(problems))
    try:
        compiled = compile_source(source)
    except TemplateProblem as exc:
        return exc.problems
    try:
        mail = mail or store.mail_config()
    except ValueError as exc:
        return [f"the mail config is invalid: {exc}"]
    return _check_render(compiled, mail, policy or LinkPolicy.current(mail), store)


def _check_render(compiled: CompiledTemplate, mail: MailConfig | None, policy: Any, store: AnyTemplateStore) \
        -> list[str]:
    from reawake.core.settings import Locale, get_settings
    from reawake.mail.config import PLACEHOLDER_MAIL
    from reawake.mail.context import SAMPLE_LEAD, build_context
    from reawake.mail.links import LinkReport, rewrite_html, rewrite_text
    from reawake.mail.render import render_parts

    mail = mail or PLACEHOLDER_MAIL
    source = compiled.source
    context = build_context(SAMPLE_LEAD, store.owners(), mail.sender, "check", source.name,
                            int(time.time() * 1000), get_settings(Locale).time_zone)
    try:
        parts = render_parts(compiled, context, mail)
    except SecurityError as exc:
        return [f"{source.html_file}: refused by the sandbox: {exc}"]
    except (UndefinedError, TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        line = _runtime_line(exc)
        return [f"{source.html_file}{f' (line {line} of a part)' if line else ''}: rendering with a sample lead "
                f"failed: {type(exc).__name__}: {exc}"]
    problems: list[str] = []
    for file, text, rewrite in ((source.html_file, parts.html, rewrite_html),
                                (source.text_file, parts.text, rewrite_text)):
        report = LinkReport()
        rewrite(text, policy, None, report)
        for url, why in report.refused:
            problems.append(f"{file}: link {url!r}: {why}")
    if len(parts.html.encode("utf-8")) > GMAIL_CLIP_BYTES - 4096:  # the footer and pixel come on top
        problems.append(f"{source.html_file}: the HTML is {len(parts.html.encode()) // 1024} KB: Gmail clips "
                        "mail over 102 KB (the footer with the opt-out link would be hidden)")
    if not parts.text.strip():
        problems.append(f"{source.text_file}: the text part is empty")
    return list(dict.fromkeys(problems))


# --- upload -----------------------------------------------------------------------------------------


def check_all(store: DirectoryTemplateStore, policy: Any = None) -> dict[str, list[str]]:
    """Problems per template of a folder, plus the mail config and owners files ("" key)."""
    problems: dict[str, list[str]] = {}
    mail: MailConfig | None = None
    config_problems: list[str] = []
    for key, what in ((MAIL_KEY, "mail"), (OWNERS_KEY, "owners")):
        try:
            if what == "mail":
                mail = store.mail_config()
                if mail is None:
                    config_problems.append(f"{store.describe(key)}: missing (the sender identity every mail needs)")
            else:
                store.owners()
        except ValueError as exc:
            config_problems.append(str(exc))
    if config_problems:
        problems[""] = config_problems
    names = store.list_names()
    if not names:
        problems.setdefault("", []).append(f"{store.templates_dir}: no templates (NAME.html.j2 + NAME.txt.j2)")
    for name in names:
        found = check_template(name, store, mail, policy)
        if found:
            problems[name] = found
    return problems


def upload_templates(client: Any, bucket: str, store: DirectoryTemplateStore, policy: Any = None) -> list[str]:
    """Check every template and the mail config of the folders, then upload them to the config
    bucket; nothing is uploaded when one has a problem (TemplateProblem lists them all)."""
    problems = check_all(store, policy)
    if problems:
        raise TemplateProblem([p for found in problems.values() for p in found])
    keys = [f"{TEMPLATES_PREFIX}{n}{suffix}" for n in store.list_names() for suffix in (HTML_SUFFIX, TEXT_SUFFIX)]
    keys += [k for k in (MAIL_KEY, OWNERS_KEY) if store.path(k).exists()]
    for key in keys:
        kind = "text/yaml" if key.endswith(".yaml") else "text/plain"
        client.put_object(Bucket=bucket, Key=key, Body=store.path(key).read_bytes(),
                          ContentType=f"{kind}; charset=utf-8")
    return keys
