"""The call-list run (the CallListFunction's schedule, and `reawake calllists send|show`): read the
open call tasks, close the ones followed up, and mail each owner their list once
(``reawake.calllists.domain`` has the rules, ``reawake.calllists.store`` the once-per-day claim)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import AwareDatetime, BaseModel, ConfigDict

from reawake.alerts.entry import config, store  # the same cached adapters as the owners' alerts
from reawake.calllists import domain as calllists
from reawake.calllists.domain import CallList, CallListSettings, Plan
from reawake.calllists.store import CallListStore
from reawake.core import clock
from reawake.core.durations import local_day
from reawake.core.settings import CallListFunctionSettings, get_settings
from reawake.observability import count
from reawake.reports import counters

logger = Logger(child=True)
CALL_LIST_TEMPLATE = "call-list"


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


def handle(payload: dict[str, Any]) -> dict[str, Any]:
    body = RunIn.model_validate(payload or {})
    now_ms = int(body.now.timestamp() * 1000) if body.now else clock.now_ms()
    return run(now_ms, dry_run=body.dry_run, force=body.force)


def plan(now_ms: int, settings: CallListSettings) -> Plan:
    """Today's lists (no writes)."""
    from reawake.core.scoring import band, current_score

    tz = get_settings().time_zone
    db = CallListStore(store())
    tasks = list(db.open_tasks(calllists.list_days(local_day(now_ms, tz), settings.lookback_days), now_ms))
    leads = store().get_leads([t.lead_id for t in tasks])
    scoring = config().scoring()
    scores = {lead_id: (current_score(lead, scoring, now_ms), band(lead, scoring, now_ms)) if scoring
              else (lead.score, None) for lead_id, lead in leads.items()}
    return calllists.plan_lists(tasks, leads, now_ms, tz, settings, scores)


def run(now_ms: int, *, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    """Mail today's lists (each at most once a day); the summary of what went where."""
    tz = get_settings().time_zone
    today = local_day(now_ms, tz)
    summary: dict[str, Any] = {"day": today.isoformat(), "dry_run": dry_run, "lists": []}
    if not force and not calllists.is_list_day(today):
        logger.info("no call lists on a weekend or holiday", extra={"day": today.isoformat()})
        return {**summary, "skipped": "not a business day"}
    settings = call_list_settings()
    planned = plan(now_ms, settings)
    db = CallListStore(store())
    if not dry_run:
        for task in planned.done:
            if db.close(task, "followed_up", now_ms):
                counters.call_task(store(), task.owner, "done", now_ms, tz)
        # Tasks that left the lists unanswered since the last run (a week back covers the longest
        # run of Japanese holidays) are closed as expired, once each, for the report.
        gone = [today - timedelta(days=settings.lookback_days + n) for n in range(1, 8)]
        for task in db.open_tasks(gone, now_ms):
            if db.close(task, "not followed up in time", now_ms, status="expired"):
                counters.call_task(store(), task.owner, "expired", now_ms, tz)
    for task in planned.unaddressed:
        logger.warning("call task for a lead without an owner and no TeamAlertAddress",
                       extra={"lead_id": task.lead_id, "task_id": task.task_id})
    failed = 0
    for call_list in planned.lists:
        try:
            status = "planned" if dry_run else deliver(db, call_list, settings, now_ms)
            count("CallListsSent", int(status == "sent"))
        except Exception:  # one owner's failure must not keep the others' lists back
            logger.exception("call list failed", extra={"to_team": call_list.owner_email is None})
            status, failed = "failed", failed + 1
        summary["lists"].append({"owner": call_list.owner_key, "to": call_list.to_address, "status": status,
                                 "new": len(call_list.new), "carried_over": len(call_list.carried),
                                 "lead_ids": [e.lead.lead_id for e in call_list.entries]})
    if failed:  # the schedule retries the run; lists already sent are skipped then
        raise RuntimeError(f"{failed} call list(s) could not be sent: {summary['lists']}")
    summary["closed"] = len(planned.done)
    summary["unaddressed"] = len(planned.unaddressed)
    logger.info("call lists", extra={"day": summary["day"], "lists": len(planned.lists), "closed": len(planned.done),
                                     "dry_run": dry_run})
    return summary


def deliver(db: CallListStore, call_list: CallList, settings: CallListSettings, now_ms: int) -> str:
    """Claim, mark the tasks listed, mail, mark sent: ``sent``, or ``already`` (sent or being sent)."""
    if not db.claim(call_list.day, call_list.owner_key, call_list.id, len(call_list.entries), now_ms):
        return "already"
    for entry in call_list.entries:
        for task in entry.tasks:
            db.mark_listed(task, call_list.day, now_ms)
    provider_id = send_mail(call_list, settings, now_ms)
    db.mark_sent(call_list.day, call_list.owner_key, provider_id, clock.now_ms())
    logger.info("call list sent", extra={"list_id_day": call_list.day.isoformat(), "entries": len(call_list.entries),
                                         "to_team": call_list.owner_email is None})
    return "sent"


def render(call_list: CallList, settings: CallListSettings, now_ms: int) -> tuple[Any, Any]:
    """(the rendered mail, the mail config) for a list."""
    from reawake.mail.transactional import render_transactional

    cfg = config()
    mail = cfg.mail_config()
    if mail is None:
        raise RuntimeError("no config/mail.yaml in the config bucket (the sender of call lists): "
                           "run `reawake templates upload`")
    owner = cfg.owners().get_owner(call_list.owner_email)
    definitions = cfg.segments()
    names = {d.id: d.name for d in definitions}
    context = calllists.template_context(call_list, owner.name if owner else None, now_ms,
                                         get_settings().time_zone, names, settings,
                                         calllists.read_dimensions(definitions))
    return render_transactional(CALL_LIST_TEMPLATE, context, mail, call_list.id), mail


def send_mail(call_list: CallList, settings: CallListSettings, now_ms: int) -> str:
    from reawake.core.aws import client
    from reawake.mail.mime import build_message

    rendered, mail = render(call_list, settings, now_ms)
    raw = build_message(rendered, call_list.to_address, now_ms=now_ms, tz=get_settings().time_zone)
    response = client("sesv2").send_email(
        FromEmailAddress=mail.sender.from_address,
        Destination={"ToAddresses": [call_list.to_address]},
        Content={"Raw": {"Data": raw}},
    )
    return str(response.get("MessageId", ""))
