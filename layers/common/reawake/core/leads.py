"""The lead profile and its aggregates: pure functions, `now` passed in.

Aggregates are what segment rules read instead of raw events (one read per lead):
- ``last``: dimension key -> epoch ms of the latest event. Dimension keys are the kind alone
  (``page_view``) and the kind with one filter: ``page_view@site:https://example.jp``,
  ``page_view@topic:pricing``, ``page_view@campaign:spring``, ``page_view@path:/seminar/`` and
  ``page_view@path:/seminar/2026/`` (path prefixes of depth one and two).
- ``days``: ``<dimension key>#YYYYMMDD`` -> count, for the kind, site and topic dimensions, with
  the day in the configured time zone; days older than the retention are dropped. Stored packed
  (``pack_days``: one string per dimension) and unpacked only when read (``DayBuckets``).

``last`` is stored in two maps (``split_last``): the kind and site keys, whose number is bounded by
configuration (the event kinds, ``SiteOrigins``), and the *tail*: topic, page-path and campaign
keys, whose values come from the pages and links themselves and keep coming as a lead's history
grows. The segment run's index projects only the first (``reawake.segments.reads``), so what it
reads per lead does not grow with the lead's events.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.events import Event
from reawake.core.kinds import VISIT_KINDS

DAY_MS = 86_400_000


def new_lead_id() -> str:
    """A new lead's id: random, so that nobody can tell from an id (it travels in every email
    link) whose it is, even with a list of candidate emails. The table maps email -> lead id."""
    return base64.b32encode(secrets.token_bytes(15)).decode("ascii")[:20].lower()


def legacy_lead_id(email: str) -> str:
    """The id leads had before ids were random: an unsalted hash of the normalized email. Only
    the lookup of leads not yet migrated and ``reawake migrate lead-ids`` use it."""
    digest = hashlib.sha256(email.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:20].lower()


def email_key(email: str) -> str:
    """The key of the email -> lead item (a digest: no address in keys)."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


PHONE_ATTRS = ("電話番号", "電話", "phone", "tel", "TEL")


def pack_days(days: Mapping[str, int]) -> dict[str, str]:
    """Day buckets as stored: one string per dimension, ``"YYYYMMDD:count,..."``. The item stays
    small (every write of a lead is paid per KB) and a scan parses one string per dimension
    instead of one map entry per day."""
    if isinstance(days, DayBuckets) and not days.unpacked:
        return days.packed
    packed: dict[str, list[str]] = {}
    for key, count in sorted(days.items()):
        dimension, _, day = key.rpartition("#")
        packed.setdefault(dimension, []).append(f"{day}:{count}")
    return {dimension: ",".join(entries) for dimension, entries in packed.items()}


def unpack_days(stored: Mapping[str, Any]) -> dict[str, int]:
    """``<dimension>#YYYYMMDD`` -> count, from the stored form."""
    days: dict[str, int] = {}
    for dimension, entries in stored.items():
        if not isinstance(entries, str):  # an unpacked bucket (``dimension#day`` -> count)
            days[dimension] = int(entries)
            continue
        for entry in entries.split(","):
            day, _, count = entry.partition(":")
            days[f"{dimension}#{day}"] = int(count)
    return days


class DayBuckets(Mapping[str, int]):
    """``Lead.days`` as read from the table: unpacked on first use, so a segment run whose rules
    count no days never pays for them (and writes them back as they came)."""

    __slots__ = ("_days", "packed")

    def __init__(self, packed: Mapping[str, str]) -> None:
        self.packed = dict(packed)
        self._days: dict[str, int] | None = None

    @property
    def unpacked(self) -> bool:
        return self._days is not None

    def _all(self) -> dict[str, int]:
        if self._days is None:
            self._days = unpack_days(self.packed)
        return self._days

    def __getitem__(self, key: str) -> int:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"DayBuckets({self._all()!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> DayBuckets:
        return self  # never changed in place (fold_events builds a new dict)


