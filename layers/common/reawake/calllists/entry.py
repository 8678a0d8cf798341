"""The call-list run (the CallListFunction's schedule, and `reawake calllists send|show`): the
schedule's input, and ``reawake.calllists.run.CallListRun`` over this container's adapters (the
table, the config bucket, SES)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from reawake.calllists.domain import CallList, CallListSettings, Plan
from reawake.calllists.run import CallListRun
from reawake.calllists.store import CallListStore
from reawake.core import clock
from reawake.core.aws import per_container
from reawake.core.settings import CallListFunctionSettings, get_settings
from reawake.core.store import table_store
from reawake.mail.config import MailConfig
from reawake.mail.mailer import SesMailer
from reawake.mail.render import RenderedEmail
from reawake.segments.definitions import owner_mail_config

store = per_container(table_store)
config = per_container(owner_mail_config)  # segments, scoring, mail.yaml and owners.yaml


def reset() -> None:
    """Forget the adapters built from the previous environment (tests, the local stack)."""
    store.cache_clear()
    config.cache_clear()


class RunIn(BaseModel):
    """The schedule's input (``{"now": <fire time>}``) or the CLI's."""

    model_config = ConfigDict(extra="ignore")
    now: AwareDatetime | None = None
    dry_run: bool = False
    force: bool = False  # also on a weekend or holiday (the CLI)


def call_list_settings() -> CallListSettings:
    env = get_settings(CallListFunctionSettings)
    return CallListSettings(
        team_address=env.team_alert_address,
        crm_url_template=env.crm_url_template,
        lookback_days=env.call_list_lookback_days,
    )


def call_list_run(settings: CallListSettings | None = None) -> CallListRun:
    return CallListRun(CallListStore(store()), config(), SesMailer(), settings or call_list_settings(),
                       get_settings().time_zone)


def handle(payload: dict[str, Any]) -> dict[str, Any]:
    body = RunIn.model_validate(payload or {})
    now_ms = int(body.now.timestamp() * 1000) if body.now else clock.now_ms()
    return run(now_ms, dry_run=body.dry_run, force=body.force)


def plan(now_ms: int, settings: CallListSettings | None = None) -> Plan:
    """Today's lists (no writes)."""
    return call_list_run(settings).plan(now_ms)


def run(now_ms: int, *, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    """Mail today's lists (each at most once a day); the summary of what went where."""
    return call_list_run().run(now_ms, dry_run=dry_run, force=force)


def render(call_list: CallList, settings: CallListSettings, now_ms: int) -> tuple[RenderedEmail, MailConfig]:
    """(the rendered mail, the mail config) for a list (`reawake calllists show --mail`)."""
    return call_list_run(settings).render(call_list, now_ms)
