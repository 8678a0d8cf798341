"""A plausible 90 days of report counters (no table needed): for rendering and browser tests."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from reawake.reports.model import DefinitionInfo, SequenceInfo

DEFINITIONS = [
    DefinitionInfo("dormant-no-visit", "登録90日以上・直近30日サイト訪問なし", "watch", None, 0.1),
    DefinitionInfo("dormant-no-webinar", "直近3か月ウェビナー視聴・申込なし", "sequence", "webinar-invite", 0.1),
    DefinitionInfo("dormant-no-followup", "IS対話歴あり・直近3か月営業フォローなし", "owner_task", "dm-then-call"),
]
SEQUENCES = [
    SequenceInfo("webinar-invite", "ウェビナー案内", ("お役立ち情報", "導入事例", "ウェビナー招待")),
    SequenceInfo("dm-then-call", "DM → 電話フォロー", ("DM送付", "電話タスク")),
]
OWNERS = {"sato.kenji@example.co.jp": "佐藤 健二", "suzuki.misaki@example.co.jp": "鈴木 美咲"}
LAST = date(2026, 11, 30)


class FakeCounters:
    """``days`` over an in-memory dict: scope -> YYYYMMDD -> fields."""

    def __init__(self, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.data = data

    def days(self, scope: str, first_day: str, last_day: str) -> dict[str, dict[str, Any]]:
        return {d: v for d, v in self.data.get(scope, {}).items() if first_day <= d <= last_day}


def counters(seed: int = 3, days: int = 120) -> FakeCounters:
    rng = random.Random(seed)
    data: dict[str, dict[str, dict[str, Any]]] = {}
    for n in range(days):
        day = (LAST - timedelta(days=n)).strftime("%Y%m%d")
        for i, d in enumerate(DEFINITIONS):
            entered = rng.randint(60, 120) // (i + 1)
            held = sum(rng.random() < d.holdout for _ in range(entered))
            returned_t = sum(rng.random() < 0.15 for _ in range(entered - held))
            returned_h = sum(rng.random() < 0.04 for _ in range(held))
            data.setdefault(f"DEF#{d.id}", {})[day] = {
                "members": 1500 // (i + 1) + n * 3, "entered": entered, "entered_h": held,
                "left": rng.randint(5, 30) // (i + 1), "returned": returned_t + returned_h,
                "reactivated": returned_t + returned_h, "converted": rng.randint(0, 3),
                "returned_t": returned_t, "returned_h": returned_h,
                "converted_t": rng.randint(0, 3), "converted_h": rng.randint(0, 1)}
        for s in SEQUENCES:
            for k in range(len(s.steps)):
                sent = rng.randint(30, 50) - 8 * k
                data.setdefault(f"STEP#{s.id}#{k}", {})[day] = {
                    "enrolled": sent if k == 0 else 0, "sent": sent, "delivered": sent - rng.randint(0, 2),
                    "opened": sent // 2, "clicked": sent // 10, "returned": sent // 14, "converted": rng.randint(0, 1),
                    "unsubscribed": rng.randint(0, 1), "bounced": rng.randint(0, 1), "complained": 0,
                    "deferred": rng.randint(0, 3)}
        alerts: dict[str, Any] = {}
        for owner in [*OWNERS, "team"]:
            alerts[f"sent|{owner}"] = rng.randint(1, 4)
            alerts[f"followed|{owner}"] = rng.randint(0, 1)
            alerts[f"followup_ms|{owner}"] = [rng.randint(1, 60) * 3_600_000]
        data.setdefault("ALERTS", {})[day] = alerts
        data.setdefault("CALLS", {})[day] = {f"done|{o}": rng.randint(0, 3) for o in OWNERS} | {
            f"expired|{o}": rng.randint(0, 1) for o in OWNERS}
    return FakeCounters(data)
