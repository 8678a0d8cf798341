"""Runtime settings: the one place that reads the environment template.yaml (or the local stack) sets.

One pydantic model per function, validated from the environment once per process: a Lambda
container validates its function's model at cold start (``functions/<name>/app.py``), so a missing
``TABLE_NAME`` fails the first invocation with the variable's name instead of writing to a table
that happens to be called "reawake". ``Locale`` is the part the offline tools need (time zone,
site origins); ``Settings`` is what every function needs; each function's model adds its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reawake.core.urls import is_site_url, normalize_origin, origin_of

# origin_of / normalize_origin live in reawake.core.urls (browser-grade parsing); still importable from here.
__all__ = [
    "AlertFunctionSettings", "CallListFunctionSettings", "Locale", "ReportFunctionSettings", "SegmentFunctionSettings",
    "Settings",
    "SettingsError", "StepmailFunctionSettings", "TrackFunctionSettings", "from_environment", "get_settings",
    "normalize_origin", "origin_of",
]

DEFAULT_SECRET_MAX_AGE_SECONDS = 300  # a rotated secret is in use everywhere within 5 minutes


class SettingsError(RuntimeError):
    """The environment does not hold what a function needs (raised at cold start)."""


class Locale(BaseModel):
    """Time zone and site origins: all the offline tools (template checks, --now) need."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True, populate_by_name=True)

    time_zone: ZoneInfo = Field(ZoneInfo("Asia/Tokyo"), alias="TIME_ZONE")
    site_origins: tuple[str, ...] = Field((), alias="SITE_ORIGINS")
    #: "FROM=TO,FROM=TO": serve links written for one origin from another (the local stack maps the
    #: production site, https://www.example.co.jp, to its demo site on loopback).
    link_rebase: tuple[tuple[str, str], ...] = Field((), alias="LINK_REBASE")

    @field_validator("time_zone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Tokyo)") from exc
        return value

    @field_validator("site_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(normalize_origin(o) for o in value.split(",") if o.strip())
        return value

    @field_validator("link_rebase", mode="before")
    @classmethod
    def _rebase(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = (pair.split("=", 1) for pair in value.split(",") if "=" in pair)
            return tuple((normalize_origin(source), normalize_origin(target)) for source, target in pairs)
        return value

    @property
    def primary_site(self) -> str:
        """Where a visitor lands when a link cannot be trusted."""
        return self.site_origins[0] if self.site_origins else ""

    def is_site_url(self, url: str) -> bool:
        """True when a browser would open url on one of the configured site origins (reawake.core.urls)."""
        return is_site_url(url, self.site_origins)


class Settings(Locale):
    """What every function needs: the table and the config bucket are required, never guessed."""

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    config_bucket: str = Field(alias="CONFIG_BUCKET", min_length=1)
    signing_secret_arn: str = Field("", alias="SIGNING_SECRET_ARN")
    api_key_secret_arn: str = Field("", alias="API_KEY_SECRET_ARN")
    event_retention_days: int = Field(400, alias="EVENT_RETENTION_DAYS", ge=1)
    segment_shards: int = Field(4, alias="SEGMENT_SHARDS", ge=1)
    secret_max_age_seconds: int = Field(DEFAULT_SECRET_MAX_AGE_SECONDS, alias="SECRET_MAX_AGE_SECONDS", ge=0)


class TrackFunctionSettings(Settings):
    """The tracking API signs and checks email-link tokens and the activities API key."""

    signing_secret_arn: str = Field(alias="SIGNING_SECRET_ARN", min_length=1)
    api_key_secret_arn: str = Field(alias="API_KEY_SECRET_ARN", min_length=1)


class SegmentFunctionSettings(Settings):
    """A segment run needs only the table and the config bucket (enrolling writes to the table)."""


class StepmailFunctionSettings(Settings):
    signing_secret_arn: str = Field(alias="SIGNING_SECRET_ARN", min_length=1)
    public_api_url: str = Field("", alias="PUBLIC_API_URL")  # where tracked links and the open pixel point
    mail_configuration_set: str = Field("", alias="MAIL_CONFIGURATION_SET")
    send_slot_bucket: str = Field("", alias="SEND_SLOT_BUCKET")  # the Distributed Map's batch manifests
    send_slot_limit: int = Field(5000, alias="SEND_SLOT_LIMIT", ge=1)
    send_slot_concurrency: int = Field(4, alias="SEND_SLOT_CONCURRENCY", ge=1)
    stepmail_failure_queue_url: str = Field("", alias="STEPMAIL_FAILURE_QUEUE_URL")


class OwnerMailSettings(Settings):
    """What alerts and call lists share: the team's address for leads without an owner, the CRM link."""

    team_alert_address: str = Field("", alias="TEAM_ALERT_ADDRESS")
    crm_url_template: str = Field("", alias="CRM_URL_TEMPLATE")


class AlertFunctionSettings(OwnerMailSettings):
    alert_topic_arn: str = Field("", alias="ALERT_TOPIC_ARN")
    alert_window_hours: float = Field(12, alias="ALERT_WINDOW_HOURS", gt=0)
    scanner_click_seconds: float = Field(10, alias="SCANNER_CLICK_SECONDS", ge=0)
    alert_click_settle_ms: int = Field(2000, alias="ALERT_CLICK_SETTLE_MS", ge=0)


class CallListFunctionSettings(OwnerMailSettings):
    call_list_lookback_days: int = Field(14, alias="CALL_LIST_LOOKBACK_DAYS", ge=0)


class ReportFunctionSettings(Settings):
    report_days: int = Field(30, alias="REPORT_DAYS", ge=1)
    report_crosstab_axis: str = Field("", alias="REPORT_CROSSTAB_AXIS")  # e.g. owner or 業種: adds the cross-tab


L = TypeVar("L", bound=Locale)


def from_environment(model: type[L], environ: Mapping[str, str] | None = None) -> L:
    """``model`` validated from the environment; SettingsError names each variable that is wrong."""
    env = os.environ if environ is None else environ
    try:
        return model.model_validate(dict(env))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {_reason(e)}" for e in exc.errors())
        raise SettingsError(f"{model.__name__}: the environment is incomplete or invalid: {problems}") from None


def _reason(error: Any) -> str:
    return "missing (template.yaml sets it for every function)" if error["type"] == "missing" else str(error["msg"])


class _SettingsCache:
    """``get_settings()``: the shared ``Settings``; ``get_settings(Model)``: one function's model.
    Each is validated once per process; ``get_settings.cache_clear()`` forgets them (the local stack
    and the tests change the environment)."""

    def __init__(self) -> None:
        self._loaded: dict[type[Locale], Locale] = {}

    @overload
    def __call__(self) -> Settings: ...

    @overload
    def __call__(self, model: type[L]) -> L: ...

    def __call__(self, model: type[Locale] = Settings) -> Locale:
        found = self._loaded.get(model)
        if found is None:
            found = self._loaded[model] = from_environment(model)
        return found

    def cache_clear(self) -> None:
        self._loaded.clear()


get_settings = _SettingsCache()
