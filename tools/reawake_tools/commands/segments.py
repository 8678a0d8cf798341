"""`reawake segments validate|preview|explain|run`: check definitions, see who they select, why a
lead is in or out, and run them (the same state machine the daily schedule starts).

preview, explain and run talk to the running local stack by default (`reawake local`), or to a
deployed stack with --stack NAME. preview and explain never write.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reawake_tools.commands import NOW_HELP, STACK_HELP, Stop, connect, guarded, moment, state_machine_arn
from reawake_tools.commands.local import cli_command

if TYPE_CHECKING:
    from reawake.core.scoring import ScoringConfig
    from reawake.segments.rules.compile import Context
    from reawake.segments.rules.model import SegmentDefinition
    from reawake_tools.segment_preview import LoadedConfig

DEFAULT_SEGMENTS = Path("config/segments.yaml")
DEFAULT_SCORING = Path("config/scoring.yaml")
LOCAL_HELP = "use the local config/segments.yaml (your edits) instead of the uploaded definitions"

EPILOG = """\
休眠顧客の定義 (セグメント) を検証します。エラーはファイル:行:列、YAML 内のパス、内容の順に表示します。
Approaches that name a sequence are checked against config/sequences (--sequences DIR).
exit status: 0 = valid, 1 = problems found (listed on stderr), 2 = bad arguments."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "segments",
        help="segment definitions (who is dormant): validate, preview, explain, run",
        description="セグメント (休眠顧客の定義) の検証・プレビュー・判定理由・実行.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="check segment YAML files (syntax, rules, ids unique across files, bands)",
        description="セグメント定義の YAML を検証します (構文、ルール、ID の重複、スコア帯).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help=f"segment YAML files (default: {DEFAULT_SEGMENTS})"
    )
    validate.add_argument(
        "--scoring",
        type=Path,
        metavar="FILE",
        help=f"the scoring config that defines the bands (default: {DEFAULT_SCORING} when it exists)",
    )
    validate.add_argument(
        "--sequences",
        type=Path,
        metavar="DIR",
        help="the step-mail sequences the approaches name must exist here (default: the `sequences` folder "
             "beside each segment file, e.g. config/sequences)",
    )
    validate.set_defaults(func=run_validate)
    upload = actions.add_parser(
        "upload",
        help="validate config/segments.yaml and scoring.yaml, then put them in the config bucket (in use at once)",
        description=("セグメント定義とスコア設定を検証し、設定バケットにアップロードします。次のプレビュー・実行から"
                     "使われます (ローカル環境の再起動は不要です)。"),
        epilog="exit status: 0 = uploaded, 1 = problems found (nothing uploaded), 2 = bad arguments or no stack.",
    )
    upload.add_argument("--config", type=Path, default=Path("config"), metavar="DIR",
                        help="the folder with segments.yaml, scoring.yaml and sequences/ (default: config)")
    upload.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    upload.set_defaults(func=run_upload)
    register_views(actions)




def register_views(actions: Any) -> None:
    preview = actions.add_parser(
        "preview",
        help="how many leads a definition selects now, with a sample (read-only)",
        description="定義に該当するリードの件数とサンプルを表示します (書き込みはしません).",
        epilog="exit status: 0 = shown, 2 = unknown segment, bad --now, or no stack.",
    )
    preview.add_argument("segment_id", metavar="ID", help="the definition's id (see `reawake segments validate`)")
    preview.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP)
    preview.add_argument("--sample", type=int, default=10, metavar="N", help="leads to show (default 10, 0: none)")
    preview.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    preview.add_argument("--local", action="store_true", help=LOCAL_HELP)
    preview.set_defaults(func=run_preview)

    explain = actions.add_parser(
        "explain",
        help="why one lead is in or out of a definition: every condition, held or not, with its values",
        description="リードが定義に該当する/しない理由を、条件ごとに値とともに表示します (書き込みはしません).",
        epilog="exit status: 0 = shown (in or out), 2 = unknown segment or lead, bad --now, or no stack.",
    )
    explain.add_argument("segment_id", metavar="ID")
    explain.add_argument("--lead", required=True, metavar="EMAIL", help="the lead's email address")
    explain.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP)
    explain.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    explain.add_argument("--local", action="store_true", help=LOCAL_HELP)
    explain.set_defaults(func=run_explain)

    run = actions.add_parser(
        "run",
        help="run every definition now (the daily state machine), wait, and print the summary",
        description=("全定義を評価して、メンバーの出入りを記録し、アプローチを開始します (日次のスケジュールと同じ"
                     "ステートマシンを起動して終了を待ちます)。同じ時刻で再実行しても何も変わりません。"),
        epilog=("exit status: 0 = the run succeeded, 1 = it failed, 2 = bad arguments or no stack, 3 = still running "
                "when the wait ended (--timeout or Ctrl-C: the run goes on; follow it with --follow)."),
    )
    run.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP.replace("default: now", "default: now (AWS: the "
                                                                          "function's clock)"))
    run.add_argument("--shards", type=_shards, metavar="N", help="parallel-scan shards (default: the stack's "
                                                                "SegmentShards)")
    run.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                     help="stop waiting after this long (default 3600); the run itself goes on")
    run.add_argument("--follow", metavar="EXECUTION", help="wait for a run already started (its execution ARN or "
                                                           "name, as printed at its start) instead of starting one")
    run.add_argument("--stack", metavar="NAME", help=STACK_HELP)
    run.set_defaults(func=run_run)


