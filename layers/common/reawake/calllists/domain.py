"""Owner call lists, the domain: pure functions, ``now`` passed in.

An ``owner_task`` step of a sequence (definition ③ and the others whose approach is
``owner_task``) writes a call task for the lead's salesperson when the step comes due. Every
business morning each owner gets one mail listing their open call tasks:

- **new**: due since the last list (not listed yet), hottest lead first;
- **carried over**: listed before and still not followed up, oldest first, for ``lookback_days``
  after they came due (then they drop off the list; the task record stays).

A task is *done* once the lead has a sales contact (``sales_followup`` or ``sales_conversation``,
reported through ``POST /v1/activities`` or the activities CSV) at or after the task was created:
it leaves the list for good. The list goes to the lead's current owner (ownership may have changed
since the task was written); a lead without an owner goes to the team address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from reawake.core.durations import local_day
from reawake.core.holidays_jp import is_holiday
from reawake.core.kinds import VISIT_KINDS
from reawake.core.leads import Lead, went_quiet
from reawake.mail.lead_facts import band_ja, crm_url, day, describe

#: A sales contact at or after the task's creation closes it.
FOLLOWED_UP_KINDS = ("sales_followup", "sales_conversation")
#: Activities that are a person-to-person contact, for "last contact".
CONTACT_KINDS = ("sales_conversation", "sales_followup", "form_submit", "webinar_application")
WEEKDAYS_JA = "月火水木金土日"


@dataclass(frozen=True)
class CallListSettings:
    team_address: str = ""
    crm_url_template: str = ""
    lookback_days: int = 14


@dataclass(frozen=True)
class CallTask:
    """A ``TASK#`` record as the call list reads it."""

    lead_id: str
    task_id: str
    sequence: str
    segment_id: str | None
    kind: str
    note: str | None
    owner: str | None  # the owner when the task was written
    due_at: int
    created_at: int
    listed_at: int | None = None


@dataclass(frozen=True)
class CallEntry:
    tasks: tuple[CallTask, ...]  # the earliest first; more when several sequences ask for the same call
    lead: Lead
    carried_over: bool
    score: float
    band: str | None

    @property
    def task(self) -> CallTask:
        return self.tasks[0]


@dataclass(frozen=True)
class CallList:
    day: date
    owner_email: str | None  # None: leads without an owner, sent to the team
    to_address: str
    entries: tuple[CallEntry, ...]

    @property
    def owner_key(self) -> str:
        return self.owner_email or "team"

    @property
    def id(self) -> str:
        """Also the mail's Message-ID seed: a re-sent list keeps its Message-ID."""
        return f"calllist:{self.day.isoformat()}:{self.owner_key}"

    @property
    def new(self) -> tuple[CallEntry, ...]:
        return tuple(e for e in self.entries if not e.carried_over)

    @property
    def carried(self) -> tuple[CallEntry, ...]:
        return tuple(e for e in self.entries if e.carried_over)


@dataclass(frozen=True)
class Plan:
    lists: tuple[CallList, ...]
    done: tuple[CallTask, ...]  # followed up since: close them
    unaddressed: tuple[CallTask, ...]  # no owner and no team address: nobody to tell


def is_list_day(day_: date) -> bool:
    """Lists go out on weekdays that are not Japanese public holidays (the tasks wait for the next one)."""
    return day_.weekday() < 5 and not is_holiday(day_)


def list_days(today: date, lookback_days: int) -> list[date]:
    """The due days whose open tasks today's list can show, oldest first."""
    return [today - timedelta(days=n) for n in range(lookback_days, -1, -1)]


def followed_up(task: CallTask, lead: Lead) -> bool:
    return any(lead.last.get(kind, -1) >= task.created_at for kind in FOLLOWED_UP_KINDS)


def plan_lists(
    tasks: Iterable[CallTask],
    leads: Mapping[str, Lead],
    now_ms: int,
    tz: ZoneInfo,
    settings: CallListSettings,
    scores: Mapping[str, tuple[float, str | None]] | None = None,
) -> Plan:
    """Today's lists, one per owner (and one for the team), from the open tasks due by now.

    ``scores``: lead id -> (score now, band) for ordering and display (default: the stored score)."""
    today = local_day(now_ms, tz)
    oldest = min(list_days(today, settings.lookback_days))
    calls: dict[tuple[str, str], list[CallTask]] = {}  # (lead, kind) -> its tasks, earliest first
    done: list[CallTask] = []
    unaddressed: list[CallTask] = []
    for task in sorted(tasks, key=lambda t: (t.due_at, t.task_id)):
        lead = leads.get(task.lead_id)
        if lead is None or task.due_at > now_ms or local_day(task.due_at, tz) < oldest:
            continue
        if followed_up(task, lead):
            done.append(task)
        elif not lead.owner and not settings.team_address:
            unaddressed.append(task)
        else:
            calls.setdefault((lead.lead_id, task.kind), []).append(task)
    by_owner: dict[str | None, list[CallEntry]] = {}
    for (lead_id, _), same_call in calls.items():
        lead, first = leads[lead_id], same_call[0]
        score, band = (scores or {}).get(lead_id, (lead.score, None))
        carried = first.listed_at is not None and local_day(first.listed_at, tz) < today
        by_owner.setdefault(lead.owner or None, []).append(CallEntry(tuple(same_call), lead, carried, score, band))
    lists = []
    for owner, entries in sorted(by_owner.items(), key=lambda item: item[0] or "~"):
        new = sorted((e for e in entries if not e.carried_over), key=lambda e: (-e.score, e.task.due_at))
        carried_over = sorted((e for e in entries if e.carried_over), key=lambda e: e.task.due_at)
        lists.append(CallList(today, owner, owner or settings.team_address, (*new, *carried_over)))
    return Plan(tuple(lists), tuple(done), tuple(unaddressed))


