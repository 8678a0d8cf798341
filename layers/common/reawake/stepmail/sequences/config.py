"""Loading sequences (``config/sequences/*.yaml``) and the step-mail settings
(``config/stepmail.yaml``): every problem reported with file, line, YAML path and what is wrong,
in the style of the segment files (``reawake.core.yamlfile``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reawake.core.durations import to_epoch_ms
from reawake.core.scoring import ScoringConfig
from reawake.core.yamlfile import ConfigError, Issue, YamlDoc, load_yaml, validate
from reawake.stepmail.sequences.decide import nominal_schedule
from reawake.stepmail.sequences.model import SEQUENCE_KEYS, SETTINGS_KEYS, Sequence, StepmailSettings

SEQUENCE_SUFFIXES = (".yaml", ".yml")
#: The nominal schedule is laid out from a fixed Monday, so month-long delays check the same way
#: every day of the year.
REFERENCE_START = to_epoch_ms(datetime(2026, 1, 5, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo")))


def _semantic_issues(
    doc: YamlDoc,
    sequence: Sequence,
    settings: StepmailSettings | None,
    scoring: ScoringConfig | None,
    scoring_file: str,
) -> list[Issue]:
    issues: list[Issue] = []
    mail_before = False
    for index, step in enumerate(sequence.steps):
        loc = ("steps", index)
        when = step.when
        if when is not None and when.previous is not None:
            if not mail_before:
                issues.append(
                    doc.issue(
                        (*loc, "when", "previous"),
                        "no mail is sent before this step: there is no previous mail to have been opened or clicked",
                    )
                )
            elif when.previous == "clicked" and sequence.exit.revisit:
                issues.append(
                    doc.issue(
                        (*loc, "when", "previous"),
                        "'clicked' can never hold while exit.revisit is "
                        "on: a click lands on the site and that visit ends the sequence first "
                        "(set exit.revisit: false, or use opened)",
                    )
                )
        if when is not None and when.band is not None and scoring is not None:
            for name in when.band:
                if name not in scoring.band_names:
                    issues.append(
                        doc.issue(
                            (*loc, "when", "band"),
                            f"unknown band {name!r}; bands in {scoring_file}: {', '.join(scoring.band_names)}",
                        )
                    )
        mail_before = mail_before or step.kind == "email"
    if settings is not None and sequence.send_window is not None:
        try:
            sequence.window(settings)
        except ValueError as exc:
            issues.append(doc.issue(("send_window",), f"with the defaults of stepmail.yaml: {exc}"))
    dues = nominal_schedule(sequence, REFERENCE_START, ZoneInfo("Asia/Tokyo"))
    for index in range(1, len(dues)):
        if dues[index] < dues[index - 1]:
            issues.append(
                doc.issue(
                    ("steps", index, "delay"),
                    f"this step would be due before step {index} "
                    "(the one above it); steps run in order: lengthen the delay",
                )
            )
    return issues


def parse_sequence(
    text: str,
    file: str,
    sequence_id: str | None = None,
    settings: StepmailSettings | None = None,
    scoring: ScoringConfig | None = None,
    scoring_file: str = "scoring.yaml",
) -> Sequence:
    """One sequence file (see ``parse_sequence_doc``)."""
    return parse_sequence_doc(text, file, sequence_id, settings, scoring, scoring_file)[1]


def parse_sequence_doc(
    text: str,
    file: str,
    sequence_id: str | None = None,
    settings: StepmailSettings | None = None,
    scoring: ScoringConfig | None = None,
    scoring_file: str = "scoring.yaml",
) -> tuple[YamlDoc, Sequence]:
    """One sequence file, with its YAML document (to place later findings at a line).

    ``sequence_id`` is the file name without its suffix: the id, which an ``id:`` key in the
    file must repeat if it is written. Bands are checked when ``scoring`` is given, the window
    override against ``settings`` when given."""
    doc = load_yaml(text, file)
    if doc.data is None:
        raise ConfigError([doc.issue((), "the file is empty; expected name: and steps:")])
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with name: and steps: at the top")])
    if sequence_id is not None:
        written = doc.data.get("id")
        if written is None:
            doc.data = {**doc.data, "id": sequence_id}
        elif written != sequence_id:
            raise ConfigError(
                [doc.issue(("id",), f"the id must be the file's name, {sequence_id!r} (or leave id: out)")]
            )
    parsed = validate(Sequence, doc, SEQUENCE_KEYS)
    issues = _semantic_issues(doc, parsed, settings, scoring, scoring_file)
    if issues:
        raise ConfigError(issues)
    return doc, parsed


def sequence_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, with each directory replaced by its ``*.yaml`` / ``*.yml`` files."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in SEQUENCE_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def load_sequences(
    paths: Iterable[str | Path],
    settings: StepmailSettings | None = None,
    scoring: ScoringConfig | None = None,
    scoring_file: str = "scoring.yaml",
) -> dict[str, Sequence]:
    """Every sequence in these files (directories: their YAML files), by id; a ConfigError
    listing the problems of all files at once."""
    return {sequence.id: sequence for _, sequence in load_sequence_docs(paths, settings, scoring, scoring_file)}


def load_sequence_docs(
    paths: Iterable[str | Path],
    settings: StepmailSettings | None = None,
    scoring: ScoringConfig | None = None,
    scoring_file: str = "scoring.yaml",
) -> list[tuple[YamlDoc, Sequence]]:
    """``load_sequences`` with each sequence's YAML document, in file order."""
    issues: list[Issue] = []
    found: dict[str, tuple[YamlDoc, Sequence]] = {}
    where: dict[str, str] = {}
    for path in sequence_files(paths):
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(file, None, None, "", f"cannot read the file: {exc}"))
            continue
        try:
            doc, sequence = parse_sequence_doc(text, file, path.stem, settings, scoring, scoring_file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if sequence.id in found:
            message = f"duplicate sequence id {sequence.id!r} (also {where[sequence.id]})"
            issues.append(Issue(file, None, None, "id", message))
            continue
        found[sequence.id] = (doc, sequence)
        where[sequence.id] = file
    if issues:
        raise ConfigError(issues)
    return list(found.values())


def parse_stepmail_settings(text: str, file: str = "stepmail.yaml") -> StepmailSettings:
    """The step-mail settings; an empty file means the defaults."""
    doc = load_yaml(text, file)
    if doc.data is None:
        return StepmailSettings()
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with time_zone, send_window and frequency_cap")])
    return validate(StepmailSettings, doc, SETTINGS_KEYS)


def load_stepmail_settings(path: str | Path) -> StepmailSettings:
    return parse_stepmail_settings(Path(path).read_text(encoding="utf-8-sig"), str(path))
