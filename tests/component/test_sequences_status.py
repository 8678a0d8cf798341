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
