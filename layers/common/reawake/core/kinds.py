"""Event kinds: what a browser may send, what email links record, what servers report."""

from __future__ import annotations

from typing import Literal

BrowserKind = Literal["page_view", "form_submit", "download", "webinar_view", "custom"]
BROWSER_KINDS: frozenset[str] = frozenset(BrowserKind.__args__)  # type: ignore[attr-defined]

EMAIL_KINDS: frozenset[str] = frozenset(
    {"email_click", "email_open", "unsubscribe", "email_delivery", "email_bounce", "email_complaint"}
)

# Server-to-server activities (POST /v1/activities, `reawake activities import`). Browser and
# email kinds are accepted there too, so history can be migrated from another tool.
ActivityKind = Literal[
    "purchase",
    "webinar_view",
    "webinar_application",
    "sales_conversation",
    "sales_followup",
    "product_use",
    "conversion",
    "page_view",
    "form_submit",
    "download",
    "custom",
    "email_click",
    "email_open",
]
ACTIVITY_KINDS: frozenset[str] = frozenset(ActivityKind.__args__)  # type: ignore[attr-defined]

# Kinds that mean "the person came back": such an event from a dormant lead is a revisit.
VISIT_KINDS: frozenset[str] = frozenset({"page_view", "form_submit", "download", "webinar_view", "email_click"})

ALL_KINDS: frozenset[str] = BROWSER_KINDS | EMAIL_KINDS | ACTIVITY_KINDS

# How people read each kind (alert and call-list mail).
KIND_JA: dict[str, str] = {
    "page_view": "ページ閲覧", "form_submit": "フォーム送信", "download": "資料ダウンロード",
    "webinar_view": "ウェビナー視聴", "webinar_application": "ウェビナー申込", "email_click": "メールのリンククリック",
    "email_open": "メール開封", "purchase": "購入", "product_use": "製品利用", "conversion": "コンバージョン",
    "sales_conversation": "インサイドセールスとの対話", "sales_followup": "営業フォロー",
}
