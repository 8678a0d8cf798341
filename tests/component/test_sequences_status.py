"""`reawake sequences status` and `reawake sequences migrate` against the emulator (the commands'
`connect` replaced, as in the other CLI tests): who is on which step and when the next step is due;
enrollments of the per-enrollment state machine (no due time) handed to the send slots."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reawake.stepmail.store import StepmailStore
from reawake_tools.cli import main
from reawake_tools.commands import sequences
from tests.component.test_stepmail import WEBINAR, Now, enrolled, env, new_lead, play, store  # noqa: F401

DAY = 86_400_000


@pytest.fixture
def cli(env: Now, monkeypatch: pytest.MonkeyPatch) -> Now:  # noqa: F811 - the fixture
    monkeypatch.setattr(sequences, "connect", lambda stack_name: {})
    return env


def test_status_shows_each_lead_on_its_step_with_the_next_due_time(cli: Now,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first, second = new_lead(cli), new_lead(cli)
    enrolled(first, cli)
    enrolled(second, cli)
    play(cli, cli.ms + DAY)  # both got the first mail; the invitation is due on day 14

    assert main(["sequences", "status"]) == 0
    assert f"{WEBINAR}" in capsys.readouterr().out
    assert main(["sequences", "status", "--sequence", WEBINAR]) == 0
    listed = capsys.readouterr().out
    assert f"{WEBINAR}: 2 active enrollment(s)" in listed
    assert first.email in listed and second.email in listed and "step 2/3" in listed
    assert main(["sequences", "status", "--lead", first.email]) == 0
    mine = capsys.readouterr().out
    assert "active" in mine and "step 2/3" in mine and "2026-12-" in mine and second.email not in mine
    assert main(["sequences", "status", "--lead", "nobody@example.co.jp"]) == 2
    assert "no lead" in capsys.readouterr().err


def test_migrate_gives_in_flight_enrollments_a_due_time_once(cli: Now, capsys: pytest.CaptureFixture[str]) -> None:
    lead = new_lead(cli)
    enrolled(lead, cli)
    stepmail = StepmailStore(store())
    old = stepmail.get_enrollment(lead.lead_id, WEBINAR)
    assert old is not None
    stepmail.save_progress(dataclasses.replace(old, due_at=None), 0)  # as the old engine left it
    assert stepmail.earliest_due(cli.ms + 30 * DAY) is None, "invisible to the send slots"

    assert main(["sequences", "migrate"]) == 0
    assert "1 in-flight enrollment(s)" in capsys.readouterr().out
    assert stepmail.earliest_due(cli.ms) == cli.ms
    assert main(["sequences", "migrate"]) == 0
    assert "0 in-flight enrollment(s)" in capsys.readouterr().out
    counts: Any = play(cli, cli.ms + DAY)
    assert counts["sent"] == 1


def test_status_of_one_sequence_reads_its_own_index_entries_oldest_first(
        cli: Now, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    played = [new_lead(cli) for _ in range(4)]
    for lead in played:
        enrolled(lead, cli)
    elsewhere = new_lead(cli)
    enrolled(elsewhere, cli, sequence="win-back")
    play(cli, cli.ms + DAY)  # their first mails went; the invitation is due on day 14
    newcomer = new_lead(cli)
    enrolled(newcomer, cli)  # its first mail is due first
    stepmail = StepmailStore(store())
    expected = sorted(((e.due_at, e.lead_id) for lead in [*played, newcomer]
                       if (e := stepmail.get_enrollment(lead.lead_id, WEBINAR)) is not None), key=lambda x: x[0])
    read: list[tuple[str, str]] = []
    original = StepmailStore._due_entries

    def recorded(self: StepmailStore, index: str, key: str, key_value: str, *args: Any, **kwargs: Any) -> Any:
        read.append((index, key_value))
        return original(self, index, key, key_value, *args, **kwargs)

    monkeypatch.setattr(StepmailStore, "_due_entries", recorded)
    assert main(["sequences", "status", "--sequence", WEBINAR, "--limit", "2"]) == 0
    listed = capsys.readouterr().out

    assert f"{WEBINAR}: 5 active enrollment(s)" in listed
    by_step = [line for line in listed.splitlines() if line.strip().startswith("step ") and "@" not in line]
    assert sum(int(line.split()[-1]) for line in by_step) == 5 and "step 1/3" in by_step[0]
    rows = [line for line in listed.splitlines() if "@example.co.jp" in line]
    assert len(rows) == 2 and newcomer.email in rows[0], "oldest due first, --limit rows"
    assert "… 3 more" in listed and elsewhere.email not in listed
    assert read and {index for index, _ in read} == {"sequence_due"}, "never the whole due index"
    assert all(value.startswith(f"{WEBINAR}#") for _, value in read)

    assert main(["sequences", "status", "--sequence", WEBINAR, "--limit", "-1"]) == 2
    assert "--limit" in capsys.readouterr().err

    monkeypatch.setattr(StepmailStore, "_due_entries", original)
    paged = list(stepmail.due_in_sequence(WEBINAR, page=1))  # one entry per request: every page read
    assert sorted(d.lead_id for d in paged) == sorted(lead_id for _, lead_id in expected)
    assert [d.due_at for d in paged] == [due_at for due_at, _ in expected], "merged oldest first"
    assert [d.lead_id for d in stepmail.due_in_sequence("win-back", page=1)] == [elsewhere.lead_id]


def test_migrate_puts_enrollments_from_before_the_sequence_index_into_it(
        cli: Now, capsys: pytest.CaptureFixture[str]) -> None:
    lead = new_lead(cli)
    enrolled(lead, cli)
    table = store()
    table.client.update_item(TableName=table.table_name,  # as written before the index existed
                             Key={"pk": {"S": f"LEAD#{lead.lead_id}"}, "sk": {"S": f"ENROLL#{WEBINAR}"}},
                             UpdateExpression="REMOVE sequence_shard")
    stepmail = StepmailStore(table)
    assert list(stepmail.due_in_sequence(WEBINAR)) == []
    assert stepmail.due_counts()[WEBINAR][0] == 1, "the send slots still see it"

    assert main(["sequences", "migrate"]) == 0
    assert "1 active enrollment(s) added to the per-sequence index" in capsys.readouterr().out
    assert [d.lead_id for d in stepmail.due_in_sequence(WEBINAR)] == [lead.lead_id]
