"""What the alert function does with one revisit, behind ports: classify it, end the lead's dormancy,
claim the lead's alert window, mail the owner (or the team) and publish to the sales topic.

``Alerting`` holds the ports (``AlertTable``, ``reawake.mail.config.OwnerMailConfig``, the one
``Mailer``, ``Publisher``) and the clock; ``reawake.alerts.entry`` builds it from DynamoDB, S3, SES
and SNS adapters, the unit tests from the fakes in ``tests/fakes.py``. Every step is idempotent
(``reawake.alerts.store``): a retried or duplicated record never alerts twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from reawake.alerts import domain as alerts
from reawake.alerts.store import Claim
from reawake.core import clock
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.scoring import band, current_score
from reawake.mail.config import OwnerMailConfig
from reawake.mail.mailer import Mailer, outgoing
from reawake.mail.transactional import render_transactional

logger = Logger(child=True)
ALERT_TEMPLATE = "alert-revisit"


class AlertTable(Protocol):
    """The table as alerts use it (``reawake.alerts.store.AlertStore``)."""

    def get_lead(self, lead_id: str) -> Lead | None: ...

    def recent_events(self, lead_id: str, since_ms: int) -> list[Event]: ...

    def record_suppressed(self, event: Event, reason: str, detail: str, expires_at: int) -> None: ...

    def reactivate(self, lead: Lead, at_ms: int) -> Lead | None:
        """The lead marked reactivated (once per dormancy), or None when there was nothing to do."""

    def claim(self, lead_id: str, event_id: str, alert_id: str, now_ms: int, window_start: int) -> Claim | None:
        """The alert this event may send (new, or its own unfinished one), or None (throttled)."""

    def mark(self, lead_id: str, claim: Claim, what: tuple[str, ...], now_ms: int) -> None: ...

    def count_reactivated(self, lead: Lead, at_ms: int, tz: ZoneInfo) -> None: ...

    def count_alert(self, lead: Lead, claimed_at: int, tz: ZoneInfo) -> None: ...


class Publisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> None:
        """One message on the topic (Slack / Chatbot subscribe to it)."""


@dataclass(frozen=True)
class Outcome:
    status: str  # alerted | throttled | suppressed | skipped
    lead_id: str | None = None
    reason: str = ""


@dataclass
class Alerting:
    table: AlertTable
    config: OwnerMailConfig
    mailer: Mailer
    publisher: Publisher
    settings: alerts.AlertSettings
    tz: ZoneInfo
    retention_days: int
    now: Callable[[], int] = field(default=lambda: clock.now_ms())  # read when called: the stack's clock moves
    sleep: Callable[[float], None] = field(default=time.sleep)

    def process(self, event: Event) -> Outcome:
        assert event.lead_id
        lead_id, settings, db = event.lead_id, self.settings, self.table
        lead = db.get_lead(lead_id)
        if lead is None:
            logger.warning("revisit of a lead that does not exist", extra={"lead_id": lead_id})
            return Outcome("skipped", lead_id, "no_lead")
        recent: list[Event] | None = None
        if event.kind == "email_click":
            # Judge a click once its siblings (a scanner's burst, the delivery notice) have had time to land.
            wait_ms = event.ts + settings.click_settle_ms - self.now()
            if wait_ms > 0:
                self.sleep(min(wait_ms, settings.click_settle_ms) / 1000)
            recent = db.recent_events(lead_id, event.ts - alerts.VISIT_GAP_MS)
        now = self.now()
        suppression = alerts.classify(event, recent or [], now, settings)
        if suppression is not None:
            db.record_suppressed(event, suppression.reason, suppression.detail,
                                 now // 1000 + self.retention_days * 86_400)
            logger.info("revisit suppressed", extra={"lead_id": lead_id, "reason": suppression.reason,
                                                     "event_kind": event.kind})
            return Outcome("suppressed", lead_id, suppression.reason)
        reactivated = db.reactivate(lead, event.ts)
        if reactivated is not None:
            db.count_reactivated(reactivated, event.ts, self.tz)
            lead = reactivated
            logger.info("lead reactivated", extra={"lead_id": lead_id, "segments": sorted(lead.segments)})
        claim = db.claim(lead_id, event.id, alerts.alert_id(lead_id, now), now, alerts.window_start(now, settings))
        if claim is None:
            logger.info("revisit throttled", extra={"lead_id": lead_id})
            return Outcome("throttled", lead_id)
        if claim.new:
            db.count_alert(lead, now, self.tz)
        if recent is None:
            recent = db.recent_events(lead_id, event.ts - alerts.VISIT_GAP_MS)
        self.deliver(lead, event, recent, claim)
        return Outcome("alerted", lead_id)

    def deliver(self, lead: Lead, event: Event, recent: list[Event], claim: Claim) -> None:
        """Mail and SNS for a claimed alert; each marked done once it went out (a retry does the rest)."""
        settings, cfg = self.settings, self.config
        scoring = cfg.scoring()
        score = current_score(lead, scoring, claim.claimed_at) if scoring else lead.score
        lead_band = band(lead, scoring, claim.claimed_at) if scoring else None
        names = cfg.segment_names()
        owner = cfg.owners().get_owner(lead.owner)
        alert = alerts.build_alert(lead, event, recent, claim.claimed_at, settings, owner.name if owner else None,
                                   names, score, lead_band)
        done: tuple[str, ...] = ()
        if not claim.mailed:
            if alert.to_address:
                self.send_mail(alert, lead, claim.claimed_at)
            else:
                logger.warning("no owner and no TeamAlertAddress: the alert is only published",
                               extra={"lead_id": lead.lead_id})
            done = ("mailed_at",)
        if not claim.published:
            try:
                if settings.topic_arn:
                    subject, message, attributes = alerts.sns_message(alert, self.tz,
                                                                      alerts.quiet_since(alert, lead, self.tz))
                    self.publisher.publish(settings.topic_arn, subject, message, attributes)
            except Exception:
                if done:  # the mail went: a retry must only publish
                    self.table.mark(lead.lead_id, claim, done, self.now())
                raise
            done = (*done, "published_at")
        if done:  # one write for both in the usual case
            self.table.mark(lead.lead_id, claim, done, self.now())
        logger.info("revisit alerted", extra={"lead_id": lead.lead_id, "alert_id": alert.id,
                                              "pages": len(alert.pages), "to_team": alert.owner_email is None,
                                              "band": alert.band})

    def send_mail(self, alert: alerts.Alert, lead: Lead, now_ms: int) -> None:
        mail = self.config.mail_config()
        if mail is None:
            raise RuntimeError("no config/mail.yaml in the config bucket (the sender of alert mail): "
                               "run `reawake templates upload`")
        context = alerts.template_context(alert, lead, self.tz, self.settings.window_ms / alerts.HOUR_MS)
        rendered = render_transactional(ALERT_TEMPLATE, context, mail, alert.id)
        self.mailer.send(outgoing(rendered, alert.to_address, now_ms=now_ms, tz=self.tz,
                                  from_address=mail.sender.from_address))
