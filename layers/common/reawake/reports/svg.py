"""Small inline SVG charts (no script, no external file: the report opens offline and from S3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

FONT = "'Noto Sans CJK JP','Hiragino Sans','Yu Gothic','Meiryo',sans-serif"
COLORS = {"members": "#1f6feb", "entered": "#9ab0c8", "returned": "#e36209", "converted": "#1a7f37"}


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // step) * step)


def trend_chart(days: Sequence[tuple[date, dict[str, int]]], title: str, width: int = 720,
                height: int = 220) -> str:
    """Members as a line (left axis), entries / returns / conversions per day as bars (right axis)."""
    left, right, top, bottom = 48, 44, 28, 34
    w, h = width - left - right, height - top - bottom
    n = max(len(days), 1)
    members_max = _nice_max(max((r["members"] for _, r in days), default=0))
    bars_max = _nice_max(max((max(r["entered"], r["returned"], r["converted"]) for _, r in days), default=0))
    slot = w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" font-family="{FONT}" font-size="11">',
             f'<title>{escape(title)}</title>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d0d7de"/>']
    for k in range(5):
        y = top + h - h * k / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{COLORS["members"]}">'
                     f'{members_max * k / 4:g}</text>')
        parts.append(f'<text x="{left + w + 4}" y="{y + 4:.1f}" fill="#57606a">{bars_max * k / 4:g}</text>')
    bar_w = max(slot / 3 - 0.5, 0.6)
    for i, (_, row) in enumerate(days):
        for j, key in enumerate(("entered", "returned", "converted")):
            if row[key]:
                bh = h * row[key] / bars_max
                x = left + i * slot + j * bar_w
                parts.append(f'<rect x="{x:.1f}" y="{top + h - bh:.1f}" width="{bar_w:.1f}" height="{bh:.1f}" '
                             f'fill="{COLORS[key]}"/>')
    points = " ".join(f"{left + (i + 0.5) * slot:.1f},{top + h - h * r['members'] / members_max:.1f}"
                      for i, (_, r) in enumerate(days))
    parts.append(f'<polyline points="{points}" fill="none" stroke="{COLORS["members"]}" stroke-width="2"/>')
    for i, (d, _) in enumerate(days):
        if d.day == 1 or i == 0:
            parts.append(f'<text x="{left + i * slot:.1f}" y="{top + h + 14}" fill="#57606a">{d.month}/{d.day}</text>')
    legend = [("members", "メンバー数（左軸）"), ("entered", "新規該当"), ("returned", "再訪"), ("converted", "成約")]
    x = left
    for key, label in legend:
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{COLORS[key]}"/>'
                     f'<text x="{x + 14}" y="17">{label}</text>')
        x += 14 + 13 * len(label) + 10
    parts.append(f'<text x="{left + w}" y="{height - 4}" text-anchor="end" fill="#57606a">件数（右軸）</text>')
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(stages: Sequence[tuple[str, int]], width: int = 520) -> str:
    """Horizontal bars, each stage as a share of the first."""
    row, label_w = 26, 110
    height = row * len(stages) + 8
    first = max(stages[0][1], 1) if stages else 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="ファネル" font-family="{FONT}" font-size="12">']
    for i, (label, count) in enumerate(stages):
        y = 4 + i * row
        bar = (width - label_w - 120) * count / first
        share = f"{count / first * 100:.1f}%" if stages[0][1] else "—"
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{max(bar, 1):.1f}" height="18" fill="#1f6feb" '
                     f'opacity="{1 - i * 0.12:.2f}"/>'
                     f'<text x="{label_w + max(bar, 1) + 6:.1f}" y="{y + 16}">{count:,}（{share}）</text>')
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(rows: Sequence[tuple[str, float, float, float]], width: int = 720) -> str:
    """Differences in points with their 95 % interval, around a zero line."""
    row, label_w = 28, 300
    height = row * len(rows) + 30
    span = max([abs(v) for _, d, lo, hi in rows for v in (d, lo, hi)] + [0.01])
    scale = (width - label_w - 20) / (2 * span)
    zero = label_w + (width - label_w - 20) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="ホールドアウトとの差" font-family="{FONT}" font-size="12">',
             f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{height - 18}" stroke="#57606a" stroke-dasharray="3"/>',
             f'<text x="{zero:.1f}" y="{height - 4}" text-anchor="middle" fill="#57606a">差 0</text>']
    for i, (label, d, lo, hi) in enumerate(rows):
        y = 14 + i * row
        color = "#1a7f37" if lo > 0 else "#cf222e" if hi < 0 else "#57606a"
        parts.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end">{escape(label)}</text>'
                     f'<line x1="{zero + lo * scale:.1f}" x2="{zero + hi * scale:.1f}" y1="{y}" y2="{y}" '
                     f'stroke="{color}" stroke-width="3"/>'
                     f'<circle cx="{zero + d * scale:.1f}" cy="{y}" r="5" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)
