"""The call-list run behind ports: read the open call tasks, close the ones followed up (and the ones
that left the lists unanswered), and mail each owner their list once a day.

``CallListRun`` holds the ports (``CallListTable``, ``reawake.mail.config.OwnerMailConfig``, the one
``Mailer``) and the clock; ``reawake.calllists.entry`` builds it from the DynamoDB, S3 and SES
adapters, the unit tests from the fakes in ``tests/fakes.py``. ``reawake.calllists.domain`` has the rules,
``reawake.calllists.store`` the once-per-day claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from reawake.calllists import domain as calllists
from reawake.calllists.domain import CallList, CallListSettings, CallTask, Plan
from reawake.core import clock
from reawake.core.durations import local_day
from reawake.core.leads import Lead
from reawake.core.scoring import band, current_score
from reawake.mail.config import MailConfig, OwnerMailConfig
from reawake.mail.mailer import Mailer, outgoing
from reawake.mail.render import RenderedEmail
from reawake.mail.transactional import render_transactional
from reawake.observability import count

logger = Logger(child=True)
CALL_LIST_TEMPLATE = "call-list"


class CallListTable(Protocol):
    """The table as the call lists use it (``reawake.calllists.store.CallListStore``)."""

    def open_tasks(self, days: Iterable[date], until_ms: int) -> Iterator[CallTask]: ...

    def get_leads(self, lead_ids: list[str]) -> dict[str, Lead]: ...

    def close(self, task: CallTask, reason: str, now_ms: int, status: str = "done") -> bool:
        """False when it was closed before (a re-run)."""

    def mark_listed(self, task: CallTask, day: date, now_ms: int) -> None: ...

    def claim(self, day: date, owner_key: str, list_id: str, count: int, now_ms: int) -> bool:
        """True when this run is to mail the list (nobody sent it, and no live claim on it)."""

    def mark_sent(self, day: date, owner_key: str, provider_id: str, now_ms: int) -> None: ...

    def count_task(self, owner: str | None, outcome: str, at_ms: int, tz: ZoneInfo) -> None: ...


@dataclass
class CallListRun:
    table: CallListTable
    config: OwnerMailConfig
    mailer: Mailer
    settings: CallListSettings
    tz: ZoneInfo
    now: Callable[[], int] = field(default=lambda: clock.now_ms())  # read when called: the stack's clock moves

    def plan(self, now_ms: int) -> Plan:
        """Today's lists (no writes)."""
        days = calllists.list_days(local_day(now_ms, self.tz), self.settings.lookback_days)
        tasks = list(self.table.open_tasks(days, now_ms))
        leads = self.table.get_leads([t.lead_id for t in tasks])
        scoring = self.config.scoring()
        scores = {lead_id: (current_score(lead, scoring, now_ms), band(lead, scoring, now_ms)) if scoring
                  else (lead.score, None) for lead_id, lead in leads.items()}
        return calllists.plan_lists(tasks, leads, now_ms, self.tz, self.settings, scores)

    def run(self, now_ms: int, *, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
        """Mail today's lists (each at most once a day); the summary of what went where. Raises
        RuntimeError naming the lists that could not be sent (the schedule retries the run)."""
        tz, db = self.tz, self.table
        today = local_day(now_ms, tz)
        summary: dict[str, Any] = {"day": today.isoformat(), "dry_run": dry_run, "lists": []}
        if not force and not calllists.is_list_day(today):
            logger.info("no call lists on a weekend or holiday", extra={"day": today.isoformat()})
            return {**summary, "skipped": "not a business day"}
        planned = self.plan(now_ms)
        if not dry_run:
            for task in planned.done:
                if db.close(task, "followed_up", now_ms):
                    db.count_task(task.owner, "done", now_ms, tz)
            # Tasks that left the lists unanswered since the last run (a week back covers the longest
            # run of Japanese holidays) are closed as expired, once each, for the report.
            gone = [today - timedelta(days=self.settings.lookback_days + n) for n in range(1, 8)]
            for task in db.open_tasks(gone, now_ms):
                if db.close(task, "not followed up in time", now_ms, status="expired"):
                    db.count_task(task.owner, "expired", now_ms, tz)
        for task in planned.unaddressed:
            logger.warning("call task for a lead without an owner and no TeamAlertAddress",
                           extra={"lead_id": task.lead_id, "task_id": task.task_id})
        failed = 0
        for call_list in planned.lists:
            try:
                status = "planned" if dry_run else self.deliver(call_list, now_ms)
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
        logger.info("call lists", extra={"day": summary["day"], "lists": len(planned.lists),
                                         "closed": len(planned.done), "dry_run": dry_run})
        return summary

    def deliver(self, call_list: CallList, now_ms: int) -> str:
        """Claim, mark the tasks listed, mail, mark sent: ``sent``, or ``already`` (sent or being sent)."""
        db = self.table
        if not db.claim(call_list.day, call_list.owner_key, call_list.id, len(call_list.entries), now_ms):
            return "already"
        for entry in call_list.entries:
            for task in entry.tasks:
                db.mark_listed(task, call_list.day, now_ms)
        rendered, mail = self.render(call_list, now_ms)
        provider_id = self.mailer.send(outgoing(rendered, call_list.to_address, now_ms=now_ms, tz=self.tz,
                                                from_address=mail.sender.from_address))
        db.mark_sent(call_list.day, call_list.owner_key, provider_id, self.now())
        logger.info("call list sent", extra={"list_id_day": call_list.day.isoformat(),
                                             "entries": len(call_list.entries),
                                             "to_team": call_list.owner_email is None})
        return "sent"

    def render(self, call_list: CallList, now_ms: int) -> tuple[RenderedEmail, MailConfig]:
        """(the rendered mail, the mail config) for a list."""
        mail = self.config.mail_config()
        if mail is None:
            raise RuntimeError("no config/mail.yaml in the config bucket (the sender of call lists): "
                               "run `reawake templates upload`")
        owner = self.config.owners().get_owner(call_list.owner_email)
        context = calllists.template_context(call_list, owner.name if owner else None, now_ms, self.tz,
                                             self.config.segment_names(), self.settings,
                                             self.config.segment_dimensions())
        return render_transactional(CALL_LIST_TEMPLATE, context, mail, call_list.id), mail
