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
