"""The analysis report (reference case 002): dormant leads cut by definition × score band × one
imported attribute (業種, 規模, …) or the owner, with counts and return rates, from one pass over
the leads. A cell becomes the next campaign: a segment definition (YAML, ready for ``segments
validate``) or the member list."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig, band

NO_BAND = "none"
OWNER_AXIS = "owner"
BAND_JA = {"hot": "ホット", "warm": "ウォーム", "cold": "コールド", NO_BAND: "帯なし"}


@dataclass
class Cell:
    definition: str
    definition_name: str
    band: str
    value: str  # "" = the lead has no such attribute
    count: int = 0
    returned: int = 0
    lead_ids: list[str] = field(default_factory=list)

    @property
    def band_label(self) -> str:
        return BAND_JA.get(self.band, self.band)


@dataclass(frozen=True)
class CrossTab:
    axis: str  # an imported column, or "owner"
    cells: tuple[Cell, ...]

    @property
    def axis_label(self) -> str:
        return "担当営業" if self.axis == OWNER_AXIS else self.axis


def axis_value(lead: Lead, axis: str) -> str:
    raw = lead.owner if axis == OWNER_AXIS else lead.attrs.get(axis)
    return "" if raw is None else str(raw).strip()


def returned(lead: Lead, definition: str) -> bool:
    """Came back since entering (the counters' own mark, else a reactivation after the entry)."""
    marks = (lead.report.get("s") or {}).get(definition) or {}
    entered = lead.segments.get(definition)
    if marks.get("e") == entered and marks.get("r"):
        return True
    return entered is not None and lead.reactivated_at is not None and lead.reactivated_at >= entered


def cross_tab(leads: Iterable[Lead], definitions: Sequence[tuple[str, str]], axis: str,
              scoring: ScoringConfig | None, now_ms: int, keep_members: bool = False) -> CrossTab:
    """``definitions``: (id, name) in display order. One pass; a lead counts in every definition
    it is in. ``keep_members`` keeps each cell's lead ids (for a member list)."""
    names = dict(definitions)
    cells: dict[tuple[str, str, str], Cell] = {}
    for lead in leads:
        if not lead.segments:
            continue
        lead_band = (band(lead, scoring, now_ms) if scoring else None) or NO_BAND
        value = axis_value(lead, axis)
        for definition in lead.segments:
            if definition not in names:
                continue
            key = (definition, lead_band, value)
            cell = cells.get(key) or cells.setdefault(key, Cell(definition, names[definition], lead_band, value))
            cell.count += 1
            cell.returned += returned(lead, definition)
            if keep_members:
                cell.lead_ids.append(lead.lead_id)
    order = {d: i for i, (d, _) in enumerate(definitions)}
    band_order = {b.name: i for i, b in enumerate(scoring.bands)} if scoring else {}
    ordered = sorted(cells.values(), key=lambda c: (order[c.definition], band_order.get(c.band, 99), c.band,
                                                     c.value == "", c.value))
    return CrossTab(axis, tuple(ordered))


def raw_rules(segments_yaml: str) -> dict[str, Any]:
    """Each definition's rule as written (the YAML file's own text, not the parsed model)."""
    data = yaml.safe_load(segments_yaml) or {}
    return {str(d.get("id")): d.get("rule") for d in data.get("segments") or [] if isinstance(d, dict)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()[:30] or "x"


def cell_definition(cell: Cell, axis: str, rules: Mapping[str, Any], number: int) -> str:
    """The cell as a new segment definition: the definition's rule, the band, and the attribute."""
    conditions: list[Any] = [rules[cell.definition]]
    if cell.band != NO_BAND:
        conditions.append({"band": cell.band})
    if axis == OWNER_AXIS:
        conditions.append({"attr": "owner", "equals": cell.value} if cell.value else {"attr": "owner", "exists": False})
    else:
        conditions.append({"field": axis, "equals": cell.value} if cell.value else {"field": axis, "exists": False})
    definition = {
        "id": f"{cell.definition}-x{number}-{_slug(cell.band)}",
        "name": f"{cell.definition_name} × {cell.band_label} × {axis}={cell.value or '空欄'}"[:100],
        "description": f"分析レポートのセル {number} から作成（{cell.count} 件、再訪 {cell.returned} 件）",
        "approach": {"type": "watch"},
        "rule": {"all": conditions},
    }
    return str(yaml.safe_dump({"segments": [definition]}, allow_unicode=True, sort_keys=False))
