"""The segment rule language: pydantic models of a segments YAML file.

A condition is a mapping with exactly one of these keys:

- ``all: [conditions]``, ``any: [conditions]``, ``not: condition``;
- ``event: KIND`` (or a list of kinds, read as one stream: the latest of any, the sum of counts),
  at most one filter (``site``, ``path``, ``topic``, ``campaign``) and one window:
  ``within: D`` (an event at or after now - D), ``older_than: D`` (there is one, and the latest is
  before now - D), or ``ever: true``; ``at_least: N`` with ``within`` counts events on the
  calendar days (configured time zone) from the day of now - D on;
- ``attr: NAME`` (a lead property) or ``field: NAME`` (an imported column) with one operator:
  ``equals``, ``in``, ``contains``, ``gt``/``gte``/``lt``/``lte``, ``exists``, ``within``,
  ``older_than``;
- ``band: NAME`` or ``band: [NAMES]`` (score bands from the scoring config).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reawake.core.durations import Duration, DurationField
from reawake.core.kinds import ALL_KINDS
from reawake.core.urls import normalize_origin, web_url
from reawake.core.yamlfile import TAG_PREFIX, Loc

NODE_KEYS = ("all", "any", "not", "event", "attr", "field", "band")
FILTERS = ("site", "path", "topic", "campaign")
COUNTED_FILTERS = ("site", "topic")  # the day buckets exist for the kind alone, site and topic
MAX_COUNT_DAYS = 366  # at_least windows: day buckets are kept EVENT_RETENTION_DAYS (400 by default)
TIME_ATTRS = ("registered_at", "converted_at", "unsubscribed_at", "reactivated_at", "dormant_since")
TEXT_ATTRS = ("email", "name", "company", "owner", "suppressed", "source")
NUMBER_ATTRS = ("score",)
AttrName = Literal[
    "registered_at",
    "converted_at",
    "unsubscribed_at",
    "reactivated_at",
    "dormant_since",
    "email",
    "name",
    "company",
    "owner",
    "suppressed",
    "source",
    "score",
]
OPERATORS = ("equals", "in", "contains", "gt", "gte", "lt", "lte", "exists", "within", "older_than")
ALLOWED_OPERATORS: dict[str, tuple[str, ...]] = {
    **{a: ("within", "older_than", "exists") for a in TIME_ATTRS},
    **{a: ("equals", "in", "contains", "exists") for a in TEXT_ATTRS},
    "score": ("gt", "gte", "lt", "lte"),
}
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
Text = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Scalar = Annotated[str, StringConstraints(max_length=500)] | int | float | bool
Number = float  # strict float takes ints too


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- logic ----------------------------------------------------------------------------------


class AllOf(_Model):
    all_: Annotated[list[Node], Field(alias="all", min_length=1)]


class AnyOf(_Model):
    any_: Annotated[list[Node], Field(alias="any", min_length=1)]


class Not(_Model):
    not_: Node = Field(alias="not")


# --- events ---------------------------------------------------------------------------------


class EventCondition(_Model):
    event: str | Annotated[list[str], Field(min_length=1)]
    site: str | None = None
    path: str | None = None
    topic: Text | None = None
    campaign: Text | None = None
    within: DurationField | None = None
    older_than: DurationField | None = None
    ever: bool | None = None
    at_least: Annotated[int, Field(ge=1, le=100_000)] | None = None

    @field_validator("event")
    @classmethod
    def _known_kinds(cls, value: str | list[str]) -> str | list[str]:
        kinds = [value] if isinstance(value, str) else value
        for kind in kinds:
            if kind not in ALL_KINDS:
                raise ValueError(f"unknown event kind {kind!r}; known kinds: {', '.join(sorted(ALL_KINDS))}")
        if len(set(kinds)) != len(kinds):
            raise ValueError("a kind is listed twice")
        return value

    @field_validator("site")
    @classmethod
    def _origin(cls, value: str) -> str:
        parsed = web_url(value)
        if parsed is None or parsed.has_credentials or parsed.href != parsed.origin + "/":
            raise ValueError(f"site {value!r} must be an origin like https://www.example.co.jp (use path: for folders)")
        return normalize_origin(value)

    @field_validator("path")
    @classmethod
    def _folder(cls, value: str) -> str:
        parts = value.split("/")
        if not (value.startswith("/") and value.endswith("/") and 3 <= len(parts) <= 4 and all(parts[1:-1])):
            raise ValueError(
                f"path {value!r} must be a folder one or two levels deep, like /seminar/ or /seminar/2026/ "
                "(page views are kept per folder prefix of depth 1 and 2)"
            )
        return value

    @field_validator("ever")
    @classmethod
    def _ever_true(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("ever: false is not a window; write not: {event: ..., ever: true}")
        return value

    @field_validator("at_least")
    @classmethod
    def _countable(cls, value: int, info: ValidationInfo) -> int:
        data = info.data
        for name in FILTERS:
            if data.get(name) is not None and name not in COUNTED_FILTERS:
                raise ValueError(
                    f"at_least cannot be used with a {name} filter: daily counts are kept only per kind, "
                    "site and topic (use within without at_least, or filter by site or topic)"
                )
        within = data.get("within")
        if within is None:
            raise ValueError("at_least needs a within window (e.g. within: 3mo); counts are not kept forever")
        if isinstance(within, Duration) and within.max_days > MAX_COUNT_DAYS:
            raise ValueError(f"at_least counts reach back at most 1y (daily counts are kept ~400 days), not {within}")
        return value

    @model_validator(mode="after")
    def _one_filter_one_window(self) -> EventCondition:
        filters = [name for name in FILTERS if getattr(self, name) is not None]
        if len(filters) > 1:
            raise ValueError(
                f"one filter per event condition, not {' and '.join(filters)}: the lead keeps its latest "
                "event per kind and one filter (combine two conditions with all: if that is what you mean)"
            )
        windows = [name for name in ("within", "older_than", "ever") if getattr(self, name) is not None]
        if len(windows) != 1:
            found = f" (found {', '.join(windows)})" if windows else ""
            raise ValueError(f"an event condition needs exactly one of within, older_than, ever{found}")
        return self

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)

    @property
    def filter(self) -> tuple[str, str] | None:
        for name in FILTERS:
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


# --- attributes -----------------------------------------------------------------------------


class _Comparison(_Model):
    equals: Scalar | None = None
    in_: Annotated[list[Scalar], Field(min_length=1, max_length=1000)] | None = Field(default=None, alias="in")
    contains: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None
    exists: bool | None = None
    within: DurationField | None = None
    older_than: DurationField | None = None

    @property
    def operator(self) -> tuple[str, Any]:
        for name in OPERATORS:
            value = getattr(self, "in_" if name == "in" else name)
            if value is not None:
                return name, value
        raise AssertionError("validated: one operator")  # pragma: no cover

    def _check_one_operator(self) -> str:
        found = [name for name in OPERATORS if getattr(self, "in_" if name == "in" else name) is not None]
        if len(found) != 1:
            extra = f" (found {', '.join(found)})" if found else ""
            raise ValueError(f"needs exactly one operator of {', '.join(OPERATORS)}{extra}")
        return found[0]


class AttrCondition(_Comparison):
    attr: AttrName

    @model_validator(mode="after")
    def _operator_fits(self) -> AttrCondition:
        op = self._check_one_operator()
        allowed = ALLOWED_OPERATORS[self.attr]
        if op not in allowed:
            raise ValueError(f"{self.attr} takes {', '.join(allowed)}, not {op}")
        return self


class FieldCondition(_Comparison):
    field_: Text = Field(alias="field")

    @model_validator(mode="after")
    def _operator_fits(self) -> FieldCondition:
        self._check_one_operator()
        return self


class BandCondition(_Model):
    band: Annotated[str, StringConstraints(min_length=1, max_length=32)] | Annotated[list[str], Field(min_length=1)]

    @property
    def bands(self) -> tuple[str, ...]:
        return (self.band,) if isinstance(self.band, str) else tuple(self.band)


# --- the node union -------------------------------------------------------------------------

_NODE_CLASSES: dict[str, type[BaseModel]] = {
    "all": AllOf,
    "any": AnyOf,
    "not": Not,
    "event": EventCondition,
    "attr": AttrCondition,
    "field": FieldCondition,
    "band": BandCondition,
}


def _node_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in NODE_KEYS if k in value]
        return TAG_PREFIX + keys[0] if len(keys) == 1 else None
    for key, cls in _NODE_CLASSES.items():
        if isinstance(value, cls):
            return TAG_PREFIX + key
    return None


def _node_shape(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value
    expected = ", ".join(NODE_KEYS)
    if not isinstance(value, dict):
        raise ValueError(f"a condition is a mapping with one of the keys {expected} (got {value!r})")
    keys = [k for k in NODE_KEYS if k in value]
    if not keys:
        found = ", ".join(map(str, value)) or "nothing"
        raise ValueError(f"a condition needs one of the keys {expected} (found {found})")
    if len(keys) > 1:
        raise ValueError(
            f"a condition has exactly one of {expected}, found {' and '.join(keys)} "
            "(wrap several conditions in all: [...] or any: [...])"
        )
    return value


Node = Annotated[
    Union[  # noqa: UP007 (tagged members)
        Annotated[AllOf, Tag(TAG_PREFIX + "all")],
        Annotated[AnyOf, Tag(TAG_PREFIX + "any")],
        Annotated[Not, Tag(TAG_PREFIX + "not")],
        Annotated[EventCondition, Tag(TAG_PREFIX + "event")],
        Annotated[AttrCondition, Tag(TAG_PREFIX + "attr")],
        Annotated[FieldCondition, Tag(TAG_PREFIX + "field")],
        Annotated[BandCondition, Tag(TAG_PREFIX + "band")],
    ],
    Discriminator(_node_tag),
    BeforeValidator(_node_shape),
]
Condition = AllOf | AnyOf | Not | EventCondition | AttrCondition | FieldCondition | BandCondition

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def walk(condition: Condition, loc: Loc = ()) -> Iterator[tuple[Condition, Loc]]:
    """Every condition in a rule, parents first, with its location (YAML keys, as written): the
    one walk of the tree for whatever reads rules whole (validation, the run's reads)."""
    yield condition, loc
    if isinstance(condition, AllOf):
        for index, child in enumerate(condition.all_):
            yield from walk(child, (*loc, "all", index))
    elif isinstance(condition, AnyOf):
        for index, child in enumerate(condition.any_):
            yield from walk(child, (*loc, "any", index))
    elif isinstance(condition, Not):
        yield from walk(condition.not_, (*loc, "not"))


# --- definitions ----------------------------------------------------------------------------

SequenceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def _share(value: Any) -> Any:
    """``10%`` / ``10 %`` / ``0.1`` -> 0.1 (a holdout share)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1].strip()) / 100
        except ValueError:
            raise ValueError("holdout must be a percentage such as 10% (or a fraction such as 0.1)") from None
    return value


#: The share of entering leads kept out of the approach (recorded, never mailed) so the report can
#: compare them with the others: ``holdout: 10%``. At most half.
HoldoutShare = Annotated[float, BeforeValidator(_share), Field(ge=0, le=0.5)]


class WatchApproach(_Model):
    """Watch for the lead's return and alert the owner at once (definition ①)."""

    type: Literal["watch"]
    holdout: HoldoutShare = 0.0


class SequenceApproach(_Model):
    """Enroll the lead in a step-mail sequence (definition ②)."""

    type: Literal["sequence"]
    sequence: SequenceId
    holdout: HoldoutShare = 0.0


class OwnerTaskApproach(_Model):
    """Work the lead through the owner: a sequence of DM and call tasks (definition ③)."""

    type: Literal["owner_task"]
    sequence: SequenceId
    holdout: HoldoutShare = 0.0


APPROACH_TYPES = ("watch", "sequence", "owner_task")


def _approach_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return TAG_PREFIX + kind if kind in APPROACH_TYPES else None


Approach = Annotated[
    Union[  # noqa: UP007 (tagged members)
        Annotated[WatchApproach, Tag(TAG_PREFIX + "watch")],
        Annotated[SequenceApproach, Tag(TAG_PREFIX + "sequence")],
        Annotated[OwnerTaskApproach, Tag(TAG_PREFIX + "owner_task")],
    ],
    Discriminator(
        _approach_tag,
        custom_error_type="approach_type",
        custom_error_message=f"approach needs a type: one of {', '.join(APPROACH_TYPES)}",
    ),
]


class SegmentDefinition(_Model):
    id: str
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    approach: Approach
    rule: Node

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.match(ID_PATTERN, value):
            raise ValueError(f"id {value!r}: lowercase letters, digits and hyphens, up to 63 (e.g. dormant-no-visit)")
        return value


class SegmentFile(_Model):
    segments: Annotated[list[SegmentDefinition], Field(min_length=1)]


KNOWN_KEYS = {
    *NODE_KEYS,
    *FILTERS,
    *OPERATORS,
    "ever",
    "at_least",
    "segments",
    "id",
    "name",
    "description",
    "approach",
    "rule",
    "type",
    "sequence",
    "holdout",
}
