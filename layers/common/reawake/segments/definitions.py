"""The segment definitions (``config/segments.yaml``) as the functions read them from the config
bucket, cached per container and re-checked by ETag (``reawake.core.config_store.ConfigStore``).

The segment run evaluates them; the mails to salespeople (revisit alerts, call lists) only name
them and say since when a lead went quiet, through the ``reawake.mail.config.OwnerMailConfig``
port: ``owner_mail_config`` is its adapter, wired by those features' entry modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reawake.core.config_store import SCORING_KEY, ConfigStore
from reawake.mail.templates import TemplateStore
from reawake.segments.reads import condition_paths
from reawake.segments.rules.config import load_segments
from reawake.segments.rules.model import SegmentDefinition

SEGMENTS_KEY = "config/segments.yaml"


class SegmentConfig(ConfigStore):
    """Scoring (ConfigStore) and the segment definitions in the config bucket."""

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


class OwnerMailBucket(TemplateStore, SegmentConfig):
    """The config bucket as the mails to salespeople read it (``OwnerMailConfig``): templates,
    mail.yaml and owners.yaml (TemplateStore) with the definitions' names and read dimensions."""


def read_dimensions(definitions: Iterable[SegmentDefinition]) -> dict[str, frozenset[str]]:
    """Definition id -> the activity dimensions its rule reads (``last.<dimension>``): the quiet
    of those is what made a lead dormant by it (③: its sales conversations and follow-ups)."""
    return {d.id: frozenset(p[1] for p in condition_paths(d.rule) if p[0] == "last") for d in definitions}


def bucket_definitions() -> SegmentConfig:
    """The definitions in the config bucket this function's settings name (each entry caches its own)."""
    from reawake.core.settings import get_settings

    return SegmentConfig(get_settings().config_bucket)


def owner_mail_config() -> OwnerMailBucket:
    """The ``OwnerMailConfig`` adapter over this function's config bucket (alerts, call lists)."""
    from reawake.core.settings import get_settings

    return OwnerMailBucket(get_settings().config_bucket)


def upload_config(client: Any, bucket: str, config_dir: Path) -> list[str]:
    """Validate the config directory's scoring and segment definitions, then upload them; nothing is
    uploaded if one is bad (raises the ConfigError listing every problem)."""
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
