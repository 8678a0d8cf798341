"""The report as one self-contained HTML page: Japanese labels, inline CSS and SVG, no script, no
link to anywhere (every text escaped), so it opens offline, from a mail attachment or from S3."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from reawake.reports.crosstab import CrossTab
from reawake.reports.holdout import Comparison, points
from reawake.reports.model import DefinitionReport, Report, StepReport
from reawake.reports.svg import funnel_chart, interval_chart, trend_chart

APPROACH_JA = {"watch": "再訪ウォッチ", "sequence": "ステップメール", "owner_task": "DM＋電話タスク"}
CSS = """
body{font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic','Meiryo',sans-serif;margin:24px;color:#1f2328;
max-width:1100px}h1{font-size:22px}h2{font-size:18px;border-bottom:2px solid #1f6feb;padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}th{background:#f6f8fa}td.l,th.l{text-align:left}
.note{color:#57606a;font-size:12px}.kpi{display:inline-block;margin:0 18px 6px 0}.kpi b{font-size:18px}
.good{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}.card{margin-bottom:18px}
"""


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _definition(d: DefinitionReport) -> str:
    t = d.totals
    kpis = "".join(f'<span class="kpi">{label} <b>{t.get(key, 0):,}</b></span>' for key, label in (
        ("members", "メンバー数"), ("entered", "新規該当"), ("left", "離脱"), ("returned", "再訪"),
        ("reactivated", "再活性化"), ("converted", "成約")))
    how = APPROACH_JA.get(d.info.approach, d.info.approach)
    if d.info.sequence:
        how += f"（{escape(d.info.sequence)}）"
    title = f"{d.info.name}: 直近{len(d.trend)}日の推移"
    return (f'<div class="card"><h3>{escape(d.info.name)} <span class="note">{escape(d.info.id)} ・ {how}</span></h3>'
            f"<div>{kpis}</div>{trend_chart(d.trend, title)}</div>")


def _verdict(c: Comparison) -> str:
    cls = "good" if c.lower is not None and c.lower > 0 else "bad" if c.upper is not None and c.upper < 0 else ""
    return f'<span class="{cls}">{escape(c.verdict)}</span>'


def _holdouts(report: Report) -> str:
    rows, marks = [], []
    for d in report.definitions:
        if not (d.info.holdout or d.totals.get("entered_h")):
            continue
        for label, c in (("再訪率", d.returns), ("成約率", d.conversions)):
            rows.append([escape(d.info.name), label, f"{c.treated:,}", pct(c.treated_rate), f"{c.held:,}",
                         pct(c.held_rate), f"{points(c.difference)}pt" if c.difference is not None else "—",
                         _verdict(c)])
            if c.difference is not None and c.lower is not None and c.upper is not None:
                marks.append((f"{d.info.name[:18]} {label}", c.difference * 100, c.lower * 100, c.upper * 100))
    if not rows:
        return ('<p class="note">ホールドアウトを設定した定義はありません。segments.yaml の approach に '
                "<code>holdout: 10%</code> と書くと、該当者の10%にはメールを送らず、効果を比較できます。</p>")
    note = ('<p class="note">期間内に該当したリードを、アプローチした群とホールドアウト群（送信なし）で'
            "比べています。差の95%信頼区間は Newcombe 法（Wilson スコア区間の組み合わせ）。"
            "区間が0をまたぐ間は効果を断定できません。</p>")
    header = ["定義", "指標", "対象 n", "率", "ホールドアウト n", "率", "差", "判定"]
    return note + _table(header, rows, left=2) + (interval_chart(marks) if marks else "")


def _funnels(report: Report) -> str:
    out = ['<p class="note">開封数は参考値です（画像プロキシやメールセキュリティ製品が自動で開封するため）。'
           "効果はクリック（スキャナーの自動クリックを除外済み）とサイト再訪で判断してください。"
           "率はいずれも送信数に対する割合（開封・クリックは到達数に対する割合）。</p>"]
    by_sequence: dict[str, list[StepReport]] = {}
    for s in report.steps:
        by_sequence.setdefault(s.sequence.id, []).append(s)
    for steps in by_sequence.values():
        seq = steps[0].sequence
        rows = []
        for s in steps:
            c = s.counts
            base = "delivered" if c.get("delivered") else "sent"
            enrolled = f"{c['enrolled']:,}" if s.index == 0 else ""
            rows.append([f"{s.index + 1}. {escape(s.name)}", enrolled, f"{c['sent']:,}",
                         f"{c['delivered']:,}", f"{c['clicked']:,}（{pct(s.rate('clicked', base))}）",
                         f"{c['returned']:,}（{pct(s.rate('returned', 'sent'))}）",
                         f"{c['converted']:,}（{pct(s.rate('converted', 'sent'))}）",
                         f"{c['opened']:,}（{pct(s.rate('opened', base))}）*", f"{c['unsubscribed']:,}",
                         f"{c['bounced']:,}", f"{c['complained']:,}", f"{c['deferred']:,}"])
        header = ["ステップ", "登録", "送信", "到達", "クリック", "再訪", "成約", "開封*", "配信停止", "バウンス",
                  "苦情", "上限で延期"]
        total = {k: sum(s.counts[k] for s in steps) for k in ("sent", "delivered", "clicked", "returned", "converted")}
        chart = funnel_chart([("送信", total["sent"]), ("到達", total["delivered"]), ("クリック", total["clicked"]),
                              ("再訪", total["returned"]), ("成約", total["converted"])])
        out.append(f"<h3>{escape(seq.name)} <span class=\"note\">{escape(seq.id)}</span></h3>"
                   + _table(header, rows) + chart)
    return "".join(out) if by_sequence else '<p class="note">シーケンスがありません。</p>'


def _owners(report: Report) -> str:
    if not report.owners and not report.calls:
        return '<p class="note">期間内のアラート・コールタスクはありません。</p>'
    rows = [[escape(o.name), f"{o.alerts:,}", f"{o.followed:,}", pct(o.share),
             "—" if o.median_ms is None else f"{o.median_ms / 3_600_000:.1f} 時間"] for o in report.owners]
    calls = [[escape(c.name), f"{c.done:,}", f"{c.expired:,}"] for c in report.calls]
    return ('<p class="note">アラート後3営業日以内に営業フォロー（sales_followup）が記録された割合と、'
            "それまでの時間の中央値。</p>"
            + _table(["担当営業", "再訪アラート", "3営業日以内のフォロー", "割合", "フォローまでの中央値"], rows)
            + "<h3>コールタスク</h3>" + (_table(["担当営業", "完了", "期限切れ"], calls) if calls else
                                       '<p class="note">期間内に完了・期限切れになったタスクはありません。</p>'))


def _crosstab(table: CrossTab) -> str:
    header = ["定義", "スコア帯", table.axis_label, "リード数", "再訪", "再訪率"]
    rows = [[escape(c.definition_name), escape(c.band_label), escape(c.value or "（空欄）"), f"{c.count:,}",
             f"{c.returned:,}", pct(c.returned / c.count if c.count else None)] for c in table.cells]
    note = ('<p class="note">休眠リードを 定義 × スコア帯 × 属性 で集計しました。セルは '
            f"<code>reawake report --by {escape(table.axis)} --cell 番号 --yaml</code> で新しいセグメント定義に、"
            "<code>--members FILE</code> でメンバー一覧CSVにできます。</p>")
    numbered = [[str(i + 1), *r] for i, r in enumerate(rows)]
    return note + _table(["#", *header], numbered, left=4)


def render(report: Report, tz: ZoneInfo, crosstab: CrossTab | None = None) -> str:
    generated = datetime.fromtimestamp(report.generated_at / 1000, tz).strftime("%Y年%-m月%-d日 %H:%M")
    period = f"{report.first:%Y年%-m月%-d日} 〜 {report.last:%Y年%-m月%-d日}"
    sections = [
        ("定義ごとの推移（直近90日）", "".join(_definition(d) for d in report.definitions)
         or '<p class="note">定義がありません。</p>'),
        ("ステップメールのファネル", _funnels(report)),
        ("ホールドアウト比較（効果測定）", _holdouts(report)),
        ("再訪アラート後のフォロー（担当営業別）", _owners(report)),
    ]
    if crosstab is not None:
        sections.append((f"分析レポート（クロス集計: 定義 × スコア帯 × {crosstab.axis_label}）", _crosstab(crosstab)))
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    return (f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>休眠リード掘り起こしレポート</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head><body>'
            f"<h1>休眠リード掘り起こしレポート</h1><p>対象期間: {period}（{escape(str(tz))}） ・ 作成: {generated}"
            f' <span class="note">カウンター {report.items_read:,} 件を読み取り</span></p>{body}</body></html>')
