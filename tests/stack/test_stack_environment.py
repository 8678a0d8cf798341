"""The shared local stack points this process at itself only during the tests that take it
(`local_stack`): a component test run after a stack test sees the repository's defaults."""

from __future__ import annotations

import os

import pytest

from tests.stack.harness import RunningStack

pytestmark = pytest.mark.stack

# Names whose values only the stack gives (the emulator, its table, its metrics switch).
STACK_ONLY = ("AWS_ENDPOINT_URL", "TABLE_NAME", "POWERTOOLS_METRICS_DISABLED")


def test_a_test_that_takes_local_stack_talks_to_it(local_stack: RunningStack) -> None:
    for name in STACK_ONLY:
        assert os.environ[name] == local_stack.environment[name], name


def test_a_test_without_local_stack_does_not_see_its_environment(shared_stack: RunningStack) -> None:
    assert shared_stack.process.poll() is None, "the shared stack is running meanwhile"
    for name in STACK_ONLY:
        assert name in shared_stack.environment, name  # positive control: the stack does set it
        assert os.environ.get(name) != shared_stack.environment[name], name
