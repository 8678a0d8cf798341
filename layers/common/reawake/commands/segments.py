"""`reawake segments validate [FILES]`: check segment definitions before uploading them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_SEGMENTS = Path("config/segments.yaml")
DEFAULT_SCORING = Path("config/scoring.yaml")

EPILOG = """\
休眠顧客の定義 (セグメント) を検証します。エラーはファイル:行:列、YAML 内のパス、内容の順に表示します。
exit status: 0 = valid, 1 = problems found (listed on stderr)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "segments",
        help="segment definitions (who is dormant): validate",
        description="セグメント (休眠顧客の定義) の検証.",
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
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from reawake.scoring import ScoringConfig, load_scoring_file
    from reawake.segments.config import load_segment_files
    from reawake.segments.yamlfile import ConfigError

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
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        count = len(exc.issues)
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
