"""`reawake migrate lead-ids` as an operator runs it, against the running local stack."""

from __future__ import annotations

import re

import pytest

from reawake.core.leads import Lead, legacy_lead_id
from tests.stack.harness import RunningStack
from tests.stack.test_local_command import run_cli
from tests.stack.test_local_stack import new_id

pytestmark = pytest.mark.stack


def test_migrate_lead_ids_moves_an_old_lead_and_a_second_run_moves_nothing(local_stack: RunningStack) -> None:
    store = local_stack.store()
    email = f"old.{new_id()[:8]}@example.co.jp"
    old = legacy_lead_id(email)  # as leads were keyed before ids became random
    store.save_lead(Lead(lead_id=old, email=email, registered_at=local_stack.now_s() * 1000, name="旧 太郎"), None)

    first = run_cli("migrate", "lead-ids", stack_file=local_stack.stack_file)
    assert first.returncode == 0, first.stderr
    assert re.search(r"\(moved [1-9]\d*, finished 0, unchanged \d+, conflicts 0\)", first.stdout), first.stdout
    new = store.lead_id_of(email)
    assert new is not None and new != old
    moved = store.get_lead(old)  # an old link's id still finds the lead
    assert moved is not None and moved.lead_id == new and moved.name == "旧 太郎"

    again = run_cli("migrate", "lead-ids", stack_file=local_stack.stack_file)
    assert again.returncode == 0, again.stderr
    assert "(moved 0, finished 0," in again.stdout
