"""In-memory fakes of the ports between the features and AWS: the one mailer
(``reawake.mail.mailer.Mailer``), the alert function's table and topic
(``reawake.alerts.alerting``) and the call lists' table (``reawake.calllists.run``), and the
config bucket as both read it. They keep the adapters' promises (a claim is won once per window,
a list once per day, a task closes once) so the domain is tested without moto; the component tests
hold the real adapters to the same outcomes."""

from __future__ import annotations

import email
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reawake.alerts.store import Claim
from reawake.calllists.domain import CallTask
from reawake.calllists.store import STALE_CLAIM_MS
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig
from reawake.mail.config import MailConfig, OwnerDirectory, load_mail_config_file, load_owners_file
from reawake.mail.mailer import Outgoing

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sent:
    mail: Outgoing
    tags: dict[str, str]

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.mail.raw)

    @property
    def subject(self) -> str:
        return str(make_header(decode_header(self.message["Subject"])))

    @property
    def text(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode("utf-8")
        return ""


@dataclass
class FakeMailer:
    """``Mailer``: keeps what was sent; ``failures`` are raised by the next sends, in order."""

    sent: list[Sent] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def send(self, mail: Outgoing, tags: Mapping[str, str] | None = None) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Sent(mail, dict(tags or {})))
        return f"fake-{len(self.sent)}"

    def to(self) -> list[str]:
        return [s.mail.to for s in self.sent]


@dataclass
class FakePublisher:
    """``alerting.Publisher``: keeps (topic, subject, message); ``failures`` as FakeMailer's."""

    published: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.published.append((topic_arn, subject, message))


@dataclass
class FakeOwnerConfig:
    """The config bucket as alerts and call lists read it: the repository's mail.yaml and owners.yaml."""

    scoring_config: ScoringConfig | None = None
    names: dict[str, str] = field(default_factory=dict)
    dimensions: dict[str, frozenset[str]] = field(default_factory=dict)
    mail: MailConfig | None = field(default_factory=lambda: load_mail_config_file(ROOT / "config" / "mail.yaml"))
    directory: OwnerDirectory = field(default_factory=lambda: load_owners_file(ROOT / "config" / "owners.yaml"))

    def scoring(self) -> ScoringConfig | None:
        return self.scoring_config

    def segment_names(self) -> Mapping[str, str]:
        return self.names

    def segment_dimensions(self) -> Mapping[str, frozenset[str]]:
        return self.dimensions

    def owners(self) -> OwnerDirectory:
        return self.directory

    def mail_config(self) -> MailConfig | None:
        return self.mail


@dataclass
class FakeAlertTable:
    """``alerting.AlertTable`` in memory, with the adapter's once-per-window claim."""

    leads: dict[str, Lead] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    suppressed: dict[str, str] = field(default_factory=dict)  # event id -> reason
    throttle: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead id -> the ALERT item
    counted: list[tuple[str, str]] = field(default_factory=list)  # (what, lead id)

    def get_lead(self, lead_id: str) -> Lead | None:
        return self.leads.get(lead_id)

    def recent_events(self, lead_id: str, since_ms: int) -> list[Event]:
        return sorted((e for e in self.events if e.lead_id == lead_id and e.ts >= since_ms), key=lambda e: e.ts)

    def record_suppressed(self, event: Event, reason: str, detail: str, expires_at: int) -> None:
        self.suppressed[event.id] = reason

    def reactivate(self, lead: Lead, at_ms: int) -> Lead | None:
        current = self.leads[lead.lead_id]
        if current.dormant_since is None or (current.reactivated_at or -1) >= current.dormant_since:
            return None
        after = replace(current, reactivated_at=at_ms, version=current.version + 1)
        self.leads[lead.lead_id] = after
        return after

    def claim(self, lead_id: str, event_id: str, alert_id: str, now_ms: int, window_start: int) -> Claim | None:
        item = self.throttle.get(lead_id)
        if item is None or (item["last_alert_at"] < window_start and item["claim_event"] != event_id):
            self.throttle[lead_id] = {"last_alert_at": now_ms, "claim_event": event_id, "alert_id": alert_id}
            return Claim(alert_id, now_ms, new=True)
        if item["claim_event"] != event_id:
            return None
        claim = Claim(item["alert_id"], item["last_alert_at"], "mailed_at" in item, "published_at" in item)
        return None if claim.done else claim

    def mark(self, lead_id: str, claim: Claim, what: tuple[str, ...], now_ms: int) -> None:
        item = self.throttle[lead_id]
        assert item["alert_id"] == claim.alert_id, "the adapter's condition: the same alert"
        item.update({w: now_ms for w in what})

    def count_reactivated(self, lead: Lead, at_ms: int, tz: ZoneInfo) -> None:
        self.counted.append(("reactivated", lead.lead_id))

    def count_alert(self, lead: Lead, claimed_at: int, tz: ZoneInfo) -> None:
        self.counted.append(("alert", lead.lead_id))


@dataclass
class FakeCallListTable:
    """``run.CallListTable`` in memory: open tasks by due day, a task closes once, a list is claimed
    once per owner and day (a claim of a run that died is taken over once it is stale)."""

    tz: ZoneInfo
    leads: dict[str, Lead] = field(default_factory=dict)
    tasks: dict[str, CallTask] = field(default_factory=dict)  # task id -> the open task
    closed: dict[str, str] = field(default_factory=dict)  # task id -> status
    listed: dict[str, str] = field(default_factory=dict)  # task id -> last listed day
    lists: dict[tuple[date, str], dict[str, Any]] = field(default_factory=dict)
    counted: list[tuple[str | None, str]] = field(default_factory=list)

    def add(self, *tasks: CallTask) -> None:
        self.tasks.update({t.task_id: t for t in tasks})

    def open_tasks(self, days: Iterable[date], until_ms: int) -> Iterator[CallTask]:
        from reawake.core.durations import local_day

        wanted = set(days)
        for task in list(self.tasks.values()):
            if task.task_id in self.closed or task.due_at > until_ms:
                continue
            if local_day(task.due_at, self.tz) in wanted:
                yield task

    def get_leads(self, lead_ids: list[str]) -> dict[str, Lead]:
        return {i: self.leads[i] for i in lead_ids if i in self.leads}

    def close(self, task: CallTask, reason: str, now_ms: int, status: str = "done") -> bool:
        if task.task_id in self.closed:
            return False
        self.closed[task.task_id] = status
        return True

    def mark_listed(self, task: CallTask, day: date, now_ms: int) -> None:
        self.listed[task.task_id] = day.isoformat()
        if self.tasks[task.task_id].listed_at is None:
            self.tasks[task.task_id] = replace(task, listed_at=now_ms)

    def claim(self, day: date, owner_key: str, list_id: str, count: int, now_ms: int) -> bool:
        found = self.lists.get((day, owner_key))
        if found is not None and (found["status"] != "claimed" or found["claimed_at"] >= now_ms - STALE_CLAIM_MS):
            return False
        self.lists[(day, owner_key)] = {"status": "claimed", "claimed_at": now_ms, "list_id": list_id, "entries": count}
        return True

    def mark_sent(self, day: date, owner_key: str, provider_id: str, now_ms: int) -> None:
        self.lists[(day, owner_key)].update(status="sent", ses_message_id=provider_id)

    def count_task(self, owner: str | None, outcome: str, at_ms: int, tz: ZoneInfo) -> None:
        self.counted.append((owner, outcome))
