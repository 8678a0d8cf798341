"""`reawake demo`'s story: the scenario's steps in order, each told as one line (with details) the
moment it is done, and every result kept for ``--json``."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from reawake.alerts.entry import alert_settings
from reawake_tools.commands.local import cli_command
from reawake_tools.demo import scenario, visitor
from reawake_tools.demo.history import DemoLead
from reawake_tools.demo.stage import Stage, StepFailed

TOKYO = ZoneInfo("Asia/Tokyo")
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
T = TypeVar("T")


@dataclass(frozen=True)
class Line:
    elapsed: float  # wall seconds since the demo started
    stack_time: datetime
    text: str
    details: tuple[str, ...] = ()


class DemoFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


@dataclass
class Story:
    stage: Stage
    say: Callable[[Line], None]
    began: float = field(default_factory=time.monotonic)
    results: dict[str, Any] = field(default_factory=dict)

    def tell(self, text: str, details: list[str] | tuple[str, ...] = ()) -> None:
        self.say(Line(time.monotonic() - self.began, self.stage.now(), text, tuple(details)))

    def step(self, name: str, title: str, action: Callable[[], T]) -> T:
        """Run one step; any failure becomes DemoFailed naming it."""
        try:
            result = action()
        except StepFailed as exc:
            raise DemoFailed(title, str(exc)) from exc
        except Exception as exc:
            raise DemoFailed(title, f"{type(exc).__name__}: {exc}") from exc
        self.results[name] = result
        return result

    def as_json(self) -> str:
        return json.dumps({"run_id": self.stage.run_id, "outbox": str(self.stage.outbox),
                           **{k: dataclasses.asdict(v) for k, v in self.results.items()}},
                          ensure_ascii=False, indent=2, default=str)


def jst(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return f"{moment.astimezone(TOKYO):{fmt}} JST" if moment else "-"


def who(lead: DemoLead) -> str:
    return f"{lead.name}（{lead.company}）"


def tell_demo(story: Story) -> None:
    """The whole story; raises DemoFailed at the first step that fails."""
    stage = story.stage
    imported = story.step("imported", "1 import / 取り込み", lambda: scenario.import_leads(stage))
    story.tell(f"{len(imported.leads)} leads imported with a year of history ({imported.activities} activities) / "
               f"リード{len(imported.leads)}件と1年分の行動履歴を取り込みました",
               [*(f"{x.email}  {who(x)}  担当 {imported.owner_names.get(x.owner or '', x.owner or '-')}  "
                  f"登録 {x.registered_at:%Y/%m/%d}  "
                  f"最後の行動 {x.activities[-1].at:%Y/%m/%d} {x.activities[-1].kind}" for x in imported.leads),
                f"CSV: {imported.files[0]}, {imported.files[1].name}  (reawake leads import / activities import)"])

    segmented = story.step("segmented", "2 segments run / セグメント実行",
                           lambda: scenario.run_segments(stage, imported))
    dormant = [x for x in imported.leads if segmented.entered.get(x.role)]
    details = []
    for number, (segment_id, name) in enumerate(segmented.names.items()):
        members = [x.name for x in imported.leads if segment_id in segmented.entered.get(x.role, ())]
        if members:
            details.append(f"{CIRCLED[number]} {segment_id} {name} → {segmented.approaches[segment_id]}: "
                           f"{', '.join(members)}")
    details += [f"not dormant / 休眠ではない: {x.name}" for x in imported.leads if x not in dormant]
    story.tell(f"segments run: {len(dormant)} of {len(imported.leads)} demo leads are dormant "
               f"({segmented.seconds:.1f} s, {segmented.scanned} leads evaluated) / "
               f"セグメント実行: {len(dormant)}件が休眠顧客の定義に該当", details)

    sent = story.step("sent", "3 step mail / ステップメール送信", lambda: scenario.send_first_mails(stage, imported))
    names = {x.role: x.name for x in imported.leads}
    where = (f"clock moved to the next send slot {jst(sent.slot)}" if sent.slot
             else "the clock is in a send window")
    story.tell(f"{where}: {len(sent.mails)} first mails sent / 送信枠でステップメール{len(sent.mails)}通を送信",
               [f"{jst(m.sent_at, '%m/%d %H:%M')}  {names[m.role]} <{m.to}>  {m.subject}  [{m.step}]"
                for m in sent.mails])

    clicked = story.step("clicked", "4 click / クリック", lambda: visitor.click(stage, imported, sent))
    story.tell(f"{visitor.READ_MAIL_AFTER_S // 60} minutes later {names[clicked.role]} clicks 「{clicked.link_text}」 "
               f"in the mail: {clicked.status} → {visitor.without_identify(clicked.location)} (+rw_id) / "
               f"メールのリンクをクリック", [f"tracked link / 計測リンク: {clicked.url[:90]}…"])

    visited = story.step("visited", "5 site visit / サイト閲覧", lambda: visitor.browse(stage, clicked))
    story.tell(f"{names[clicked.role]} browses {len(visited.pages)} pages in Chrome: {visited.revisits} of "
               f"{visited.events} events recorded as revisits (dormant since {jst(visited.dormant_since)}) / "
               f"休眠中のリードの再訪として記録", [f"{p.title or p.url}  {p.url}" for p in visited.pages])

    settle_s = alert_settings().click_settle_ms / 1000
    alerted = story.step("alerted", "6 owner's alert / 担当営業への通知",
                         lambda: visitor.await_alert(stage, clicked, visited))
    story.tell(f"alert mail to {alerted.owner_name or alerted.to} <{alerted.to}>, {alerted.latency_s:.1f} s after "
               f"the first page view ({alerted.after_click_s:.1f} s after the click: a click is judged "
               f"{settle_s:g} s later, when a mail scanner's burst would show) / 担当営業へ再訪アラート",
               [f"件名: {alerted.subject}", *alerted.lines,
                f"lead reactivated / 休眠解除: {jst(alerted.reactivated_at, '%Y-%m-%d %H:%M:%S')}; "
                f"alerts for this visit / この訪問のアラート: {alerted.alerts}"])

    ended = story.step("ended", "7 sequence stops / シーケンス終了",
                       lambda: scenario.sequence_ends(stage, imported, clicked))
    by_role = {x.role: x for x in imported.leads}
    story.tell(f"at its next step ({jst(ended.moment)}) {names[clicked.role]}'s sequence {ended.status} "
               f"({ended.reason}): no more mail ({ended.mails_after_click} after the click) / "
               f"再訪したためシーケンスは終了し、以降のメールは送られません",
               [f"call task / 電話タスク: {imported.owner_names.get(owner, owner or '-')} → {who(by_role[role])}, "
                f"due / 期限 {jst(due)}"
                for role, owner, due in ended.tasks])

    listed = story.step("call_list", "8 owner's call list / コールリスト",
                        lambda: scenario.morning_call_list(stage, imported, ended))
    owner_name = imported.owner_names.get(listed.to, listed.to)
    story.tell(f"the next business morning {owner_name}'s call list has {names[listed.role]} / "
               f"翌営業日の朝、担当営業のコールリストに掲載", [f"件名: {listed.subject}", *listed.lines])

    story.tell(f"done / 完了: {len(dormant)} dormant leads, {len(sent.mails)} mails, 1 click → "
               f"{alerted.owner_name or alerted.to} alerted in {alerted.latency_s:.1f} s, sequence {ended.status} "
               f"({ended.reason}), lead reactivated; {names[listed.role]} on {owner_name}'s call list",
               [f"outbox / 送信メール: {stage.outbox}  ({cli_command()} outbox)"])


def run(stage: Stage, say: Callable[[Line], None], json_path: Path | None = None, began: float | None = None,
        opening: str = "") -> Story:
    """Tell the story (after ``opening``, e.g. how the stack was found); with ``json_path``, write
    every step's result there, also when a step failed."""
    story = Story(stage, say)
    if began is not None:
        story.began = began
    try:
        if opening:
            story.tell(opening)
        tell_demo(story)
    finally:
        if json_path is not None:
            json_path.write_text(story.as_json(), encoding="utf-8")
    return story
