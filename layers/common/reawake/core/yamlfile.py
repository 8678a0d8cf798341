"""YAML config files validated by pydantic, with errors that name the file, line, path and problem.

``config/segments.yaml:12:9: segments[0].rule.all[1].not.within: '3mon' is not a duration ...``
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
Mark = tuple[int, int]  # line, column (1-based)
TAG_PREFIX = "#"  # union tags in pydantic error locations (stripped from the paths shown)
#: The ids config files give (segments, sequences): safe as they are in a key, a tag and a URL.
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


@dataclass(frozen=True)
class Issue:
    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(ValueError):
    """One or more problems in config files; ``str()`` lists one per line."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass
class YamlDoc:
    file: str
    data: Any
    marks: dict[Loc, Mark] = field(default_factory=dict)

    def issue(self, loc: Loc, message: str) -> Issue:
        """An issue at ``loc``, placed at the closest enclosing YAML node."""
        for end in range(len(loc), -1, -1):
            mark = self.marks.get(loc[:end])
            if mark:
                return Issue(self.file, mark[0], mark[1], path_text(loc), message)
        return Issue(self.file, None, None, path_text(loc), message)


def path_text(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _walk(node: yaml.Node, loc: Loc, marks: dict[Loc, Mark], issues: list[tuple[Loc, Mark, str]]) -> None:
    marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in seen:
                where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                issues.append(((*loc, key), where, f"duplicate key {key!r} (a later value would silently win)"))
            seen.add(key)
            marks.setdefault((*loc, key), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _walk(value_node, (*loc, key), marks, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), marks, issues)


def load_yaml(text: str, file: str) -> YamlDoc:
    """Parse YAML text, remembering where each value is; syntax errors and duplicate keys raise."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError([Issue(file, line, column, "", message)]) from None
    except ValueError as exc:  # PyYAML building a date-like value that is no date (2026-13-01)
        line, column, value = _bad_timestamp(text)
        where = f"{value!r} " if value else ""
        message = f"{where}looks like a date but is not one ({exc}); write a real date as YYYY-MM-DD"
        raise ConfigError([Issue(file, line, column, "", message)]) from None
    doc = YamlDoc(file, data)
    if root is not None:
        dupes: list[tuple[Loc, Mark, str]] = []
        _walk(root, (), doc.marks, dupes)
        if dupes:
            raise ConfigError([Issue(file, line, col, path_text(loc), msg) for loc, (line, col), msg in dupes])
    return doc


def _bad_timestamp(text: str) -> tuple[int | None, int | None, str]:
    stack = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":timestamp"):
            try:
                (datetime if len(node.value) > 10 else date).fromisoformat(node.value)
            except ValueError:
                return node.start_mark.line + 1, node.start_mark.column + 1, node.value
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None, None, ""


def _message(error: dict[str, Any], loc: Loc, known_keys: Iterable[str]) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    last = loc[-1] if loc else ""
    if kind == "missing":
        return f"{last!r} is required" if last else "a value is required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(last), list(known_keys), n=1)
        return f"unknown key {last!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind.endswith("_type") or kind in ("literal_error", "enum", "greater_than_equal", "less_than_equal"):
        message += f" (got {error.get('input')!r})"
    return message


def validate(model: type[M], doc: YamlDoc, known_keys: Iterable[str] = ()) -> M:
    """``model`` from the document's data, or a ConfigError listing every problem."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        grouped: dict[Loc, list[str]] = {}
        for error in exc.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if not _is_union_member(p))
            message = _message(dict(error), loc, known_keys)
            if message not in grouped.setdefault(loc, []):
                grouped[loc].append(message)
        # A value that fits no member of a union gets one line: "…integer; or …string".
        raise ConfigError([doc.issue(loc, _one_message(messages)) for loc, messages in grouped.items()]) from None


_VALID = re.compile(r"^Input should be a valid (\w+) \(got (.*)\)$")


def _one_message(messages: list[str]) -> str:
    """``Input should be a valid string (got [1])`` × 4 -> ``… a valid string, integer or boolean (got [1])``."""
    matches = [_VALID.match(m) for m in messages]
    if len(messages) > 1 and all(matches):
        kinds = [m.group(1) for m in matches if m]
        got = matches[0].group(2) if matches[0] else ""
        return f"Input should be a valid {', '.join(kinds[:-1])} or {kinds[-1]} (got {got})"
    return "; or ".join(messages)


_UNION_MEMBERS = {"str", "int", "float", "bool", "list[str]", "constrained-str"}


def _is_union_member(part: str | int) -> bool:
    """Location parts that pydantic adds for tagged unions (ours start with TAG_PREFIX) and for
    the members of plain unions (``gt: many`` is tried as int and as float)."""
    return isinstance(part, str) and (
        part.startswith(TAG_PREFIX) or part in _UNION_MEMBERS or part.startswith(("list[", "function-"))
    )
