"""The marketer's configuration (segments, scoring; templates later) as the functions read it:
YAML objects in the config bucket, validated on upload, cached per container and refreshed by
ETag every few minutes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reawake.core.scoring import ScoringConfig, load_scoring
from reawake.segments.rules.config import load_segments
from reawake.segments.rules.model import SegmentDefinition

SEGMENTS_KEY = "config/segments.yaml"
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

    def segments(self) -> list[SegmentDefinition]:
        entry = self._entry(SEGMENTS_KEY)
        if entry is None:
            return []
        if entry.parsed is None:
            entry.parsed = load_segments(entry.text, f"s3://{self.bucket}/{SEGMENTS_KEY}", self.scoring())
        parsed: list[SegmentDefinition] = entry.parsed
        return parsed

    def segment_dimensions(self) -> dict[str, frozenset[str]]:
        return read_dimensions(self.segments())

    def segment_names(self) -> dict[str, str]:
        """Each segment's id → its name (what mails to salespeople call it)."""
        return {d.id: d.name for d in self.segments()}


def read_dimensions(definitions: Iterable[SegmentDefinition]) -> dict[str, frozenset[str]]:
    """Definition id -> the activity dimensions its rule reads (``last.<dimension>``): the quiet
    of those is what made a lead dormant by it (③: its sales conversations and follow-ups)."""
    from reawake.segments.reads import condition_paths

    return {d.id: frozenset(p[1] for p in condition_paths(d.rule) if p[0] == "last") for d in definitions}


def bucket_config() -> ConfigStore:
    """The config bucket this function's settings name (each entry module caches its own)."""
    from reawake.core.settings import get_settings

    return ConfigStore(get_settings().config_bucket)


def upload_config(client: Any, bucket: str, config_dir: Path) -> list[str]:
    """Validate the config directory's files, then upload them; nothing is uploaded if one is bad
    (raises the ConfigError listing every problem)."""
    from reawake.core.scoring import load_scoring_file
    from reawake.segments.rules.config import load_segment_files

    scoring_path = config_dir / "scoring.yaml"
    segments_path = config_dir / "segments.yaml"
    scoring = load_scoring_file(scoring_path) if scoring_path.exists() else None
    if segments_path.exists():
        load_segment_files([segments_path], scoring, str(scoring_path))
    uploaded = []
    for path, key in ((scoring_path, SCORING_KEY), (segments_path, SEGMENTS_KEY)):
        if path.exists():
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/yaml")
            uploaded.append(key)
    return uploaded
