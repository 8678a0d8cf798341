"""`reawake sequences validate [FILE...]`: check step-mail sequences before they are used.

Checks every sequence file (syntax, keys, delays, conditions, exits, send window), the step-mail
settings (config/stepmail.yaml), the score bands named in conditions (config/scoring.yaml), that
every segment that names a sequence finds it (config/segments.yaml; only when the whole folder is
checked), and every template a step uses: with the mail package, the full template check
(front matter, syntax, sandbox, every variable defined, links); without it, that both files exist.
Reads files only: no stack needed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reawake_tools.commands import Stop, connect, guarded
from reawake_tools.commands.local import cli_command

if TYPE_CHECKING:
    from reawake.core.scoring import ScoringConfig
    from reawake.core.yamlfile import Issue, YamlDoc
    from reawake.stepmail.sequences.model import Sequence

DEFAULT_SEQUENCES = Path("config/sequences")
DEFAULT_SETTINGS = Path("config/stepmail.yaml")
DEFAULT_SCORING = Path("config/scoring.yaml")
DEFAULT_SEGMENTS = Path("config/segments.yaml")
DEFAULT_TEMPLATES = Path("templates")

EPILOG = """\
ステップメールのシーケンス (config/sequences/*.yaml) を検証します。エラーはファイル:行:列、YAML 内の
パス、内容の順に表示します。テンプレートは、使っている変数がすべて定義済みかまで確認します
(未定義の変数は送信時ではなく、ここでエラーになります)。
exit status: 0 = valid, 1 = problems found (listed on stderr)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sequences",
        help="step-mail sequences: validate, upload, start, status",
        description="ステップメールのシーケンスの検証.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="check sequence YAML files, their templates and variables, bands, settings and segment references",
        description="シーケンスの YAML・テンプレート (変数まで)・スコア帯・共通設定・セグメントからの参照を検証します.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("files", nargs="*", type=Path, metavar="FILE",
                          help=f"sequence files or folders (default: {DEFAULT_SEQUENCES}/)")
    validate.add_argument("--settings", type=Path, metavar="FILE",
                          help=f"step-mail settings (default: {DEFAULT_SETTINGS}; built-in defaults when missing)")
    validate.add_argument("--scoring", type=Path, metavar="FILE",
                          help=f"the scoring config that defines the bands (default: {DEFAULT_SCORING} when it exists)")
    validate.add_argument("--segments", type=Path, metavar="FILE",
                          help=f"check that the sequences the segments name exist (default: {DEFAULT_SEGMENTS} "
                               "when no FILE is given)")
    validate.add_argument("--templates", type=Path, default=DEFAULT_TEMPLATES, metavar="DIR",
                          help=f"the templates folder (default: {DEFAULT_TEMPLATES})")
    validate.set_defaults(func=run_validate)
    register_engine(actions)


def _config(loader: Any, path: Path) -> Any:
    from reawake.core.yamlfile import ConfigError

    try:
        return loader(path)
    except ConfigError as exc:
        raise Stop(*exc.issues) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Stop(f"{path}: cannot read the file: {exc}") from None


def _template_checker(templates_dir: Path) -> tuple[Any, str | None]:
    """check(name) -> problems, and a note when variables cannot be checked."""
    try:
        templates = importlib.import_module("reawake.mail.templates")
    except ImportError:
        templates = None
    if templates is not None and hasattr(templates, "check_template"):
        store = templates.DirectoryTemplateStore(templates_dir)

        def full(name: str) -> list[str]:
            problems: list[str] = templates.check_template(name, store)
            return problems

        return full, None

    def exists(name: str) -> list[str]:
        missing = [str(p) for p in (templates_dir / f"{name}.html.j2", templates_dir / f"{name}.txt.j2")
                   if not p.is_file()]
        return [f"{m}: missing" for m in missing]

    return exists, "template variables were not checked (the mail package is not installed): only that files exist"


def _template_issues(docs: list[tuple[YamlDoc, Sequence]], templates_dir: Path) -> tuple[list[Issue], str | None]:
    check, note = _template_checker(templates_dir)
    results: dict[str, list[str]] = {}
    issues: list[Issue] = []
    for doc, sequence in docs:
        for index, step in enumerate(sequence.steps):
            if step.template is None:
                continue
            if step.template not in results:
                results[step.template] = check(step.template)
            for problem in results[step.template]:
                issues.append(doc.issue(("steps", index, "template"), f"template {step.template!r}: {problem}"))
    return issues, note


def segment_issues(path: Path, sequences: dict[str, Sequence], scoring: ScoringConfig | None) -> list[Any]:
    from reawake.core.yamlfile import ConfigError
    from reawake.segments.rules.config import parse_segments

    try:
        doc, definitions = parse_segments(path.read_text(encoding="utf-8-sig"), str(path), scoring)
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read the file: {exc}"]
    except ConfigError:
        return [f"{path}: the segment definitions are invalid; see `{cli_command()} segments validate`"]
    issues: list[Any] = []
    known = ", ".join(sorted(sequences)) or "none"
    for index, definition in enumerate(definitions):
        name = getattr(definition.approach, "sequence", None)
        if name is not None and name not in sequences:
            issues.append(doc.issue(("segments", index, "approach", "sequence"),
                                    f"no sequence {name!r} (sequences: {known})"))
        elif (definition.approach.type == "owner_task" and name is not None
              and not any(step.kind == "owner_task" for step in sequences[name].steps)):
            issues.append(doc.issue(("segments", index, "approach", "sequence"),
                                    f"an owner_task approach, but the sequence {name!r} has no `kind: owner_task` "
                                    "step: nobody would be put on an owner's call list"))
    return issues


def _schedule(sequence: Sequence) -> list[str]:
    from zoneinfo import ZoneInfo

    from reawake.core.durations import DAY_MS
    from reawake.stepmail.sequences.config import REFERENCE_START
    from reawake.stepmail.sequences.decide import nominal_schedule

    lines = []
    for step, due in zip(sequence.steps, nominal_schedule(sequence, REFERENCE_START, ZoneInfo("Asia/Tokyo")),
                         strict=True):
        days = (due - REFERENCE_START) / DAY_MS
        when = f"day {days:g}"
        conditions = []
        if step.when is not None and step.when.previous:
            conditions.append(f"previous {step.when.previous}")
        if step.when is not None and step.when.band:
            conditions.append(f"band {'/'.join(step.when.band)}")
        suffix = f"  (only if {', '.join(conditions)})" if conditions else ""
        lines.append(f"      {when:<8} {step.label}{suffix}")
    return lines


def run_validate(args: argparse.Namespace) -> int:
    from reawake.core.scoring import load_scoring_file
    from reawake.core.yamlfile import ConfigError
    from reawake.stepmail.sequences.config import load_sequence_docs, load_stepmail_settings
    from reawake.stepmail.sequences.model import StepmailSettings

    paths: list[Path] = args.files or [DEFAULT_SEQUENCES]
    settings_path: Path | None = args.settings or (DEFAULT_SETTINGS if DEFAULT_SETTINGS.exists() else None)
    scoring_path: Path | None = args.scoring or (DEFAULT_SCORING if DEFAULT_SCORING.exists() else None)
    segments_path: Path | None = args.segments or (
        DEFAULT_SEGMENTS if not args.files and DEFAULT_SEGMENTS.exists() else None)
    problems: list[Any] = []
    try:
        settings = _config(load_stepmail_settings, settings_path) if settings_path else StepmailSettings()
        scoring = _config(load_scoring_file, scoring_path) if scoring_path else None
    except Stop as exc:
        return _report(exc.issues)
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or folder")
    try:
        docs = load_sequence_docs([p for p in paths if p.exists()], settings, scoring, str(scoring_path))
    except ConfigError as exc:
        return _report(problems + list(exc.issues))
    sequences = {sequence.id: sequence for _, sequence in docs}
    if not docs and not problems:
        problems.append(f"{', '.join(map(str, paths))}: no sequence files (*.yaml)")
    if scoring is None:
        for doc, sequence in docs:
            for index, step in enumerate(sequence.steps):
                if step.when is not None and step.when.band is not None:
                    problems.append(doc.issue(("steps", index, "when", "band"),
                                              "band conditions need the scoring config (config/scoring.yaml)"))
    template_issues, note = _template_issues(docs, args.templates)
    problems += template_issues
    if segments_path is not None:
        problems += segment_issues(segments_path, sequences, scoring)
    if problems:
        return _report(problems)
    for _, sequence in docs:
        print(f"  {sequence.id}  {sequence.name}")
        print("\n".join(_schedule(sequence)))
    window = settings.send_window.describe()
    cap = settings.frequency_cap
    cap_text = f"at most {cap.max} mails per {cap.per} per lead" if cap else "no frequency cap"
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
    count = len(sequences)
    checked = "templates and their variables checked" if note is None else "template files found"
    print(f"{', '.join(map(str, paths))}: {count} sequence{'s' if count != 1 else ''} OK ({checked}; "
          f"send window {window} ({settings.time_zone}); {cap_text})")
    return 0


def _report(problems: list[Any]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
    return 1


# --- upload and start (the step-mail engine) --------------------------------------------------------

STACK_HELP = "a deployed stack's name (default: the running local stack)"


def register_engine(actions: Any) -> None:
    upload = actions.add_parser(
        "upload",
        help="validate the sequences and config/stepmail.yaml, then upload them to the config bucket",
        description=("シーケンス (config/sequences/*.yaml) と config/stepmail.yaml を検証し、問題がなければ"
                     "設定バケットにアップロードします (フォルダにないシーケンスはバケットからも消えます)。"),
        epilog="exit status: 0 = uploaded, 1 = problems found (nothing uploaded), 2 = no stack.",
    )
    upload.add_argument("--dir", type=Path, default=DEFAULT_SEQUENCES, metavar="DIR",
                        help=f"the sequences folder (default: {DEFAULT_SEQUENCES})")
    upload.add_argument("--settings", type=Path, default=DEFAULT_SETTINGS, metavar="FILE",
                        help=f"step-mail settings (default: {DEFAULT_SETTINGS})")
    upload.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    upload.set_defaults(func=run_upload)

    start = actions.add_parser(
        "start",
        help="enroll every current member of a segment in a sequence (idempotent)",
        description=("セグメントの現在のメンバー全員をシーケンスに登録し、ステップメールを開始します。"
                     "同じメンバーシップで再実行しても二重には登録されません "
                     "(配信停止・バウンスのリードは登録しません)。"),
        epilog="exit status: 0 = done (skipped leads are listed with the reason), 2 = unknown sequence or no stack.",
    )
    start.add_argument("sequence", metavar="NAME", help="the sequence's id (its file name in config/sequences/)")
    start.add_argument("--segment", required=True, metavar="ID", help="the segment whose members to enroll")
    start.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    start.set_defaults(func=run_start)

    status = actions.add_parser(
        "status",
        help="who is on which step and when the next mail is due",
        description="ステップメールの配信状況: 誰がどのステップにいて、次のメールがいつ送られるか。",
        epilog="exit status: 0 = shown, 2 = unknown lead or sequence, or no stack.",
    )
    which = status.add_mutually_exclusive_group()
    which.add_argument("--lead", metavar="EMAIL", help="one lead's enrollments")
    which.add_argument("--sequence", metavar="NAME", help="the active enrollments of one sequence")
    status.add_argument("--limit", type=int, default=50, metavar="N", help="rows listed with --sequence (default 50)")
    status.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    status.set_defaults(func=run_status)

    migrate = actions.add_parser(
        "migrate",
        help="hand enrollments of the per-enrollment state machine (before send slots) to the send slots",
        description=("旧方式 (登録ごとの実行) で配信中だった登録に次回時刻を付け、送信枠に引き継ぎます。"
                     "何度実行しても同じです。"),
    )
    migrate.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    migrate.set_defaults(func=run_migrate)


@guarded
def run_upload(args: argparse.Namespace) -> int:
    from reawake.core.aws import client
    from reawake.core.settings import get_settings
    from reawake.core.yamlfile import ConfigError
    from reawake.stepmail.store import upload_sequences

    connect(args.stack)
    bucket = get_settings().config_bucket
    scoring = DEFAULT_SCORING if DEFAULT_SCORING.exists() else None
    try:
        keys = upload_sequences(client("s3"), bucket, args.dir, args.settings, scoring)
    except ConfigError as exc:
        _report(list(exc.issues))
        print("nothing uploaded / 問題があるためアップロードしませんでした", file=sys.stderr)
        return 1
    for key in keys:
        print(f"  s3://{bucket}/{key}")
    print(f"{len(keys)} files uploaded / アップロードしました")
    return 0


@guarded
def run_start(args: argparse.Namespace) -> int:
    """Enroll the segment's members. Each lead is enrolled from the moment it entered the segment,
    so running it again (or after the segment run dispatched it) enrolls no one twice; a pending
    approach record of that entry is marked with the outcome."""
    from collections import Counter

    from reawake.core import clock
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake.stepmail.enrollment import ENROLLED
    from reawake.stepmail.entry import SequenceEnroller
    from reawake.stepmail.store import SequenceConfig, StepmailStore

    connect(args.stack)
    settings = get_settings()
    config = SequenceConfig(settings.config_bucket)
    sequences = config.sequences()
    if args.sequence not in sequences:
        known = ", ".join(sorted(sequences)) or "none uploaded (reawake sequences upload)"
        raise Stop(f"no sequence {args.sequence!r} in the config bucket (sequences: {known})")
    table = Store(settings.table_name)
    stepmail = StepmailStore(table)
    enroller = SequenceEnroller(stepmail, config)
    now = clock.now_ms()
    counts: Counter[str] = Counter()
    members = 0
    for lead in table.scan_leads():
        entered = lead.segments.get(args.segment)
        if entered is None:
            continue
        members += 1
        status, reason = enroller.enroll(lead, args.sequence, args.segment, entered, now)
        stepmail.set_approach_status(lead.lead_id, f"{args.segment}#{entered}", status, reason, now)
        label = status if status != ENROLLED or not reason else f"enrolled ({reason})"
        counts[label if status == ENROLLED else f"skipped: {reason}"] += 1
    print(f"{args.sequence} ← segment {args.segment}: {members} member(s) / メンバー")
    for what, count in sorted(counts.items()):
        print(f"  {what}  {count}")
    if not members:
        print(f"  no members: run `{cli_command()} segments run` first / メンバーがいません")
    return 0


# --- status and migration ------------------------------------------------------------------------------


def _when(ms: int | None, tz: Any) -> str:
    from datetime import UTC, datetime

    if ms is None:
        return "-"
    local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {'JST' if tz.key == 'Asia/Tokyo' else tz.key}"


def _step(sequences: dict[str, Sequence], sequence_id: str, index: int) -> str:
    sequence = sequences.get(sequence_id)
    if sequence is None:
        return f"step {index + 1}"
    if index >= len(sequence.steps):
        return f"end ({len(sequence.steps)} steps)"
    step = sequence.steps[index]
    return f"step {index + 1}/{len(sequence.steps)} {step.name or step.label}"


@guarded
def run_status(args: argparse.Namespace) -> int:
    """Who is on which step and when the next mail is due: one lead's enrollments (--lead), the
    active enrollments of one sequence (--sequence), or a summary of every sequence."""
    from collections import Counter

    from reawake.core.normalize import normalize_email
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake.stepmail.store import SequenceConfig, StepmailStore

    connect(args.stack)
    settings = get_settings()
    tz = settings.time_zone
    sequences = SequenceConfig(settings.config_bucket).sequences()
    table = Store(settings.table_name)
    stepmail = StepmailStore(table)
    if args.lead:
        try:
            lead = table.lead_by_email(normalize_email(args.lead))
        except ValueError:
            raise Stop(f"--lead: {args.lead!r} is not an email address") from None
        if lead is None:
            raise Stop(f"no lead {args.lead!r} / リードが見つかりません")
        enrollments = stepmail.enrollments(lead.lead_id)
        print(f"{lead.email}: {len(enrollments)} enrollment(s) / 登録")
        for e in enrollments:
            detail = f"next / 次回 {_when(e.due_at, tz)}" if e.status == "active" else (e.reason or e.error or "")
            print(f"  {e.sequence:<20} {e.status:<7} {_step(sequences, e.sequence, e.next_step):<40} {detail}")
        return 0
    if args.sequence:
        if args.limit < 0:
            raise Stop(f"--limit: {args.limit} is negative; give the number of rows to list (0 or more)")
        if args.sequence not in sequences:
            known = ", ".join(sorted(sequences)) or "none"
            raise Stop(f"no sequence {args.sequence!r} (sequences: {known})")
        # One pass over the sequence's own index entries, oldest first, page by page: the counts
        # by step and the first --limit rows are all that is kept.
        by_step: Counter[int] = Counter()
        first: list[Any] = []
        for d in stepmail.due_in_sequence(args.sequence):
            by_step[d.next_step] += 1
            if len(first) < args.limit:
                first.append(d)
        total = sum(by_step.values())
        print(f"{args.sequence}: {total} active enrollment(s) / 配信中")
        for step, count in sorted(by_step.items()):
            print(f"  {_step(sequences, args.sequence, step):<40} {count}")
        leads = table.get_leads([d.lead_id for d in first])
        for d in first:
            lead = leads.get(d.lead_id) or table.get_lead(d.lead_id)
            who = lead.email if lead is not None else d.lead_id
            print(f"  {who:<40} {_step(sequences, d.sequence, d.next_step):<40} next / 次回 {_when(d.due_at, tz)}")
        if total > len(first):
            print(f"  … {total - len(first)} more (--limit N)")
        return 0
    counts = stepmail.due_counts()
    print(f"{sum(n for n, _ in counts.values())} active enrollment(s) / 配信中のステップメール")
    for sequence_id in sorted(set(sequences) | set(counts)):
        n, earliest = counts.get(sequence_id, (0, None))
        print(f"  {sequence_id:<20} {n:>7}  next due / 次回 {_when(earliest, tz)}")
    return 0


@guarded
def run_migrate(args: argparse.Namespace) -> int:
    """Enrollments written by the per-enrollment state machine (before send slots) have no due
    time: give each active one ``due_at = now`` so the next send slot re-decides it. Active
    enrollments written before the ``sequence_due`` index are rewritten as they are, which puts
    them in it (`sequences status --sequence` reads it)."""
    from dataclasses import replace

    from reawake.core import clock
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake.stepmail.store import StepmailStore

    connect(args.stack)
    stepmail = StepmailStore(Store(get_settings().table_name))
    now = clock.now_ms()
    moved = indexed = 0
    for enrollment, in_sequence_index in stepmail.scan_enrollments():
        if enrollment.status != "active":
            continue
        if enrollment.due_at is None:
            moved += stepmail.save_progress(replace(enrollment, due_at=now, updated_at=now), enrollment.next_step)
        elif not in_sequence_index:
            indexed += stepmail.save_progress(enrollment, enrollment.next_step)
    print(f"{moved} in-flight enrollment(s) handed to the send slots / 送信枠に引き継ぎました")
    if indexed:
        print(f"{indexed} active enrollment(s) added to the per-sequence index / シーケンス別索引に追加しました")
    return 0
