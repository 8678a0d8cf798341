"""The alert function's work for one stream record (a revisit event): classify, end dormancy,
claim the lead's alert window, mail the owner (or the team) and publish to SNS.

Called by ``functions/alert/app.py`` through Powertools' ``BatchProcessor``: a record that raises
is reported in ``batchItemFailures`` and retried by Lambda (then sent to the on-failure queue);
the others of the batch are done. Every step is idempotent, so a retried or duplicated record
never alerts twice (``reawake.alerts.store``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from reawake.alerts import domain as alerts
from reawake.alerts.store import AlertStore, Claim
from reawake.core import clock
from reawake.core.aws import per_container
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.settings import AlertFunctionSettings, get_settings
from reawake.core.store import Store, event_from_item
from reawake.observability import count, count_by
from reawake.reports import counters

logger = Logger(child=True)
ALERT_TEMPLATE = "alert-revisit"


@dataclass(frozen=True)
class Outcome:
    status: str  # alerted | throttled | suppressed | skipped
    lead_id: str | None = None
    reason: str = ""


def alert_settings() -> alerts.AlertSettings:
    env = get_settings(AlertFunctionSettings)
    return alerts.AlertSettings(
        window_ms=int(env.alert_window_hours * alerts.HOUR_MS),
        crm_url_template=env.crm_url_template,
        team_address=env.team_alert_address,
        topic_arn=env.alert_topic_arn,
        scanner_seconds=env.scanner_click_seconds,
        click_settle_ms=env.alert_click_settle_ms,
        site_origins=env.site_origins,
    )


@per_container
def store() -> Store:
    return Store(get_settings().table_name)


@per_container
def config() -> Any:
    """The config bucket: segments and scoring (ConfigStore), templates' mail.yaml and owners.yaml."""
    from reawake.mail.templates import TemplateStore

    return TemplateStore(get_settings().config_bucket)


def reset() -> None:
    store.cache_clear()
    config.cache_clear()


def event_of(record: dict[str, Any]) -> Event | None:
    """The revisit event in a DynamoDB stream record (Lambda's shape), or None when it is not one."""
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image or "sk" not in image or not str(image["sk"].get("S", "")).startswith("EV#"):
        return None
    if "moved_from" in image:  # copied by `reawake migrate lead-ids`: not news
        return None
    event = event_from_item(image)
    if not event.revisit or not event.lead_id:
        return None
    return event


def handle_record(record: dict[str, Any]) -> Outcome:
    event = event_of(record)
    if event is None:
        logger.info("stream record is not a revisit", extra={"event_name": record.get("eventName")})
        return Outcome("skipped", reason="not_a_revisit")
    return measured(process(event, alert_settings()))


def measured(outcome: Outcome) -> Outcome:
    """Alerts sent, and suppressed by reason (a throttled one is suppressed by the window)."""
    if outcome.status == "alerted":
        count("AlertsSent")
    elif outcome.status in ("suppressed", "throttled"):
        count_by("AlertsSuppressed", outcome.reason or outcome.status)
    return outcome


