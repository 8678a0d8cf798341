"""The alert function's entry: the revisit event in one stream record, handed to
``reawake.alerts.alerting.Alerting`` (classify, end dormancy, claim the lead's alert window, mail
the owner or the team, publish to SNS) over this container's adapters: the table, the config
bucket, SES (``reawake.mail.mailer``) and SNS.

Called by ``functions/alert/app.py`` through Powertools' ``BatchProcessor``: a record that raises
is reported in ``batchItemFailures`` and retried by Lambda (then sent to the on-failure queue);
the others of the batch are done. Every step is idempotent, so a retried or duplicated record
never alerts twice (``reawake.alerts.store``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from reawake.alerts import domain as alerts
from reawake.alerts.alerting import Alerting, Outcome
from reawake.alerts.store import AlertStore
from reawake.core.aws import per_container
from reawake.core.events import Event
from reawake.core.settings import AlertFunctionSettings, get_settings
from reawake.core.store import event_from_item, table_store
from reawake.mail.mailer import SesMailer
from reawake.observability import count, count_by
from reawake.segments.definitions import owner_mail_config

logger = Logger(child=True)


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


store = per_container(table_store)
config = per_container(owner_mail_config)  # segments, scoring, mail.yaml and owners.yaml


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
    return measured(process(event))


def measured(outcome: Outcome) -> Outcome:
    """Alerts sent, and suppressed by reason (a throttled one is suppressed by the window)."""
    if outcome.status == "alerted":
        count("AlertsSent")
    elif outcome.status in ("suppressed", "throttled"):
        count_by("AlertsSuppressed", outcome.reason or outcome.status)
    return outcome


def alerting(settings: alerts.AlertSettings | None = None) -> Alerting:
    """The alert work over this container's adapters: the table, the config bucket, SES, SNS."""
    return Alerting(AlertStore(store()), config(), SesMailer(), SnsPublisher(), settings or alert_settings(),
                    get_settings().time_zone, get_settings().event_retention_days)


def process(event: Event, settings: alerts.AlertSettings | None = None) -> Outcome:
    return alerting(settings).process(event)


class SnsPublisher:
    """``alerting.Publisher`` through SNS (this container's client)."""

    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> None:
        from reawake.core.aws import client

        client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=message, MessageAttributes=attributes)
