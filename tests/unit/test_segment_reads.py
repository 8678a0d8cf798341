"""What a segment run reads of a lead: the paths the compiled rules use, and no more, from the index
whose items do not grow with the lead's events whenever the rules allow it."""

from __future__ import annotations

from pathlib import Path

from reawake.core.dynamo import projection_expression, serialize
from reawake.core.leads import Lead
from reawake.core.scoring import load_scoring_file
from reawake.core.store import lead_from_item, lead_to_item
from reawake.segments.reads import (
    FACTS_ATTRS,
    FACTS_INDEX,
    MAX_NESTED,
    RUN_PATHS,
    WHOLE_INDEX,
    lead_paths,
    scan_plan,
)
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

    assert ("days", "page_view@topic:pricing") in paths and ("last_tail", "page_view@topic:pricing") in paths
    assert ("attrs", "業種") in paths
    assert {("score",), ("score_at",), ("suppressed",), ("unsubscribed_at",)} <= set(paths)


def test_many_keys_collapse_to_whole_maps() -> None:
    kinds = ["page_view", "download", "form_submit", "webinar_view", "purchase"]
    rule = {"any": [{"event": k, "path": f"/p{i}/", "ever": True} for i in range(MAX_NESTED // 4) for k in kinds]}
    paths = lead_paths([definition(rule)])

    assert ("last_tail",) in paths and not any(p[0] == "last_tail" and len(p) > 1 for p in paths)


def test_the_shipped_definitions_scan_the_facts_index() -> None:
    scoring = load_scoring_file(ROOT / "config" / "scoring.yaml")
    index, paths = scan_plan(load_segment_files([ROOT / "config" / "segments.yaml"], scoring))

    assert index == FACTS_INDEX
    assert {p[0] for p in paths} <= set(FACTS_ATTRS)


def test_topics_paths_campaigns_and_counts_scan_the_whole_profiles_and_the_rest_the_facts() -> None:
    facts = [{"event": "webinar_view", "within": "30d"}, {"event": "download", "ever": True},
             {"event": "page_view", "site": "https://x.jp", "within": "30d"}, {"band": "hot"},
             {"field": "業種", "equals": "製造業"}, {"attr": "owner", "exists": True},
             {"attr": "source", "equals": "import"}, {"attr": "converted_at", "exists": False}]
    whole = [{"event": "page_view", "path": "/seminar/", "within": "1y"},
             {"event": "page_view", "topic": "pricing", "within": "30d"},
             {"event": "email_click", "campaign": "spring", "ever": True},
             {"event": "page_view", "within": "3mo", "at_least": 5}]

    for rule in facts:
        assert scan_plan([definition(rule)])[0] == FACTS_INDEX, rule
    for rule in whole:
        assert scan_plan([definition(rule)])[0] == WHOLE_INDEX, rule
        assert scan_plan([definition({"all": [facts[0], rule]})])[0] == WHOLE_INDEX, rule
    assert ("last_tail", "page_view@path:/seminar/") in scan_plan([definition(whole[0])])[1]


def test_the_tail_of_last_is_stored_apart_and_read_back_whole() -> None:
    last = {"page_view": 5, "page_view@site:https://x.jp": 5, "page_view@topic:pricing": 4,
            "page_view@path:/seminar/": 3, "email_click@campaign:spring": 2}
    item = lead_to_item(Lead("l1", "a@example.jp", 0, last=last))

    assert item["last"] == {"page_view": 5, "page_view@site:https://x.jp": 5}
    assert item["last_tail"] == {"page_view@topic:pricing": 4, "page_view@path:/seminar/": 3,
                                 "email_click@campaign:spring": 2}
    assert lead_from_item(serialize(item)).last == last
    assert "last_tail" not in lead_to_item(Lead("l2", "b@example.jp", 0, last={"purchase": 1}))


def test_a_profile_stored_before_the_split_reads_the_same() -> None:
    last = {"page_view": 5, "page_view@path:/seminar/": 3}
    item = {**lead_to_item(Lead("l1", "a@example.jp", 0)), "last": last}

    assert lead_from_item(serialize(item)).last == last


def test_the_template_projects_exactly_the_facts_into_the_index() -> None:
    from reawake_tools.local.template import load_template

    indexes = load_template()["Resources"]["Table"]["Properties"]["GlobalSecondaryIndexes"]
    facts = next(i for i in indexes if i["IndexName"] == FACTS_INDEX)

    assert facts["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(FACTS_ATTRS)}
    assert facts["KeySchema"] == next(i for i in indexes if i["IndexName"] == WHOLE_INDEX)["KeySchema"]
    assert not {"days", "last_tail", "mail_log", "consent"} & set(FACTS_ATTRS)


def test_every_name_is_a_placeholder() -> None:
    expression, names = projection_expression([("last", "page_view@site:https://x.jp"), ("segments",)])

    assert expression == "#p0.#p1, #p2"
    assert names == {"#p0": "last", "#p1": "page_view@site:https://x.jp", "#p2": "segments"}
