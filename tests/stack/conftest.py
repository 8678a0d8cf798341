"""The `local_stack` fixture: one `reawake local` for the whole session (see harness.py).

Other test folders share the same running stack with
``from tests.stack.conftest import local_stack  # noqa: F401`` in their conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack.harness import RunningStack, acquire, release


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = acquire(tmp_path_factory.mktemp("local-stack"))
    try:
        yield stack
    finally:
        release()


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