@dataclass(frozen=True)
class Lead:
    lead_id: str
    email: str
    registered_at: int  # epoch ms
    name: str | None = None
    company: str | None = None
    company_key: str | None = None
    owner: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    days: Mapping[str, int] = field(default_factory=dict)
    score: float = 0.0
    score_at: int = 0
    unsubscribed_at: int | None = None
    suppressed: str | None = None  # "bounce" | "complaint" | "unsubscribe"
    consent: dict[str, Any] | None = None
    # Set by the segment run: the definitions the lead is in now (id -> entered at), and since
    # when it has been in at least one dormancy definition (None: not dormant).
    segments: dict[str, int] = field(default_factory=dict)
    dormant_since: int | None = None
    reactivated_at: int | None = None
    converted_at: int | None = None
    # Step mail: message id -> when it was sent, every sequence together, pruned to the frequency
    # cap's window (the cap reads it; written in the same transaction as the send's claim).
    mail_log: dict[str, int] = field(default_factory=dict)
    # Segment approaches (``<segment>#<entered at>``) not yet handed to step mail: written with the
    # membership, cleared once dispatched; the next run retries what a failed dispatch left.
    pending_approaches: list[str] = field(default_factory=list)
    # What the report's counters already counted for this lead (reawake.reports.counting).
    report: dict[str, Any] = field(default_factory=dict)
    source: str = "import"
    version: int = 0

    @property
    def is_dormant(self) -> bool:
        return self.dormant_since is not None

    @property
    def phone(self) -> str:
        """The phone number among the imported fields (電話番号, phone, tel), or ""."""
        for key in PHONE_ATTRS:
            value = self.attrs.get(key)
            if value:
                return str(value)
        return ""


def dimension_keys(event: Event) -> list[str]:
    kind = event.kind
    keys = [kind]
    if event.site:
        keys.append(f"{kind}@site:{event.site}")
    if event.topic:
        keys.append(f"{kind}@topic:{event.topic}")
    if event.campaign:
        keys.append(f"{kind}@campaign:{event.campaign}")
    if event.path:
        for prefix in path_prefixes(event.path):
            keys.append(f"{kind}@path:{prefix}")
    return keys


def path_prefixes(path: str) -> list[str]:
    """``/seminar/2026/tokyo`` -> ``["/seminar/", "/seminar/2026/"]``."""
    parts = [p for p in path.split("/") if p]
    # The last part of a path without a trailing slash is a page, not a folder.
    folders = parts if path.endswith("/") else parts[:-1]
    return ["/" + "/".join(folders[:depth]) + "/" for depth in (1, 2) if len(folders) >= depth]


def day_of(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%Y%m%d")


TAIL_FILTERS = ("@topic:", "@path:", "@campaign:")


def is_tail_dimension(key: str) -> bool:
    """A ``last`` key of the families the site's content names (topics, page paths, campaigns)."""
    return any(f in key for f in TAIL_FILTERS)


def split_last(last: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(kind and site keys, topic / path / campaign keys): ``last`` as the table stores it."""
    head: dict[str, int] = {}
    tail: dict[str, int] = {}
    for key, ts in last.items():
        (tail if is_tail_dimension(key) else head)[key] = ts
    return head, tail


def counted_dimensions(event: Event) -> list[str]:
    return [k for k in dimension_keys(event) if "@" not in k or k.split("@", 1)[1].startswith(("site:", "topic:"))]


def fold_events(lead: Lead, events: Iterable[Event], tz: ZoneInfo, now_ms: int, retention_days: int) -> Lead:
    """The lead with these events added to its aggregates (events already counted are not passed)."""
    last = dict(lead.last)
    days = dict(lead.days)
    for event in events:
        for key in dimension_keys(event):
            if event.ts > last.get(key, 0):
                last[key] = event.ts
        day = day_of(event.ts, tz)
        for key in counted_dimensions(event):
            bucket = f"{key}#{day}"
            days[bucket] = days.get(bucket, 0) + 1
    oldest = day_of(now_ms - retention_days * DAY_MS, tz)
    days = {k: v for k, v in days.items() if k.rsplit("#", 1)[1] >= oldest}
    return replace(lead, last=last, days=days)


def went_quiet(lead: Lead, dimensions: Iterable[str], before_ms: int, tz: ZoneInfo) -> tuple[str, date] | None:
    """(dimension, local day) of the lead's latest event in these aggregate ``dimensions`` before
    ``before_ms`` (when a segment run caught it): the day it went quiet by them. ``last`` keeps only
    each dimension's latest event, which may be a later return, so the day buckets (kept for the
    retention) are read too; None when none is recorded."""
    wanted = set(dimensions)
    found = [(day_of(ts, tz), ts, key) for key, ts in lead.last.items() if key in wanted and ts < before_ms]
    cutoff = day_of(before_ms, tz)
    for bucket in lead.days:
        key, _, day = bucket.rpartition("#")
        if key in wanted and day < cutoff:
            found.append((day, -1, key))  # a bucket's time is unknown: ``last`` wins a tie of days
    if not found:
        return None
    day, _, key = max(found)
    return key, date(int(day[:4]), int(day[4:6]), int(day[6:]))


def flag_revisits(lead: Lead, events: Iterable[Event]) -> list[Event]:
    """Attribute events to the lead, marking those that are a dormant lead coming back."""
    flagged = []
    for event in events:
        revisit = lead.dormant_since is not None and event.kind in VISIT_KINDS and event.ts >= lead.dormant_since
        flagged.append(event.for_lead(lead.lead_id, revisit=revisit))
    return flagged
