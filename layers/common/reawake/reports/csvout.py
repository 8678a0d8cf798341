"""The report's tables as CSV files that Excel opens: UTF-8 with a BOM (default) or CP932."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from reawake.core.leads import Lead
from reawake.reports.crosstab import CrossTab
from reawake.reports.model import Report

ENCODINGS = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8-sig", "bom": "utf-8-sig", "cp932": "cp932",
             "shift_jis": "cp932", "sjis": "cp932"}


def _rate(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.4f}" if denominator else ""


#: Characters CP932 holds under another code point (Windows shows 0x8160 as ～, not 〜): written as
#: what Excel will show, instead of being lost as ``?`` (the minus sign) or changed on the way back.
CP932_SAME = str.maketrans({"〜": "～", "−": "－", "‖": "∥", "¢": "￠", "£": "￡", "¬": "￢", "—": "―"})


def encode(header: Sequence[str], rows: Iterable[Sequence[object]], encoding: str = "utf-8-sig") -> bytes:
    """CSV bytes; CP932 replaces what it cannot hold at all (a rare kanji, an emoji) with ``?``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    codec = ENCODINGS.get(encoding.lower(), encoding)
    text = buffer.getvalue()
    if codec == "cp932":
        text = text.translate(CP932_SAME)
    return text.encode(codec, errors="replace")


def tables(report: Report, crosstab: CrossTab | None = None) -> dict[str, tuple[list[str], list[list[object]]]]:
    """File name -> (header, rows)."""
    out: dict[str, tuple[list[str], list[list[object]]]] = {}
    out["trend.csv"] = (
        ["日付", "定義ID", "定義名", "メンバー数", "新規該当", "離脱", "再訪", "再活性化", "成約"],
        [[day.isoformat(), d.info.id, d.info.name, r["members"], r["entered"], r["left"], r["returned"],
          r["reactivated"], r["converted"]] for d in report.definitions for day, r in d.trend],
    )
    out["funnel.csv"] = (
        ["シーケンス", "ステップ", "ステップ名", "登録", "送信", "到達", "開封(参考値)", "クリック", "再訪", "成約",
         "配信停止", "バウンス", "苦情", "上限で延期", "クリック率(対到達)", "再訪率(対送信)", "成約率(対送信)"],
        [[s.sequence.id, s.index + 1, s.name, *(s.counts[k] for k in (
            "enrolled", "sent", "delivered", "opened", "clicked", "returned", "converted", "unsubscribed", "bounced",
            "complained", "deferred")),
          _rate(s.counts["clicked"], s.counts["delivered"] or s.counts["sent"]),
          _rate(s.counts["returned"], s.counts["sent"]), _rate(s.counts["converted"], s.counts["sent"])]
         for s in report.steps],
    )
    holdout_rows: list[list[object]] = []
    for d in report.definitions:
        if not (d.info.holdout or d.totals.get("entered_h")):
            continue
        for label, c in (("再訪率", d.returns), ("成約率", d.conversions)):
            holdout_rows.append([d.info.id, d.info.name, label, c.treated, c.treated_hits, c.held, c.held_hits,
                                 *("" if v is None else f"{v:.4f}" for v in (c.difference, c.lower, c.upper)),
                                 c.verdict])
    out["holdout.csv"] = (["定義ID", "定義名", "指標", "対象n", "対象の該当", "ホールドアウトn", "ホールドアウトの該当",
                           "差", "95%CI下限", "95%CI上限", "判定"], holdout_rows)
    out["alerts.csv"] = (
        ["担当営業", "再訪アラート", "3営業日以内のフォロー", "割合", "フォローまでの中央値(時間)"],
        [[o.name, o.alerts, o.followed, _rate(o.followed, o.alerts),
          "" if o.median_ms is None else f"{o.median_ms / 3_600_000:.1f}"] for o in report.owners],
    )
    out["call_tasks.csv"] = (["担当営業", "完了", "期限切れ"], [[c.name, c.done, c.expired] for c in report.calls])
    if crosstab is not None:
        out["crosstab.csv"] = (
            ["#", "定義ID", "定義名", "スコア帯", crosstab.axis_label, "リード数", "再訪", "再訪率"],
            [[i + 1, c.definition, c.definition_name, c.band_label, c.value, c.count, c.returned,
              _rate(c.returned, c.count)] for i, c in enumerate(crosstab.cells)],
        )
    return out


def members(leads: Iterable[Lead], encoding: str = "utf-8-sig") -> bytes:
    """A cell's members in the leads CSV's own columns, so it can be re-imported or handed to a tool."""
    return encode(["email", "name", "company", "owner", "lead_id"],
                  [[lead.email, lead.name or "", lead.company or "", lead.owner or "", lead.lead_id] for lead in leads],
                  encoding)
