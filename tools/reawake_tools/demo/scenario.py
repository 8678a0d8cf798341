"""The stack's side of `reawake demo`, each step returning what happened: the leads imported with
the CSV importers, the segment run (as `reawake segments run`), the sequences' first mails after
a jump of the stack clock, and the clicked lead's sequence ending at its next step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from reawake.stepmail.enrollment import Enrollment
from reawake_tools.demo.history import DemoLead, activities_csv, demo_leads, leads_csv
from reawake_tools.demo.stage import Stage, StepFailed, enrollments, mails_to, next_wake
from reawake_tools.demo.visitor import Clicked
from reawake_tools.local.scheduler import send_slot_at_or_after

# --- 1. leads with a year of history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    run_id: str
    leads: list[DemoLead]
    activities: int
    files: tuple[Path, Path]
    owner_names: dict[str, str]  # owner email -> name (config/owners.yaml in the config bucket)

    def lead(self, role: str) -> DemoLead:
        return next(x for x in self.leads if x.role == role)


def import_leads(stage: Stage) -> Imported:
    """Write the run's two CSV files and import them as `reawake leads import` and
    `reawake activities import` do (at the stack's now)."""
    from reawake.core.config_store import ConfigStore
    from reawake.mail.templates import TemplateStore
    from reawake_tools.imports.activities import import_activities_file
    from reawake_tools.imports.leads import import_csv_file

    settings, now = stage.settings, stage.now()
    owners = TemplateStore(settings.config_bucket).owners()
    leads = demo_leads(stage.run_id, now, list(owners))
    folder = stage.work_dir / stage.run_id
    folder.mkdir(parents=True, exist_ok=True)
    leads_file, activities_file = folder / "leads.csv", folder / "activities.csv"
    leads_file.write_text(leads_csv(leads), encoding="utf-8")
    activities_file.write_text(activities_csv(leads), encoding="utf-8")
    now_ms = int(now.timestamp() * 1000)
    report = import_csv_file(stage.store, leads_file, settings, now_ms)
    history = import_activities_file(stage.store, activities_file, settings, now_ms,
                                     scoring=ConfigStore(settings.config_bucket).scoring())
    rejected = [str(issue) for issue in report.rejected + history.rejected]
    if rejected or report.created != len(leads):
        raise StepFailed(f"{report.created} of {len(leads)} leads created; rejected: {'; '.join(rejected) or 'none'}")
    return Imported(stage.run_id, leads, history.recorded, (leads_file, activities_file),
                    {email: owner.name for email, owner in owners.items()})


# --- 2. the segment run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmented:
    entered: dict[str, tuple[str, ...]]  # role -> definitions entered
    names: dict[str, str]  # definition id -> name
    approaches: dict[str, str]  # definition id -> "sequence webinar-invite", "watch", ...
    scanned: int
    seconds: float


def run_segments(stage: Stage, imported: Imported) -> Segmented:
    """Start the segment state machine at the stack's now and wait, as `reawake segments run`."""
    from reawake.core.aws import client
    from reawake.segments.definitions import SegmentConfig
    from reawake_tools.commands import Stop, state_machine_arn
    from reawake_tools.commands.segments import execution_input
    from reawake_tools.local.stepfunctions import wait_for

    try:
        arn = state_machine_arn(stage.info, None, "SegmentStateMachine")
    except Stop as exc:
        raise StepFailed(str(exc)) from exc
    sfn = client("stepfunctions")
    began = time.monotonic()
    payload = execution_input(stage.now_ms(), None, stage.settings.time_zone)
    execution = sfn.start_execution(stateMachineArn=arn, name=f"demo-{stage.run_id}", input=json.dumps(payload))
    try:
        described = wait_for(sfn, execution["executionArn"], timeout=stage.timeout)
    except TimeoutError as exc:
        raise StepFailed(str(exc)) from exc
    if described["status"] != "SUCCEEDED":
        raise StepFailed(f"the segment run {described['status']}: {described.get('cause', '')}")
    summary = json.loads(described.get("output") or "{}")
    definitions = SegmentConfig(stage.settings.config_bucket).segments()
    entered = {}
    for person in imported.leads:
        lead = stage.store.lead_by_email(person.email)
        entered[person.role] = tuple(d.id for d in definitions if lead is not None and d.id in lead.segments)
    approaches = {d.id: " ".join(x for x in (d.approach.type, getattr(d.approach, "sequence", None)) if x)
                  for d in definitions}
    return Segmented(entered, {d.id: d.name for d in definitions}, approaches, int(summary.get("scanned", 0)),
                     time.monotonic() - began)


# --- 3. the sequences send ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    role: str
    to: str
    subject: str
    sent_at: datetime | None
    step: str  # "webinar-invite #1"
    path: Path


@dataclass(frozen=True)
class Sent:
    slot: datetime | None  # where the clock was moved (None: it was in a send window already)
    mails: list[Mail]


def send_first_mails(stage: Stage, imported: Imported) -> Sent:
    """Jump the clock to the enrolled leads' first send slot and wait for each one's first mail."""
    from reawake.stepmail import entry as stepmail_entry

    sequences = stepmail_entry.sequence_config().sequences()
    enrolled = {role: (e, lead) for role, (e, lead) in enrollments(stage, imported.leads).items()
                if e.sequence in sequences and sequences[e.sequence].steps[0].kind == "email"}
    if not enrolled:
        raise StepFailed("no demo lead was enrolled in a sequence that starts with a mail")
    now_ms = stage.now_ms()
    # Only enrollments that have not sent yet: for the others the next wake is a later step.
    slots = [t for e, lead in enrolled.values() if not e.steps and (t := next_wake(e, lead, now_ms)) is not None]
    due = max(slots, default=now_ms)
    # Due times are not aligned to the slots: the mail goes out at the first slot at or after it.
    slot = send_slot_at_or_after(stage.info, due) if slots else due
    moved = stage.jump_to(slot) if slot > now_ms else None
    jumped = moved if due > now_ms + 60_000 else None  # seconds away: "already in a send window"
    mails = []
    for role in enrolled:
        email = imported.lead(role).email
        first = stage.wait(f"the first mail to {email}", partial(mails_to, stage, email))[0]
        mails.append(Mail(role, email, first.subject, first.sent_at, first.sequence_step, first.path))
    return Sent(jumped, sorted(mails, key=lambda m: (m.sent_at or datetime.min.replace(tzinfo=UTC), m.to)))


# --- 6. the sequence stops; the others go on ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    moment: datetime  # the stack time the clicker's next step was due
    status: str
    reason: str | None
    mails_after_click: int  # sequence mail to the clicker after the click (none)
    tasks: list[tuple[str, str, datetime]]  # (role, owner, due) of the owners' call tasks so far


def sequence_ends(stage: Stage, imported: Imported, clicked: Clicked) -> Ended:
    """Jump to when the clicker's next step was due: its execution wakes and exits (revisit)."""
    from reawake.stepmail.store import StepmailStore

    if clicked.next_wake_ms is None:
        raise StepFailed("the clicked lead's sequence had no next step to stop")
    moment = stage.jump_to(send_slot_at_or_after(stage.info, clicked.next_wake_ms))  # the slot that wakes it
    stepmail = StepmailStore(stage.store)

    def ended() -> Enrollment | None:
        found = [e for e in stepmail.enrollments(clicked.lead_id) if e.status != "active"]
        return found[0] if found else None

    enrollment = stage.wait("the clicked lead's sequence to end", ended)
    stage.wait("the other sequences' steps due by then", lambda: settled(stage, imported))
    clicked_ms = int(clicked.clicked_at.timestamp() * 1000)
    after = [m for m in mails_to(stage, imported.lead(clicked.role).email)
             if m.sent_at is not None and m.sent_at.timestamp() * 1000 > clicked_ms]
    tasks = []
    for person in imported.leads:
        for task in stepmail.tasks(stage.store.lead_id_of(person.email) or ""):
            due = datetime.fromtimestamp(int(task.get("due_at") or 0) / 1000, UTC)
            tasks.append((person.role, str(task.get("owner") or ""), due))
    if (enrollment.status, enrollment.reason) != ("exited", "revisit") or after:
        raise StepFailed(f"the sequence ended {enrollment.status} ({enrollment.reason}) with {len(after)} mail(s) "
                         "after the click, not exited by the revisit")
    return Ended(moment, enrollment.status, enrollment.reason, len(after), tasks)


def settled(stage: Stage, imported: Imported) -> bool:
    """Every demo enrollment still active waits for a later moment: nothing due is left undone."""
    now_ms = stage.now_ms()
    return all((t := next_wake(e, lead, now_ms)) is not None and t > now_ms
               for e, lead in enrollments(stage, imported.leads).values())


# --- 7. the next business morning: the owner's call list ---------------------------------------------------


@dataclass(frozen=True)
class CallListed:
    moment: datetime  # when the morning schedule fired
    role: str
    to: str
    subject: str
    lines: list[str]  # the lead's entry in the list


def next_call_list_moment(after_ms: int) -> int:
    """When the template's CallListSchedule next mails lists (its default cron; holidays skipped)."""
    from zoneinfo import ZoneInfo

    from reawake.calllists.domain import is_list_day
    from reawake_tools.local.scheduler import parse_expression
    from reawake_tools.local.template import load_template

    template = load_template()
    expression = parse_expression(template["Parameters"]["CallListSchedule"]["Default"])
    tz = ZoneInfo(template["Parameters"]["TimeZone"]["Default"])
    fire = expression.next_after(datetime.fromtimestamp(after_ms / 1000, UTC), tz)
    while fire is not None and not is_list_day(fire.date()):
        fire = expression.next_after(fire, tz)
    if fire is None:
        raise StepFailed("CallListSchedule never fires")
    return int(fire.timestamp() * 1000)


def entry_lines(text: str, name: str) -> list[str]:
    """The lines of one lead's entry in a call list's text part."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if f"{name}様" in line), None)
    if start is None:
        return []
    entry = [lines[start].strip()]
    for line in lines[start + 1:]:
        if not line.startswith("   "):
            break
        entry.append(line.strip())
    return entry


def morning_call_list(stage: Stage, imported: Imported, ended: Ended) -> CallListed:
    """Jump to the next morning's call-list schedule after the call task: the owner's list has the lead."""
    from reawake_tools.local.outbox import part

    if not ended.tasks:
        raise StepFailed("no call task was written for the owner (definition ③'s lead)")
    role, owner, due = ended.tasks[0]
    person = imported.lead(role)
    fires_ms = next_call_list_moment(max(stage.now_ms(), int(due.timestamp() * 1000)))
    moment = stage.jump_to(fires_ms)

    def listed() -> tuple[str, list[str]] | None:
        for mail in mails_to(stage, owner):
            # That morning's list: an earlier day's, mailed late when a jump passed its time, is not the one told
            if "コールリスト" in mail.subject and mail.sent_at and mail.sent_at.timestamp() * 1000 >= fires_ms:
                entry = entry_lines(part(mail.message(), "plain"), person.name)
                if entry:
                    return mail.subject, entry
        return None

    subject, lines = stage.wait(f"{owner}'s call list with {person.name}", listed)
    return CallListed(moment, role, owner, subject, lines)
