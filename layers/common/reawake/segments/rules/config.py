"""Loading segment definitions from YAML files: every problem reported with file, line and path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reawake.core.scoring import ScoringConfig
from reawake.core.yamlfile import ConfigError, Issue, YamlDoc, load_yaml, validate
from reawake.segments.rules.model import (
    KNOWN_KEYS,
    AttrCondition,
    BandCondition,
    SegmentDefinition,
    SegmentFile,
    walk,
)


def _score_issues(doc: YamlDoc, parsed: SegmentFile, scoring: ScoringConfig | None, scoring_file: str) -> list[Issue]:
    issues = []
    for index, definition in enumerate(parsed.segments):
        for condition, loc in walk(definition.rule, ("segments", index, "rule")):
            if isinstance(condition, BandCondition):
                if scoring is None:
                    issues.append(doc.issue((*loc, "band"), "band conditions need the scoring config (scoring.yaml)"))
                    continue
                for name in condition.bands:
                    if name not in scoring.band_names:
                        issues.append(
                            doc.issue(
                                (*loc, "band"),
                                f"unknown band {name!r}; bands in {scoring_file}: {', '.join(scoring.band_names)}",
                            )
                        )
            elif isinstance(condition, AttrCondition) and condition.attr == "score" and scoring is None:
                issues.append(doc.issue((*loc, "attr"), "score conditions need the scoring config (scoring.yaml)"))
    return issues


def parse_segments(
    text: str, file: str, scoring: ScoringConfig | None = None, scoring_file: str = "scoring.yaml"
) -> tuple[YamlDoc, list[SegmentDefinition]]:
    doc = load_yaml(text, file)
    if doc.data is None:
        raise ConfigError([doc.issue((), "the file is empty; expected segments: with a list of definitions")])
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with segments: (a list of definitions) at the top")])
    parsed = validate(SegmentFile, doc, KNOWN_KEYS)
    issues = _score_issues(doc, parsed, scoring, scoring_file)
    seen: dict[str, int] = {}
    for index, definition in enumerate(parsed.segments):
        if definition.id in seen:
            first = doc.issue(("segments", seen[definition.id], "id"), "")
            issues.append(
                doc.issue(
                    ("segments", index, "id"),
                    f"duplicate segment id {definition.id!r} (first at line {first.line})",
                )
            )
        seen.setdefault(definition.id, index)
    if issues:
        raise ConfigError(issues)
    return doc, list(parsed.segments)


def load_segments(
    text: str, file: str = "segments.yaml", scoring: ScoringConfig | None = None, scoring_file: str = "scoring.yaml"
) -> list[SegmentDefinition]:
    """The definitions in one YAML text, or a ConfigError listing every problem."""
    return parse_segments(text, file, scoring, scoring_file)[1]


def load_segment_files(
    paths: Sequence[str | Path], scoring: ScoringConfig | None = None, scoring_file: str = "scoring.yaml"
) -> list[SegmentDefinition]:
    """The definitions of several files (ids unique across them); problems of all files at once."""
    issues: list[Issue] = []
    definitions: list[SegmentDefinition] = []
    first_seen: dict[str, Issue] = {}
    for path in paths:
        file = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(file, None, None, "", f"cannot read the file: {exc}"))
            continue
        try:
            doc, found = parse_segments(text, file, scoring, scoring_file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        for index, definition in enumerate(found):
            here = doc.issue(("segments", index, "id"), "")
            first = first_seen.get(definition.id)
            if first is not None:
                issues.append(
                    doc.issue(
                        ("segments", index, "id"),
                        f"duplicate segment id {definition.id!r} (first in {first.file}:{first.line})",
                    )
                )
            else:
                first_seen[definition.id] = here
                definitions.append(definition)
    if issues:
        raise ConfigError(issues)
    return definitions
