"""The marketer's configuration as the functions read it: YAML objects in the config bucket,
validated on upload, cached per container and refreshed by ETag every few minutes.

This holds the cache and the scoring (kernel); each feature reads its own files through a subclass
(``reawake.segments.definitions.SegmentConfig``, ``reawake.stepmail.store.SequenceConfig``,
``reawake.mail.templates.TemplateStore``), so the kernel imports no feature."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from reawake.core.scoring import ScoringConfig, load_scoring

SCORING_KEY = "config/scoring.yaml"
REFRESH_SECONDS = 300


@dataclass
class _Entry:
    etag: str
    text: str
    checked_at: float
    parsed: Any = None


class ConfigStore:
    def __init__(self, bucket: str, client: Any = None, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.bucket = bucket
        self._client = client
        self.refresh_seconds = refresh_seconds
        self._entries: dict[str, _Entry | None] = {}
        self._checked: dict[str, float] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            from reawake.core.aws import client

            self._client = client("s3")
        return self._client

    def _entry(self, key: str) -> _Entry | None:
        now = time.monotonic()
        if key in self._checked and now - self._checked[key] < self.refresh_seconds:
            return self._entries.get(key)
        self._checked[key] = now
        current = self._entries.get(key)
        try:
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
            if current is not None:
                args["IfNoneMatch"] = current.etag
            response = self.client.get_object(**args)
        except self.client.exceptions.NoSuchKey:
            self._entries[key] = None
            return None
        except Exception as exc:  # 304 Not Modified arrives as a ClientError
            if current is not None and "304" in str(exc):
                return current
            raise
        entry = _Entry(response["ETag"], response["Body"].read().decode("utf-8-sig"), now)
        self._entries[key] = entry
        return entry

    def refresh(self) -> None:
        """Check the bucket again on the next read (a conditional GET: 304 when nothing changed)."""
        self._checked.clear()

    def scoring(self) -> ScoringConfig | None:
        entry = self._entry(SCORING_KEY)
        if entry is None:
            return None
        if entry.parsed is None:
            entry.parsed = load_scoring(entry.text, f"s3://{self.bucket}/{SCORING_KEY}")
        parsed: ScoringConfig = entry.parsed
        return parsed


def bucket_config() -> ConfigStore:
    """The config bucket this function's settings name (each entry module caches its own)."""
    from reawake.core.settings import get_settings

    return ConfigStore(get_settings().config_bucket)