def _shards(text: str) -> int:
    from reawake.segments.entry import MAX_SHARDS

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"--shards: a whole number from 1 to {MAX_SHARDS}, not {text!r}")
    return value


def run_validate(args: argparse.Namespace) -> int:
    from reawake.core.scoring import load_scoring_file
    from reawake.core.yamlfile import ConfigError
    from reawake.segments.rules.config import load_segment_files

    files: list[Path] = args.files or [DEFAULT_SEGMENTS]
    scoring_path: Path | None = args.scoring or (DEFAULT_SCORING if DEFAULT_SCORING.exists() else None)
    scoring: ScoringConfig | None = None
    try:
        if scoring_path is not None:
            if not scoring_path.exists():
                print(f"{scoring_path}: no such file", file=sys.stderr)
                return 1
            scoring = load_scoring_file(scoring_path)
        definitions = load_segment_files(files, scoring, str(scoring_path or DEFAULT_SCORING))
        issues = _sequence_issues(files, args.sequences, scoring)
    except ConfigError as exc:
        issues = list(exc.issues)
    if issues:
        for issue in issues:
            print(issue, file=sys.stderr)
        count = len(issues)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return 1
    for definition in definitions:
        approach = definition.approach
        target = getattr(approach, "sequence", None)
        how = f"{approach.type} {target}" if target else approach.type
        print(f"  {definition.id}  {definition.name}  → {how}")
    names = ", ".join(str(f) for f in files)
    suffix = f" (bands from {scoring_path})" if scoring_path else ""
    print(f"{names}: {len(definitions)} segment{'s' if len(definitions) != 1 else ''} OK{suffix}")
    return 0


def _sequence_issues(files: list[Path], sequences_dir: Path | None, scoring: ScoringConfig | None) -> list[Any]:
    """An approach that names a sequence which does not exist (or an owner task with no call step)
    would enroll no one: the same check as `reawake sequences validate`, from the segments' side."""
    from reawake.stepmail.sequences.config import load_sequence_docs
    from reawake_tools.commands.sequences import segment_issues

    issues: list[Any] = []
    for path in files:
        folder = sequences_dir or path.parent / "sequences"  # config/segments.yaml -> config/sequences
        found = load_sequence_docs([folder], None, scoring) if folder.is_dir() else []
        named = segment_issues(path, {sequence.id: sequence for _, sequence in found}, scoring)
        if named and not folder.is_dir():
            named.insert(0, f"{folder}: no such folder, so no sequence exists; the sequences are in "
                            f"config/sequences (--sequences DIR) / シーケンスのフォルダがありません")
        issues += named
    return issues


@guarded
def run_upload(args: argparse.Namespace) -> int:
    from reawake.core.aws import client
    from reawake.core.scoring import load_scoring_file
    from reawake.core.settings import get_settings
    from reawake.core.yamlfile import ConfigError
    from reawake.segments.definitions import upload_config

    folder: Path = args.config
    segments_file, scoring_file = folder / "segments.yaml", folder / "scoring.yaml"
    if not segments_file.exists():
        raise Stop(f"{segments_file}: no such file")
    try:
        scoring = load_scoring_file(scoring_file) if scoring_file.exists() else None
        issues = _sequence_issues([segments_file], folder / "sequences", scoring)
    except ConfigError as exc:
        issues = list(exc.issues)
    connect(args.stack)
    bucket = get_settings().config_bucket
    try:
        keys = [] if issues else upload_config(client("s3"), bucket, folder)
    except ConfigError as exc:
        issues = list(exc.issues)
    if issues:
        for issue in issues:
            print(issue, file=sys.stderr)
        print(f"{len(issues)} problem(s) found: nothing uploaded / 問題があるためアップロードしませんでした",
              file=sys.stderr)
        return 1
    for key in keys:
        print(f"  s3://{bucket}/{key}")
    print(f"{len(keys)} files uploaded: the next preview and run use them / アップロードしました")
    return 0


# --- preview / explain / run --------------------------------------------------------------------------


def config(local_dir: Path = Path("config"), local: bool = False) -> LoadedConfig:
    from reawake.core.settings import get_settings
    from reawake.core.yamlfile import ConfigError
    from reawake_tools.segment_preview import load_config

    try:
        loaded = load_config(get_settings().config_bucket, local_dir, local=local)
    except ConfigError as exc:
        raise Stop(f"the segment config is invalid:\n{exc}") from exc
    if loaded.note:
        print(f"note: {loaded.note}", file=sys.stderr)
    return loaded


