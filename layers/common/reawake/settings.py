"""Runtime settings, read once from the environment that template.yaml (or the local stack) sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo


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
        """True when url is http(s) on one of the configured site origins."""
        return origin_of(url) in self.site_origins


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default_port = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = parts.hostname if port in (None, default_port) else f"{parts.hostname}:{port}"
    return f"{parts.scheme}://{netloc}"


def normalize_origin(origin: str) -> str:
    return origin_of(origin.strip().rstrip("/") + "/") or origin.strip().rstrip("/")


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