# --- what the owner reads -------------------------------------------------------------------------


def latest(lead: Lead, kinds: Iterable[str]) -> tuple[str, int] | None:
    found = [(kind, lead.last[kind]) for kind in kinds if kind in lead.last]
    return max(found, key=lambda x: x[1]) if found else None


def quiet_since(entry: CallEntry, tz: ZoneInfo, dimensions: Mapping[str, frozenset[str]]) -> str:
    """Since when the lead has been quiet by the task's definition: the day of its last activity the
    definition reads, before the run caught it (any contact or reaction for a definition not known
    here, or without events); else its registration day. Never the day of the run itself."""
    lead, segment = entry.lead, entry.task.segment_id or ""
    caught = lead.segments.get(segment) or lead.dormant_since or entry.task.created_at
    quiet = went_quiet(lead, dimensions.get(segment) or (*CONTACT_KINDS, *VISIT_KINDS), caught, tz)
    if quiet is not None:
        return f"{quiet[1].year}年{quiet[1].month}月{quiet[1].day}日"
    return day(lead.registered_at, tz) if lead.registered_at else ""


def long_day(day_: date) -> str:
    return f"{day_.year}年{day_.month}月{day_.day}日（{WEEKDAYS_JA[day_.weekday()]}）"


def entry_context(entry: CallEntry, number: int, now_ms: int, tz: ZoneInfo, segment_names: Mapping[str, str],
                  settings: CallListSettings, dimensions: Mapping[str, frozenset[str]]) -> dict[str, object]:
    lead, task = entry.lead, entry.task
    segment = task.segment_id or ""
    reason = segment_names.get(segment, segment) if segment else "（手動登録のシーケンス）"
    open_days = (local_day(now_ms, tz) - local_day(task.due_at, tz)).days if entry.carried_over else 0
    returned = lead.reactivated_at is not None and lead.reactivated_at >= task.created_at  # back since the ask
    return {
        "number": number,
        "name": lead.name or "（氏名未登録）",
        "company": lead.company or "（会社名未登録）",
        "email": lead.email,
        "phone": lead.phone,
        "reason": reason,
        "quiet_since": quiet_since(entry, tz, dimensions),
        "note": task.note or "",
        "last_contact": describe(latest(lead, CONTACT_KINDS), tz),
        "last_activity": describe(latest(lead, VISIT_KINDS), tz),
        "returned_at": day(lead.reactivated_at, tz) if returned and lead.reactivated_at is not None else "",
        "score": f"{round(entry.score, 1):g}",
        "band": band_ja(entry.band),
        "due": day(task.due_at, tz),
        "open_days": open_days,
        "crm_url": crm_url(settings.crm_url_template, lead),
        "opted_out": bool(lead.unsubscribed_at or lead.suppressed),
    }


def template_context(call_list: CallList, owner_name: str | None, now_ms: int, tz: ZoneInfo,
                     segment_names: Mapping[str, str], settings: CallListSettings,
                     dimensions: Mapping[str, frozenset[str]] | None = None) -> dict[str, object]:
    """The call-list mail's variables (already formatted for people in ``tz``). ``dimensions``:
    ``segments.definitions.read_dimensions`` of the definitions, for since when each lead has been quiet."""
    is_team = call_list.owner_email is None
    shown = "担当なし（チーム宛て）" if is_team else owner_name or (call_list.owner_email or "").split("@")[0]
    dims = dimensions or {}
    new = [entry_context(e, n, now_ms, tz, segment_names, settings, dims) for n, e in enumerate(call_list.new, start=1)]
    carried = [entry_context(e, n, now_ms, tz, segment_names, settings, dims)
               for n, e in enumerate(call_list.carried, start=len(new) + 1)]
    return {
        "owner": {"name": shown, "email": call_list.owner_email or "", "is_team": is_team},
        "day": long_day(call_list.day),
        "new": new,
        "carried": carried,
        "count": len(new) + len(carried),
        "lookback_days": settings.lookback_days,
        "list_id": call_list.id,
    }
