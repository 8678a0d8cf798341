"""Stack tests: the `local_stack` fixture (tests/conftest.py) is one `reawake local` for the whole
session (see harness.py); here, every call its functions make is checked against their roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack.harness import RunningStack


@pytest.fixture(autouse=True)
def _calls_within_each_role(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every function of the stack runs under its own role (reawake_tools.local.iam): a call its role
    does not allow is refused and logged; such a line fails the test that caused it."""
    if "local_stack" not in request.fixturenames:
        yield
        return
    from reawake_tools.local.iam import DENIED

    stack: RunningStack = request.getfixturevalue("local_stack")
    before = len(stack.log())
    yield
    denied = [line for line in stack.log()[before:].splitlines() if DENIED in line]
    assert not denied, "\n".join(denied)
