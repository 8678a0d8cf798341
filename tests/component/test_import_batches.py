"""Imports write many leads per transaction (``Store.transact_groups``): the guarantees of one
conditional write per lead hold for every lead of a batch, on moto."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.events import Event
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake_tools.imports.activities import import_activities_file
from reawake_tools.imports.leads import BATCH, import_csv_file

LEADS_HEADER = "メールアドレス,氏名,会社名\r\n"
ACTIVITIES_HEADER = "メールアドレス,種別,日時\r\n"


def now_ms() -> int:
    return int(time.time() * 1000)


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def items(prefix: str) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"])["Items"]
    return [i for i in table if i["pk"]["S"].startswith(prefix)]


def profiles() -> list[dict[str, Any]]:
    return [i for i in items("LEAD#") if i["sk"]["S"] == "PROFILE"]


def csv_file(tmp_path: Path, header: str, rows: list[str], name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(f"{row}\r\n" for row in rows), encoding="utf-8")
    return path


def test_a_file_larger_than_a_batch_makes_one_lead_and_one_claim_per_email(aws: Any, tmp_path: Path) -> None:
    emails = [f"lead{i:03d}@example.co.jp" for i in range(BATCH + 30)]
    rows = [f"{e},名前{i},株式会社{i}" for i, e in enumerate(emails)]
    rows += [f"{emails[5]},後の名前,", f"{emails[5]},最後の名前,"]  # the same email again in the file
    report = import_csv_file(store(), csv_file(tmp_path, LEADS_HEADER, rows), get_settings(), now_ms())
    assert (report.created, report.updated, report.rejected) == (len(emails), 0, [])
    assert len(profiles()) == len(items("EMAIL#")) == len(emails), "one profile and one email claim each"
    claimed = {i["lead_id"]["S"] for i in items("EMAIL#")}
    assert claimed == {p["lead_key"]["S"] for p in profiles()}, "each claim names its lead's profile"
    assert store().lead_by_email(emails[5]).name == "最後の名前"  # type: ignore[union-attr]


def test_reimporting_a_batched_file_writes_nothing(aws: Any, tmp_path: Path) -> None:
    rows = [f"lead{i:03d}@example.co.jp,名前{i}," for i in range(BATCH + 10)]
    path = csv_file(tmp_path, LEADS_HEADER, rows)
    import_csv_file(store(), path, get_settings(), now_ms())
    before = {p["pk"]["S"]: p["version"]["N"] for p in profiles()}
    report = import_csv_file(store(), path, get_settings(), now_ms())
    assert (report.created, report.updated, report.unchanged) == (0, 0, len(rows))
    assert {p["pk"]["S"]: p["version"]["N"] for p in profiles()} == before


def test_an_email_claimed_meanwhile_joins_that_lead_and_the_rest_of_its_batch_lands(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form claimed one email between the import's lookup and its write: the batch's transaction
    is refused for that email only; it is written on its own under the id that won."""
    emails = [f"lead{i:02d}@example.co.jp" for i in range(40)]
    won = store().claim_lead_id(emails[7], looked_up=True)  # the form's claim; no profile yet
    rows = [f"{e},名前{i}," for i, e in enumerate(emails)]
    with monkeypatch.context() as patched:
        patched.setattr(Store, "lead_ids_of", lambda self, chunk: {})  # looked up before the claim
        report = import_csv_file(store(), csv_file(tmp_path, LEADS_HEADER, rows), get_settings(), now_ms())
    assert (report.created, report.updated) == (len(emails), 0)
    assert len(profiles()) == len(items("EMAIL#")) == len(emails)
    assert store().lead_id_of(emails[7]) == won
    assert store().lead_by_email(emails[7]).name == "名前7"  # type: ignore[union-attr]
    assert store().lead_by_email(emails[8]).name == "名前8"  # type: ignore[union-attr]  # control


def test_activities_of_many_leads_in_one_batch_with_one_already_stored(aws: Any, tmp_path: Path) -> None:
    """Leads new and known, one activity stored before: that lead's part is refused and written on
    its own (its duplicate counted, its new activity kept); the others land in the batch."""
    emails = [f"lead{i:02d}@example.co.jp" for i in range(30)]
    first = csv_file(tmp_path, ACTIVITIES_HEADER, [f"{emails[3]},purchase,2026/10/01 10:00"], "first.csv")
    import_activities_file(store(), first, get_settings(), now_ms())
    rows = [f"{e},page_view,2026/10/0{1 + i % 9} 1{i % 10}:00" for i, e in enumerate(emails)]
    rows += [f"{emails[3]},purchase,2026/10/01 10:00", f"{emails[3]},webinar_view,2026/10/02 11:00"]
    report = import_activities_file(store(), csv_file(tmp_path, ACTIVITIES_HEADER, rows), get_settings(), now_ms())
    assert (report.recorded, report.duplicates, report.created) == (len(emails) + 1, 1, len(emails) - 1)
    assert len(profiles()) == len(items("EMAIL#")) == len(emails)
    three = store().lead_by_email(emails[3])
    assert three is not None and {"purchase", "webinar_view", "page_view"} <= set(three.last)
    assert len(store().lead_events(three.lead_id)) == 3
    again = import_activities_file(store(), csv_file(tmp_path, ACTIVITIES_HEADER, rows), get_settings(), now_ms())
    assert (again.recorded, again.duplicates) == (0, len(rows)), "a re-run stores nothing twice"


def test_transact_groups_splits_at_100_items_and_reports_only_the_refused_group(aws: Any) -> None:
    db = store()
    taken = Event(id="taken", kind="page_view", ts=now_ms(), source="browser", lead_id="x")
    db.commit([taken], 0)
    groups = []
    for g in range(7):  # 7 groups of 30 items: three transactions at least
        events = [Event(id=f"g{g}-e{i}", kind="page_view", ts=now_ms(), source="browser", lead_id=f"l{g}")
                  for i in range(15)]
        groups.append(db.commit_items(events, 0, None, None))
    groups[4] = groups[4][:-2] + db.commit_items([taken], 0, None, None)  # its last event was stored before
    assert db.transact_groups(groups) == {4}
    stored = {i["pk"]["S"] for i in items("EVENT#")}
    assert len(stored) == 1 + 6 * 15, "every other group was written whole"
    assert "EVENT#g4-e0" not in stored, "nothing of the refused group"


def test_an_index_query_while_an_import_writes_answers(aws: Any, tmp_path: Path) -> None:
    """The local stack's due probe queries an index while imports write: the emulator's query walks
    the table's items and must not fail because one was added meanwhile."""
    import threading

    rows = [f"lead{i:04d}@example.co.jp,名前{i}," for i in range(600)]
    path = csv_file(tmp_path, LEADS_HEADER, rows)
    done = threading.Event()
    errors: list[Exception] = []
    answers = 0

    def query() -> None:
        nonlocal answers
        client = boto3.client("dynamodb")
        while not done.is_set():
            try:
                client.query(TableName=os.environ["TABLE_NAME"], IndexName="leads",
                             KeyConditionExpression="lead_key = :k", ExpressionAttributeValues={":k": {"S": "x"}})
                answers += 1
            except Exception as exc:  # what the test looks for
                errors.append(exc)

    reader = threading.Thread(target=query)
    reader.start()
    try:
        report = import_csv_file(store(), path, get_settings(), now_ms())
    finally:
        done.set()
        reader.join()
    assert report.created == len(rows)
    assert answers > 0, "the index was queried during the import (positive control)"
    assert errors == []
