"""The local stack's saved state (reawake_tools.local.state): the tables written in chunks, read back
into moto's tables whole; a file of the first format (one pickle) still read."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from reawake.core.settings import get_settings
from reawake_tools.local import state


def put_many(count: int) -> None:
    client = boto3.client("dynamodb")
    for number in range(count):
        client.put_item(TableName=get_settings().table_name,
                        Item={"pk": {"S": f"LEAD#{number % 7}"}, "sk": {"S": f"EV#{number:04d}"},
                              "name": {"S": "保存 花子"}, "n": {"N": str(number)}})


def every_item() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items = client.scan(TableName=get_settings().table_name)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def emptied() -> None:
    from collections import defaultdict

    state.moto_table(get_settings().table_name).items = defaultdict(dict)
    assert every_item() == []


def test_the_tables_come_back_whole_from_chunks(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "CHUNK_ITEMS", 10)  # 130 items in 7 partitions: several chunks
    put_many(130)
    before = every_item()
    path = tmp_path / "stack.pickle"
    saved = state.save(path, 1_800_000_000.0, {"Table": get_settings().table_name}, {"S": "secret"})
    assert saved.counts() == {"Table": 130}
    emptied()

    loaded = state.load(path)
    assert loaded is not None and loaded.clock == 1_800_000_000.0 and loaded.secrets == {"S": "secret"}
    state.restore(loaded, {"Table": get_settings().table_name}, {}, boto3.client)
    assert every_item() == before
    put_many(1)  # the restored table takes writes as moto's own
    assert len(every_item()) == 130


def test_a_background_save_writes_the_same_file(aws: Any, tmp_path: Path) -> None:
    put_many(20)
    before = every_item()
    path = tmp_path / "stack.pickle"
    _, pid = state.save_in_background(path, 1.0, {"Table": get_settings().table_name}, {})
    _, status = os.waitpid(pid, 0)
    assert status == 0
    emptied()
    loaded = state.load(path)
    assert loaded is not None
    state.restore(loaded, {"Table": get_settings().table_name}, {}, boto3.client)
    assert every_item() == before


def test_a_file_of_the_first_format_is_still_read(aws: Any, tmp_path: Path) -> None:
    put_many(15)
    before = every_item()
    table = state.moto_table(get_settings().table_name)
    path = tmp_path / "stack.pickle"
    with path.open("wb") as file:  # as the first format wrote it: the header, then one pickle of all
        pickle.dump({"format": 1, "moto": state._moto_version()}, file)
        pickle.dump(state.Saved(2.0, {"Table": table.items}, {}, time.time()), file)
    emptied()
    loaded = state.load(path)
    assert loaded is not None and loaded.counts() == {"Table": 15}
    state.restore(loaded, {"Table": get_settings().table_name}, {}, boto3.client)
    assert every_item() == before


def test_a_file_of_another_moto_is_set_aside(aws: Any, tmp_path: Path) -> None:
    path = tmp_path / "stack.pickle"
    with path.open("wb") as file:
        pickle.dump({"format": state.FORMAT, "moto": "0.0.1"}, file)
    assert state.load(path) is None
    assert not path.exists() and path.with_name("stack.pickle.unreadable").exists()


def test_a_signal_while_reading_stops_the_load_and_leaves_the_file(aws: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "CHUNK_ITEMS", 10)
    put_many(60)
    path = tmp_path / "stack.pickle"
    state.save(path, 1_800_000_000.0, {"Table": get_settings().table_name}, {})
    before = path.read_bytes()
    asked: list[int] = []

    def cancelled() -> bool:  # the signal comes after the second chunk
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(state.Cancelled):
        state.load(path, cancelled)
    assert len(asked) == 3, "asked between chunks"
    assert path.read_bytes() == before and not path.with_name(path.name + ".unreadable").exists()
    loaded = state.load(path)  # positive control: the same file reads whole without the signal
    assert loaded is not None and loaded.counts() == {"Table": 60}
