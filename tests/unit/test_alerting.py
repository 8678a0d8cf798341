"""The alert function's work for one revisit (``reawake.alerts.alerting``) on in-memory fakes of its
ports: who is told, once per window, and what a retry does after a failed mail or publish. The
component tests (tests/component/test_alert_function.py) run the same on moto's DynamoDB, SES and SNS."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reawake.alerts.alerting import Alerting
from reawake.alerts.domain import AlertSettings
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.mail.mailer import NotSent
from tests.fakes import FakeAlertTable, FakeMailer, FakeOwnerConfig, FakePublisher

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = int(datetime(2026, 11, 24, 14, 30, tzinfo=TOKYO).timestamp() * 1000)
HOUR, DAY = 3_600_000, 86_400_000
OWNER, TEAM, TOPIC = "sato.kenji@example.co.jp", "sales@example.co.jp", "arn:aws:sns:ap-northeast-1:1:alerts"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SETTINGS = AlertSettings(team_address=TEAM, topic_arn=TOPIC, site_origins=("https://www.example.co.jp",))


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(seconds * 1000)


def dormant(lead_id: str = "L1", owner: str | None = OWNER) -> Lead:
    since = NOW - 40 * DAY
    return Lead(lead_id=lead_id, email=f"{lead_id.lower()}@example.jp", registered_at=NOW - 400 * DAY,
                name="山田 太郎", company="株式会社さくら精機", owner=owner, segments={"dormant-no-visit": since},
                dormant_since=since, last={"page_view": since - 60 * DAY})


def visit(lead_id: str = "L1", at: int = NOW - 1000, kind: str = "page_view", ua: str = CHROME, n: int = 0) -> Event:
    return Event(id=f"ev-{lead_id}-{at}-{n}", kind=kind, ts=at, lead_id=lead_id, user_agent=ua, source="browser",
                 url="https://www.example.co.jp/product/", revisit=True)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def table() -> FakeAlertTable:
    return FakeAlertTable(leads={x.lead_id: x for x in (dormant("L1"), dormant("L2", owner=None))})


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def topic() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def alerting(table: FakeAlertTable, mailer: FakeMailer, topic: FakePublisher, clock: Clock) -> Alerting:
    config = FakeOwnerConfig(names={"dormant-no-visit": "登録90日以上・直近30日サイト訪問なし"})
    return Alerting(table, config, mailer, topic, SETTINGS, TOKYO, 400, now=clock, sleep=clock.sleep)


def test_a_returning_lead_tells_its_owner_once_by_mail_and_on_the_topic(
        alerting: Alerting, table: FakeAlertTable, mailer: FakeMailer, topic: FakePublisher) -> None:
    first = visit()
    table.events.append(first)
    assert alerting.process(first).status == "alerted"
    assert mailer.to() == [OWNER]
    (sent,) = mailer.sent
    assert sent.mail.from_address == "info@example.co.jp", "sent as the verified sender"
    assert "山田 太郎" in sent.subject and "登録90日以上・直近30日サイト訪問なし" in sent.text
    assert "List-Unsubscribe" not in sent.message, "mail to our own people is not marketing"
    assert [(t, "山田 太郎" in m) for t, _, m in topic.published] == [(TOPIC, True)]
    assert table.leads["L1"].reactivated_at == first.ts
    assert sorted(table.counted) == [("alert", "L1"), ("reactivated", "L1")]

    again = visit(at=NOW + HOUR)
    assert alerting.process(again).status == "throttled"
    assert alerting.process(first).status == "throttled", "a duplicate delivery of the alerted event"
    assert len(mailer.sent) == 1 and len(topic.published) == 1
    assert sorted(table.counted) == [("alert", "L1"), ("reactivated", "L1")], "counted once"


def test_after_the_window_the_next_return_alerts_again(alerting: Alerting, mailer: FakeMailer, clock: Clock) -> None:
    assert alerting.process(visit()).status == "alerted"
    clock.now += 13 * HOUR
    assert alerting.process(visit(at=clock.now - 1000)).status == "alerted"
    assert mailer.to() == [OWNER, OWNER]


def test_a_lead_without_an_owner_alerts_the_team(alerting: Alerting, mailer: FakeMailer) -> None:
    assert alerting.process(visit("L2")).status == "alerted"
    assert mailer.to() == [TEAM]


def test_a_bot_is_recorded_and_tells_nobody_and_a_person_then_does(
        alerting: Alerting, table: FakeAlertTable, mailer: FakeMailer, topic: FakePublisher) -> None:
    bot = visit(ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    outcome = alerting.process(bot)
    assert (outcome.status, outcome.reason) == ("suppressed", "bot")
    assert table.suppressed == {bot.id: "bot"}
    assert mailer.sent == [] and topic.published == [] and table.leads["L1"].reactivated_at is None
    assert alerting.process(visit(n=1)).status == "alerted", "control: a person alerts"


def test_a_mail_the_provider_refused_is_sent_on_the_retry_once(
        alerting: Alerting, mailer: FakeMailer, topic: FakePublisher) -> None:
    mailer.failures.append(NotSent("TooManyRequests", throttled=True))
    revisit = visit()
    with pytest.raises(NotSent):
        alerting.process(revisit)
    assert mailer.sent == [] and topic.published == []
    assert alerting.process(revisit).status == "alerted", "the retry of the same record resumes its alert"
    assert len(mailer.sent) == 1 and len(topic.published) == 1
    assert alerting.process(revisit).status == "throttled", "a third delivery: the alert is complete"
    assert len(mailer.sent) == 1 and len(topic.published) == 1


def test_a_failed_publish_after_the_mail_is_retried_without_a_second_mail(
        alerting: Alerting, mailer: FakeMailer, topic: FakePublisher) -> None:
    topic.failures.append(RuntimeError("SNS is down"))
    revisit = visit()
    with pytest.raises(RuntimeError):
        alerting.process(revisit)
    assert len(mailer.sent) == 1 and topic.published == []
    assert alerting.process(revisit).status == "alerted"
    assert len(mailer.sent) == 1 and len(topic.published) == 1


def test_a_click_is_judged_once_its_siblings_had_time_to_land(
        alerting: Alerting, table: FakeAlertTable, mailer: FakeMailer, clock: Clock) -> None:
    click = Event(id="click1", kind="email_click", ts=NOW, lead_id="L1", user_agent=CHROME, source="email",
                  message_id="win-back:0:L1", url="https://www.example.co.jp/", revisit=True)
    table.events.append(click)
    assert alerting.process(click).status == "alerted"
    assert clock.slept == [SETTINGS.click_settle_ms / 1000], "waited the settle time, on the injected clock"
    assert mailer.to() == [OWNER]


def test_a_revisit_of_a_lead_that_is_gone_is_skipped(alerting: Alerting, mailer: FakeMailer) -> None:
    assert alerting.process(visit("L404")).reason == "no_lead"
    assert alerting.process(visit("L1")).status == "alerted", "control"
    assert mailer.to() == [OWNER]
