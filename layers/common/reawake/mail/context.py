"""The context contract: the variables a template may use, and how they are built for one lead.

Top-level variables (nothing else exists in a template)::

    lead      name, company, email, attrs (imported columns, e.g. lead.attrs.業種), registered_at
    owner     name, email, phone, title (the lead's salesperson from owners.yaml; the team for a lead without one)
    sender    company, name, address, contact_email, contact_url, phone
    sequence  name, step
    today     the date (Tokyo by default)

Text values are strings ("" when unknown, so ``{{ lead.name or "ご担当者" }}`` reads well); dates
are ``datetime.date`` (``{{ today | ja_date }}`` -> 2026年11月24日). An imported column a lead
does not have reads as "" (``{{ lead.attrs.業種 or "貴社の業界" }}``), so a template never fails at
send time over one lead's missing value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reawake.core.leads import Lead
from reawake.mail.config import OwnerDirectory, Sender

#: Marks an open mapping in CONTRACT: any key is allowed (imported columns).
OPEN = "open"

#: What each variable is: a nested mapping of names, down to the type of each value.
CONTRACT: dict[str, Any] = {
    "lead": {"name": str, "company": str, "email": str, "attrs": OPEN, "registered_at": date},
    "owner": {"name": str, "email": str, "phone": str, "title": str},
    "sender": {"company": str, "name": str, "address": str, "contact_email": str, "contact_url": str, "phone": str},
    "sequence": {"name": str, "step": str},
    "today": date,
}


def _paths(node: Any, prefix: str) -> set[str]:
    found = {prefix}
    if isinstance(node, dict):
        for key, child in node.items():
            found |= _paths(child, f"{prefix}.{key}")
    return found


#: Every variable path a template may use (``lead``, ``lead.name``, ``owner.phone``, ``today``, ...).
#: ``lead.attrs.<any column>`` is allowed too.
KNOWN_VARIABLES: frozenset[str] = frozenset(p for name, node in CONTRACT.items() for p in _paths(node, name))


class Attrs(dict[str, Any]):
    """A lead's imported columns: a column this lead has no value for reads as ""."""

    def __missing__(self, key: str) -> str:
        return ""


def local_date(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, tz).date()


def build_context(
    lead: Lead,
    owner_directory: OwnerDirectory,
    sender: Sender,
    sequence_name: str,
    step_name: str,
    now_ms: int,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """The variables for one lead's mail (pure: no I/O, ``now`` passed in)."""
    owner = owner_directory.get_owner(lead.owner)
    if owner is not None and lead.owner:
        owner_vars = {"name": owner.name, "email": lead.owner, "phone": owner.phone or sender.phone or "",
                      "title": owner.title or ""}
    else:  # no owner, or one not in owners.yaml: the team signs
        owner_vars = {"name": sender.name, "email": sender.contact_email, "phone": sender.phone or "", "title": ""}
    return {
        "lead": {
            "name": lead.name or "",
            "company": lead.company or "",
            "email": lead.email,
            "attrs": Attrs({str(k): "" if v is None else v for k, v in lead.attrs.items()}),
            "registered_at": local_date(lead.registered_at, tz),
        },
        "owner": owner_vars,
        "sender": {
            "company": sender.company,
            "name": sender.name,
            "address": sender.address,
            "contact_email": sender.contact_email,
            "contact_url": sender.contact_url or "",
            "phone": sender.phone or "",
        },
        "sequence": {"name": sequence_name, "step": step_name},
        "today": local_date(now_ms, tz),
    }


SAMPLE_LEAD = Lead(
    lead_id="sample0000000000lead",
    email="t.yamada@sakura-seiki.example.jp",
    registered_at=1_767_657_600_000,  # 2026-01-06 09:00 JST
    name="山田 太郎",
    company="株式会社さくら精機",
    owner="sato.kenji@example.co.jp",
    attrs={"業種": "製造業", "顧客区分": "見込み客", "従業員規模": "50-299名"},
)
