"""Runtime settings, read once from the environment that template.yaml (or the local stack) sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from reawake.urls import is_site_url, normalize_origin, origin_of

# origin_of / normalize_origin live in reawake.urls (browser-grade parsing); still importable from here.
__all__ = ["Settings", "get_settings", "normalize_origin", "origin_of"]


@dataclass(frozen=True)
class Settings:
    table_name: str
    config_bucket: str
    signing_secret_arn: str
    api_key_secret_arn: str
    site_origins: tuple[str, ...]
    time_zone: ZoneInfo
    event_retention_days: int
    segment_shards: int = 4

    @property
    def primary_site(self) -> str:
        """Where a visitor lands when a link cannot be trusted."""
        return self.site_origins[0] if self.site_origins else ""

    def is_site_url(self, url: str) -> bool:
        """True when a browser would open url on one of the configured site origins (reawake.urls)."""
        return is_site_url(url, self.site_origins)


@cache
def get_settings() -> Settings:
    origins = tuple(normalize_origin(o) for o in os.environ.get("SITE_ORIGINS", "").split(",") if o.strip())
    return Settings(
        table_name=os.environ.get("TABLE_NAME", "reawake"),
        config_bucket=os.environ.get("CONFIG_BUCKET", ""),
        signing_secret_arn=os.environ.get("SIGNING_SECRET_ARN", ""),
        api_key_secret_arn=os.environ.get("API_KEY_SECRET_ARN", ""),
        site_origins=origins,
        time_zone=ZoneInfo(os.environ.get("TIME_ZONE", "Asia/Tokyo")),
        event_retention_days=int(os.environ.get("EVENT_RETENTION_DAYS", "400")),
        segment_shards=int(os.environ.get("SEGMENT_SHARDS", "4")),
    )
