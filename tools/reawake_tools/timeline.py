"""A lead's timeline: its profile and everything it did, including what its browsers did before
the lead was identified, interleaved with what Reawake did about it (mails sent, segment entries
and exits, holdouts, alerts, call tasks), oldest first, in the configured time zone (Asia/Tokyo
by default)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.dynamo import deserialize
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.store import Store, lead_pk

KIND_LABELS = {
    "page_view": "ページ閲覧",
    "form_submit": "フォーム送信",
    "download": "資料DL",
    "webinar_view": "ウェビナー視聴",
    "webinar_application": "ウェビナー申込",
    "purchase": "購入",
    "sales_conversation": "商談",
    "sales_followup": "営業フォロー",
    "product_use": "製品利用",
    "conversion": "成約",
    "email_click": "メールクリック",
    "email_open": "メール開封",
    "unsubscribe": "配信停止",
    "custom": "カスタム",
    "email_delivery": "メール到達",
    "email_bounce": "バウンス",
    "email_complaint": "苦情",
    # What Reawake did (items of the lead's partition, not events).
    "mail_sent": "ステップメール送信",
    "segment_entered": "休眠定義に該当",
    "segment_left": "休眠定義から離脱",
    "holdout": "ホールドアウト (送信なし)",
    "reactivated": "再活性化",
    "alert": "担当営業へ再訪アラート",
    "call_task": "電話タスク作成",
    "call_task_done": "電話タスク完了",
}
ACTIVITY_PREFIXES = ("MAIL#", "MEMBER#", "APPROACH#", "ALERT", "REACTIVATED#", "TASK#")


@dataclass(frozen=True)
class Entry:
    event: Event
    before_identification: bool  # stored under one of the lead's browsers before it was linked


@dataclass(frozen=True)
class Timeline:
    lead: Lead
    visitors: list[str]
    entries: list[Entry]


def build_timeline(store: Store, email: str) -> Timeline | None:
    """The timeline of the lead with this (normalized) email; None when there is no such lead."""
    lead = store.lead_by_email(email)
    if lead is None:
        return None
    visitors = store.lead_visitors(lead.lead_id)
    entries = {e.id: Entry(e, False) for e in store.lead_events(lead.lead_id)}
    entries.update({e.id: Entry(e, False) for e in activities(store, lead.lead_id)})
    for visitor_id in visitors:
        for event in store.visitor_events(visitor_id):
            entries.setdefault(event.id, Entry(event, True))
    ordered = sorted(entries.values(), key=lambda entry: (entry.event.ts, entry.event.id))
    return Timeline(lead, visitors, ordered)


def _note(sk: str, kind: str, ts: Any, lead_id: str, **props: Any) -> Event:
    return Event(id=f"{sk}@{kind}", kind=kind, ts=int(ts), source="reawake", lead_id=lead_id,
                 props={k: v for k, v in props.items() if v not in (None, "")})


def activities(store: Store, lead_id: str) -> list[Event]:
    """What Reawake did about the lead, as timeline entries (one query per kind of item)."""
    out: list[Event] = []
    for prefix in ACTIVITY_PREFIXES:
        for raw in store.query_items(lead_pk(lead_id), prefix):
            i = deserialize(raw)
            sk = i["sk"]
            if sk.startswith("MAIL#"):
                out.append(_note(sk, "mail_sent", i["claimed_at"], lead_id, sequence=i.get("sequence"),
                                 step=int(i.get("step_index", 0)) + 1, status=i.get("status")))
            elif sk.startswith("MEMBER#"):
                out.append(_note(sk, "segment_entered", i["entered_at"], lead_id, segment=i.get("segment_id")))
                if i.get("left_at") is not None:
                    out.append(_note(sk, "segment_left", i["left_at"], lead_id, segment=i.get("segment_id")))
            elif sk.startswith("APPROACH#") and i.get("status") == "holdout":
                out.append(_note(sk, "holdout", i["entered_at"], lead_id, segment=i.get("segment_id"),
                                 sequence=i.get("sequence")))
            elif sk == "ALERT" and i.get("last_alert_at") is not None:
                out.append(_note(sk, "alert", i["last_alert_at"], lead_id, mailed="yes" if i.get("mailed_at") else ""))
            elif sk.startswith("REACTIVATED#"):
                out.append(_note(sk, "reactivated", i["reactivated_at"], lead_id, segment=i.get("segment_id")))
            elif sk.startswith("TASK#"):
                out.append(_note(sk, "call_task", i["created_at"], lead_id, sequence=i.get("sequence"),
                                 owner=i.get("owner"), note=i.get("note")))
                if i.get("done_at") is not None:
                    out.append(_note(sk, "call_task_done", i["done_at"], lead_id, reason=i.get("done_reason")))
    return out


def _pad(text: str, width: int) -> str:
    """Pad to a display width: Japanese (wide) characters take two columns in a terminal."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - shown, 0)