def _definition_at(args: argparse.Namespace) -> tuple[LoadedConfig, SegmentDefinition, Context]:
    """Connect; the loaded config, the definition ``args.segment_id`` and the rule context at --now."""
    from reawake.core.settings import get_settings
    from reawake.segments.rules.compile import Context
    from reawake_tools.segment_preview import UnknownSegment, find_definition

    now_ms = moment(args, connect(args.stack))
    loaded = config(local=args.local)
    try:
        definition = find_definition(loaded.definitions, args.segment_id)
    except UnknownSegment as exc:
        raise Stop(str(exc)) from exc
    return loaded, definition, Context(now_ms, get_settings().time_zone, loaded.scoring)


@guarded
def run_preview(args: argparse.Namespace) -> int:
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.segment_preview import preview, render_preview

    loaded, definition, ctx = _definition_at(args)  # connects first: the settings are the stack's
    settings = get_settings()
    result = preview(Store(settings.table_name).scan_leads(), definition, ctx, args.sample)
    print(render_preview(result, settings.time_zone, loaded.source))
    return 0


@guarded
def run_explain(args: argparse.Namespace) -> int:
    from reawake.core.normalize import normalize_email
    from reawake.core.settings import get_settings
    from reawake.core.store import Store
    from reawake_tools.segment_preview import render_explain

    try:
        email = normalize_email(args.lead)
    except ValueError:
        raise Stop(f"--lead: {args.lead!r} is not an email address") from None
    _, definition, ctx = _definition_at(args)
    lead = Store(get_settings().table_name).lead_by_email(email)
    if lead is None:
        raise Stop(f"no lead with the address {args.lead} / このメールアドレスのリードはありません")
    print(render_explain(lead, definition, ctx))
    return 0


def execution_input(now_ms: int | None, shards: int | None, tz: Any) -> dict[str, Any]:
    """What the state machine's Plan step reads (segment_api.PlanIn)."""
    payload: dict[str, Any] = {}
    if now_ms is not None:
        payload["now"] = datetime.fromtimestamp(now_ms / 1000, tz).isoformat(timespec="milliseconds")
    if shards is not None:
        payload["shards"] = shards
    return payload


@guarded
def run_run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.config import Config

    from reawake.core.settings import get_settings
    from reawake_tools.commands.waiting import wait
    from reawake_tools.segment_preview import render_summary

    info = connect(args.stack)
    tz = get_settings().time_zone
    now_ms = moment(args, info) if (args.now or args.stack is None) and not args.follow else None
    arn = state_machine_arn(info, args.stack, "SegmentStateMachine")
    # Short reads, retried by the wait: a busy emulator answers late, which is not a failed run.
    sfn = boto3.client("stepfunctions", config=Config(read_timeout=20, retries={"max_attempts": 2}))
    if args.follow:
        execution = _execution_arn(arn, args.follow)
        print(f"following / 追跡中: {execution}", flush=True)
    else:
        payload = execution_input(now_ms, args.shards, tz)
        name = f"cli-{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"]
        when = payload.get("now", "now")
        print(f"segment run started / セグメント実行を開始しました ({when}); waiting… / 終了を待っています…\n"
              f"  execution / 実行: {execution}", flush=True)
    outcome = wait(sfn, execution, args.timeout, lambda line: print(line, flush=True))
    if outcome.still_running:
        why = "Ctrl-C" if outcome.interrupted else f"--timeout {args.timeout:g} s"
        print(f"reawake: the segment run is still running after {outcome.waited_s:.0f} s; stopped waiting ({why}), "
              f"the run goes on. / 実行は継続中です。\n"
              f"  follow it / 追跡: {cli_command()} segments run --follow {execution}"
              f"{' --stack ' + args.stack if args.stack else ''}", file=sys.stderr)
        return 3
    described = outcome.described
    assert described is not None
    if described["status"] != "SUCCEEDED":
        print(f"segment run {described['status']} / セグメント実行が失敗しました: {described.get('error', '')} "
              f"{described.get('cause', '')}".rstrip(), file=sys.stderr)
        print(f"execution / 実行: {execution}", file=sys.stderr)
        return 1
    summary = json.loads(described.get("output") or "{}")
    try:
        definitions = config().definitions
    except Stop:
        definitions = []
    print(render_summary(summary, definitions, outcome.waited_s))
    return 0


def _execution_arn(state_machine: str, given: str) -> str:
    """An execution ARN from --follow: the ARN itself, or a name of an execution of the segment
    state machine."""
    if given.startswith("arn:"):
        return given
    if not given or "/" in given or ":" in given:
        raise Stop(f"--follow: {given!r} is not an execution ARN or name")
    # arn:aws:states:REGION:ACCOUNT:stateMachine:NAME -> arn:aws:states:REGION:ACCOUNT:execution:NAME:GIVEN
    head, _, machine = state_machine.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{given}"
