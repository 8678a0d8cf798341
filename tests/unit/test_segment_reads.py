"""What a segment run reads of a lead: the paths the compiled rules use, and no more."""

from __future__ import annotations

from pathlib import Path

from reawake.core.scoring import load_scoring_file
from reawake.segments.reads import MAX_NESTED, RUN_PATHS, lead_paths, projection_expression
from reawake.segments.rules.config import load_segment_files
from reawake.segments.rules.model import SegmentDefinition

ROOT = Path(__file__).resolve().parents[2]


def definition(rule: dict[str, object]) -> SegmentDefinition:
    return SegmentDefinition.model_validate({"id": "d", "name": "d", "approach": {"type": "watch"}, "rule": rule})


def test_the_shipped_definitions_read_a_few_last_keys_and_no_day_buckets() -> None:
    scoring = load_scoring_file(ROOT / "config" / "scoring.yaml")
    paths = lead_paths(load_segment_files([ROOT / "config" / "segments.yaml"], scoring))

    assert ("last", "page_view@site:https://www.example.co.jp") in paths
    assert ("last", "webinar_view") in paths and ("last", "purchase") in paths
    assert not any(p[0] in ("days", "attrs", "mail_log") for p in paths)
    assert set(RUN_PATHS) <= set(paths)


def test_counts_fields_and_bands_add_what_they_read() -> None:
    paths = lead_paths([definition({"all": [
        {"event": "page_view", "topic": "pricing", "within": "30d", "at_least": 3},
        {"field": "業種", "equals": "製造業"},
        {"band": "hot"},
    ]})])

    assert ("days", "page_view@topic:pricing") in paths and ("last", "page_view@topic:pricing") in paths
    assert ("attrs", "業種") in paths
    assert {("score",), ("score_at",), ("suppressed",), ("unsubscribed_at",)} <= set(paths)


def test_many_keys_collapse_to_whole_maps() -> None:
    kinds = ["page_view", "download", "form_submit", "webinar_view", "purchase"]
    rule = {"any": [{"event": k, "path": f"/p{i}/", "ever": True} for i in range(MAX_NESTED // 4) for k in kinds]}
    paths = lead_paths([definition(rule)])

    assert ("last",) in paths and not any(p[0] == "last" and len(p) > 1 for p in paths)


def test_every_name_is_a_placeholder() -> None:
    expression, names = projection_expression([("last", "page_view@site:https://x.jp"), ("segments",)])

    assert expression == "#p0.#p1, #p2"
    assert names == {"#p0": "last", "#p1": "page_view@site:https://x.jp", "#p2": "segments"}