def process(event: Event, settings: alerts.AlertSettings) -> Outcome:
    assert event.lead_id
    lead_id = event.lead_id
    db = AlertStore(store())
    lead = store().get_lead(lead_id)
    if lead is None:
        logger.warning("revisit of a lead that does not exist", extra={"lead_id": lead_id})
        return Outcome("skipped", lead_id, "no_lead")
    recent: list[Event] | None = None
    if event.kind == "email_click":
        # Judge a click once its siblings (a scanner's burst, the delivery notice) have had time to land.
        wait_ms = event.ts + settings.click_settle_ms - clock.now_ms()
        if wait_ms > 0:
            time.sleep(min(wait_ms, settings.click_settle_ms) / 1000)
        recent = db.recent_events(lead_id, event.ts - alerts.VISIT_GAP_MS)
    now = clock.now_ms()
    suppression = alerts.classify(event, recent or [], now, settings)
    if suppression is not None:
        expires = now // 1000 + get_settings().event_retention_days * 86_400
        db.record_suppressed(event, suppression.reason, suppression.detail, expires)
        logger.info("revisit suppressed", extra={"lead_id": lead_id, "reason": suppression.reason,
                                                 "event_kind": event.kind})
        return Outcome("suppressed", lead_id, suppression.reason)
    reactivated = db.reactivate(lead, event.ts)
    if reactivated is not None:
        counters.reactivated(store(), reactivated, event.ts, get_settings().time_zone)
        lead = reactivated
        logger.info("lead reactivated", extra={"lead_id": lead_id, "segments": sorted(lead.segments)})
    claim = db.claim(lead_id, event.id, alerts.alert_id(lead_id, now), now, alerts.window_start(now, settings))
    if claim is None:
        logger.info("revisit throttled", extra={"lead_id": lead_id})
        return Outcome("throttled", lead_id)
    if claim.new:
        counters.alert_sent(store(), lead, now, get_settings().time_zone)
    if recent is None:
        recent = db.recent_events(lead_id, event.ts - alerts.VISIT_GAP_MS)
    deliver(db, lead, event, recent, claim, settings)
    return Outcome("alerted", lead_id)


def deliver(db: AlertStore, lead: Lead, event: Event, recent: list[Event], claim: Claim,
            settings: alerts.AlertSettings) -> None:
    """Mail and SNS for a claimed alert; each marked done once it went out (a retry does the rest)."""
    from reawake.core.aws import client
    from reawake.core.scoring import band, current_score

    cfg = config()
    tz = get_settings().time_zone
    scoring = cfg.scoring()
    score = current_score(lead, scoring, claim.claimed_at) if scoring else lead.score
    lead_band = band(lead, scoring, claim.claimed_at) if scoring else None
    names = {d.id: d.name for d in cfg.segments()}
    owners = cfg.owners()
    owner = owners.get_owner(lead.owner)
    alert = alerts.build_alert(lead, event, recent, claim.claimed_at, settings, owner.name if owner else None,
                               names, score, lead_band)
    done: tuple[str, ...] = ()
    if not claim.mailed:
        if alert.to_address:
            send_mail(alert, lead, cfg, settings, claim.claimed_at)
        else:
            logger.warning("no owner and no TeamAlertAddress: the alert is only published",
                           extra={"lead_id": lead.lead_id})
        done = ("mailed_at",)
    if not claim.published:
        try:
            if settings.topic_arn:
                subject, message, attributes = alerts.sns_message(alert, tz, alerts.quiet_since(alert, lead, tz))
                client("sns").publish(TopicArn=settings.topic_arn, Subject=subject, Message=message,
                                      MessageAttributes=attributes)
        except Exception:
            if done:  # the mail went: a retry must only publish
                db.mark(lead.lead_id, claim, done, clock.now_ms())
            raise
        done = (*done, "published_at")
    if done:  # one write for both in the usual case
        db.mark(lead.lead_id, claim, done, clock.now_ms())
    logger.info("revisit alerted", extra={"lead_id": lead.lead_id, "alert_id": alert.id, "pages": len(alert.pages),
                                          "to_team": alert.owner_email is None, "band": alert.band})


def send_mail(alert: alerts.Alert, lead: Lead, cfg: Any, settings: alerts.AlertSettings, now_ms: int) -> None:
    from reawake.core.aws import client
    from reawake.mail.mime import build_message
    from reawake.mail.transactional import render_transactional

    mail = cfg.mail_config()
    if mail is None:
        raise RuntimeError("no config/mail.yaml in the config bucket (the sender of alert mail): "
                           "run `reawake templates upload`")
    tz = get_settings().time_zone
    context = alerts.template_context(alert, lead, tz, settings.window_ms / alerts.HOUR_MS)
    rendered = render_transactional(ALERT_TEMPLATE, context, mail, alert.id)
    raw = build_message(rendered, alert.to_address, now_ms=now_ms, tz=tz)
    client("sesv2").send_email(
        FromEmailAddress=mail.sender.from_address,
        Destination={"ToAddresses": [alert.to_address]},
        Content={"Raw": {"Data": raw}},
    )
