"""The replay tests of the conditional writes, again on moto as shipped (without
``reawake_tools.local.moto_patches``' TransactWriteItems), so that our patch of the emulator is not the only
witness that a tracked event is stored once and a step-mail send is claimed once.

The tests are the ones of test_track_api.py and test_stepmail.py, collected here a second time under
the ``stock_moto`` mark (the ``aws`` fixture then restores moto's own transaction code).
"""

from __future__ import annotations

import pytest

from tests.component import test_stepmail, test_track_api
from tests.component.test_stepmail import env  # noqa: F401  (the fixture those tests ask for)

pytestmark = pytest.mark.stock_moto

test_a_batch_is_stored_once = test_track_api.test_batch_is_stored_once_and_duplicates_are_counted
test_same_id_twice_in_a_batch = test_track_api.test_same_id_twice_in_one_batch_is_stored_once
test_activities_are_recorded_once = test_track_api.test_activities_are_recorded_once_and_create_unknown_leads
test_a_replayed_slot_sends_once = test_stepmail.test_a_replayed_slot_sends_every_due_step_once
test_overlapping_slots_send_once = test_stepmail.test_two_overlapping_slot_runs_send_every_due_step_once
test_a_batch_retried_after_a_crash = test_stepmail.test_a_batch_retried_after_a_crash_sends_nothing_twice
test_a_second_enrollment_is_refused = (
    test_stepmail.test_a_suppressed_lead_is_not_enrolled_and_a_second_enrollment_is_refused
)


def test_the_patch_is_off_here_and_on_elsewhere(aws: object) -> None:
    """The positive control of this file: the tests above really ran on moto's own code."""
    from moto.dynamodb.models import DynamoDBBackend

    from reawake_tools.local import moto_patches

    assert DynamoDBBackend.transact_write_items is not moto_patches._transact_write_items
    assert moto_patches._stock["transact_write_items"] is DynamoDBBackend.transact_write_items