def _when(ts_ms: int, tz: ZoneInfo, with_time: bool = True) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _summary(lead: Lead, visitors: list[str], tz: ZoneInfo) -> list[str]:
    title = " ".join(p for p in (lead.name, f"<{lead.email}>", lead.company) if p)
    state = []
    if lead.dormant_since is not None:
        state.append(f"休眠 (dormant since {_when(lead.dormant_since, tz, False)})")
    if lead.reactivated_at is not None:
        state.append(f"再訪 (reactivated {_when(lead.reactivated_at, tz, False)})")
    if lead.converted_at is not None:
        state.append(f"成約 (converted {_when(lead.converted_at, tz, False)})")
    if lead.suppressed:
        state.append(f"配信停止 (suppressed: {lead.suppressed})")
    lines = [
        title,
        f"  lead_id {lead.lead_id}   登録 (registered) {_when(lead.registered_at, tz, False)}   "
        f"担当 (owner) {lead.owner or '-'}   スコア (score) {lead.score:g}   source {lead.source}",
        f"  状態 (state): {', '.join(state) or '通常 (active)'}",
    ]
    if lead.attrs:
        lines.append("  属性 (attributes): " + ", ".join(f"{k}={v}" for k, v in sorted(lead.attrs.items())))
    if visitors:
        lines.append(f"  ブラウザ (browsers): {', '.join(visitors)}")
    return lines


def _describe(entry: Entry) -> str:
    event = entry.event
    parts = [event.url or ""]
    parts += [f"{k}={v}" for k, v in sorted(event.props.items())]
    if event.source != "browser":
        parts.append(f"via {event.source}")
    if entry.before_identification:
        parts.append(f"[識別前 before identification, browser {event.visitor_id}]")
    if event.revisit:
        parts.append("★再訪 (revisit)")
    return "  ".join(p for p in parts if p)


def render(timeline: Timeline, tz: ZoneInfo, limit: int | None = None) -> str:
    """The timeline as text; with a limit, only the latest entries (and a line saying so)."""
    lines = _summary(timeline.lead, timeline.visitors, tz)
    entries = timeline.entries
    lines.append("")
    if limit is not None and len(entries) > limit:
        lines.append(f"(最新 {limit} 件のみ表示 / showing the latest {limit} of {len(entries)} events)")
        entries = entries[-limit:]
    if not entries:
        lines.append("イベントはありません (no events)")
        return "\n".join(lines)
    lines.append(f"{_pad(f'日時 ({tz.key})', 17)}  {_pad('種別 (kind)', 38)}  詳細 (details)")
    for entry in entries:
        kind = entry.event.kind
        label = f"{KIND_LABELS.get(kind, kind)} ({kind})" if kind in KIND_LABELS else kind
        lines.append(f"{_when(entry.event.ts, tz)}   {_pad(label, 38)}  {_describe(entry)}".rstrip())
    return "\n".join(lines)
