"""Read-only views of segments for the marketer's CLI: which config applies, who a definition would
select now (count and a sample), why one lead is in or out, and a run's summary in words.

Nothing here writes: ``preview`` and ``explain`` only read the leads (the sparse ``leads`` index)
and the config, so they can be run against production at any time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.durations import format_time, parse_time
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig
from reawake.segments.rules.compile import Context, compile_rule
from reawake.segments.rules.explain import explain
from reawake.segments.rules.model import SegmentDefinition

LOCAL_CONFIG = Path("config")


@dataclass(frozen=True)
class LoadedConfig:
    definitions: list[SegmentDefinition]
    scoring: ScoringConfig | None
    source: str  # where the definitions came from
    note: str | None = None  # why it is not the config bucket


def load_config(bucket: str, local_dir: Path = LOCAL_CONFIG, store: Any = None, local: bool = False) -> LoadedConfig:
    """The definitions the functions use (the config bucket), with a note when the local files say
    otherwise (edited, not uploaded yet); the local ``config/`` files when ``local``, or, with a note,
    when the bucket has none or cannot be read. A bad config in the bucket is an error
    (ConfigError), not a reason to fall back."""
    from botocore.exceptions import BotoCoreError, ClientError

    from reawake.segments.definitions import SEGMENTS_KEY, SegmentConfig

    if local:
        return load_local(local_dir)
    config = store or SegmentConfig(bucket)
    reason: str
    if not bucket:
        reason = "no config bucket is configured"
    else:
        try:
            definitions = config.segments()
            if definitions:
                scoring = config.scoring()
                return LoadedConfig(definitions, scoring, f"s3://{bucket}/{SEGMENTS_KEY}",
                                    _edited_note(local_dir, definitions, scoring))
            reason = f"s3://{bucket}/{SEGMENTS_KEY} does not exist"
        except (ClientError, BotoCoreError) as exc:
            reason = f"the config bucket cannot be read ({exc})"
    return load_local(local_dir, note=f"{reason}: using the local files in {local_dir}/ instead "
                                      f"(設定バケットではなくローカルの設定を使います)")


def _edited_note(local_dir: Path, definitions: list[SegmentDefinition], scoring: ScoringConfig | None) -> str | None:
    """A note when the local files differ from the uploaded ones: the marketer edited them and is
    about to preview the old definitions."""
    from reawake.core.yamlfile import ConfigError

    if not (local_dir / "segments.yaml").exists():
        return None
    try:
        here = load_local(local_dir)
    except (ConfigError, OSError, ValueError):
        here = None
    if here is not None and here.definitions == definitions and here.scoring == scoring:
        return None
    from reawake_tools.commands.local import cli_command

    return (f"{local_dir}/segments.yaml (or scoring.yaml) differs from the uploaded config: this shows the uploaded "
            f"definitions. `{cli_command()} segments upload` puts your edits in use; --local previews them first / "
            "ローカルの設定はアップロード版と異なります (アップロード版を表示しています)")


def load_local(local_dir: Path, note: str | None = None) -> LoadedConfig:
    from reawake.core.scoring import load_scoring_file
    from reawake.segments.rules.config import load_segment_files

    scoring_path, segments_path = local_dir / "scoring.yaml", local_dir / "segments.yaml"
    scoring = load_scoring_file(scoring_path) if scoring_path.exists() else None
    definitions = load_segment_files([segments_path], scoring, str(scoring_path)) if segments_path.exists() else []
    return LoadedConfig(definitions, scoring, str(segments_path), note)


class UnknownSegment(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def find_definition(definitions: Sequence[SegmentDefinition], segment_id: str) -> SegmentDefinition:
    for definition in definitions:
        if definition.id == segment_id:
            return definition
    known = ", ".join(d.id for d in definitions) or "none"
    raise UnknownSegment(f"no segment {segment_id!r} (defined: {known})")


def parse_now(text: str, tz: ZoneInfo) -> int:
    """``--now``: ISO 8601 (an offset, or the configured time zone), or ``YYYY/MM/DD HH:MM``; epoch ms."""
    found = parse_time(text, tz)
    if found is None:
        raise ValueError(f"--now: {text!r} is not a time (e.g. 2026-11-24T06:00:00+09:00 or '2026/11/24 06:00')")
    return found


# --- preview -------------------------------------------------------------------------------------------


@dataclass
class Preview:
    definition: SegmentDefinition
    now_ms: int
    scanned: int = 0
    count: int = 0
    would_enter: int = 0
    would_leave: int = 0
    sample: list[Lead] = field(default_factory=list)


def preview(leads: Iterable[Lead], definition: SegmentDefinition, ctx: Context, sample_size: int = 10) -> Preview:
    """Who the definition selects at ctx's moment, compared with its current members. The sample is
    the matching leads with the smallest ids (ids are hashes: a stable, unbiased pick), in memory
    bounded by sample_size whatever the number of leads."""
    predicate = compile_rule(definition.rule, ctx)
    result = Preview(definition, ctx.now_ms)

    def matching() -> Iterator[Lead]:
        for lead in leads:
            result.scanned += 1
            member = definition.id in lead.segments
            if predicate(lead):
                result.count += 1
                result.would_enter += not member
                yield lead
            else:
                result.would_leave += member

    if sample_size > 0:  # nsmallest keeps a heap of sample_size leads, however many there are
        result.sample = heapq.nsmallest(sample_size, matching(), key=lambda lead: lead.lead_id)
    else:
        for _ in matching():
            pass
    return result


def _cell(value: Any) -> str:
    return str(value) if value not in (None, "") else "-"


def render_preview(result: Preview, tz: ZoneInfo, source: str) -> str:
    d = result.definition
    share = f" ({result.count * 100 / result.scanned:.1f}%)" if result.scanned else ""
    lines = [
        f"{d.id}  {d.name}",
        f"  at / 基準時刻   {format_time(result.now_ms, tz)}   (definition from {source})",
        f"  matches / 該当  {result.count} of {result.scanned} leads / 件{share}",
        f"  vs members now / 現メンバーとの差  +{result.would_enter} would enter / 新規, "
        f"-{result.would_leave} would leave / 離脱",
    ]
    if result.sample:
        lines.append(f"  sample / サンプル ({len(result.sample)}):  name / 氏名, company / 会社名, owner / 担当営業")
        rows = [(_cell(lead.name), _cell(lead.company), _cell(lead.owner)) for lead in result.sample]
        widths = [max(_width(r[i]) for r in rows) for i in range(2)]
        for name, company, owner in rows:
            lines.append(f"    {_pad(name, widths[0])}  {_pad(company, widths[1])}  {owner}")
    lines.append("  Nothing was written (preview only) / プレビューのみ。データは変更していません。")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: East Asian wide characters take two columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# --- explain -------------------------------------------------------------------------------------------


def render_explain(lead: Lead, definition: SegmentDefinition, ctx: Context) -> str:
    tree = explain(definition.rule, lead, ctx)
    entered = lead.segments.get(definition.id)
    membership = (f"member since / メンバー開始 {format_time(entered, ctx.tz)}" if entered is not None
                  else "not a member now / 現在メンバーではありません")
    verdict = "IN / 該当" if tree.held else "OUT / 非該当"
    who = " ".join(p for p in (lead.name, f"({lead.company})" if lead.company else None) if p) or "(no name)"
    return "\n".join([
        f"{definition.id}  {definition.name}",
        f"  lead / リード  {who}  id {lead.lead_id}",
        f"  at / 基準時刻  {format_time(ctx.now_ms, ctx.tz)}",
        f"  result / 判定  {verdict}   ({membership} as of the last run / 直近の実行時点)",
        "",
        tree.render(1),
    ])


# --- a run's summary ----------------------------------------------------------------------------------


def render_summary(summary: dict[str, Any], definitions: Sequence[SegmentDefinition], seconds: float | None = None,
                   ) -> str:
    """One block per definition: members, entered, left, approaches started."""
    took = f", {seconds:.1f} s" if seconds is not None else ""
    lines = [
        f"segment run / セグメント実行 {summary.get('run_id', '?')}  "
        f"({summary.get('scanned', 0)} leads scanned / 件を評価, {summary.get('shards', 0)} shards{took})",
    ]
    members, entered, left = (summary.get(k) or {} for k in ("members", "entered", "left"))
    known = {d.id: d for d in definitions}
    ids = [d.id for d in definitions] + sorted(set(members) | set(entered) | set(left) - set(known))
    for segment_id in dict.fromkeys(ids):
        definition = known.get(segment_id)
        name = definition.name if definition else "(no longer defined / 定義なし)"
        new = int(entered.get(segment_id, 0))
        approach = ""
        if definition is not None and new:
            target = getattr(definition.approach, "sequence", None)
            approach = f"  approaches / アプローチ {definition.approach.type}{' ' + target if target else ''} ×{new}"
        lines.append(f"  {segment_id}  {name}")
        lines.append(f"    members / メンバー {int(members.get(segment_id, 0))}   entered / 新規 +{new}   "
                     f"left / 離脱 -{int(left.get(segment_id, 0))}{approach}")
    approaches = summary.get("approaches") or {}
    started = ", ".join(f"{k} {v}" for k, v in sorted(approaches.items())) or "none / なし"
    lines.append(f"  approaches started / 開始したアプローチ: {started}")
    if summary.get("redispatched"):
        lines.append(f"  left pending by an earlier run, dispatched again / 前回開始できなかったアプローチを再開始: "
                     f"{summary['redispatched']}")
    return "\n".join(lines)
