"""Fixtures of the component tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from reawake_tools.local import inprocess


@pytest.fixture
def emulator() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    inprocess.install(endpoint, server._server.app)  # type: ignore[union-attr]
    try:
        yield endpoint
    finally:
        inprocess.uninstall(endpoint)
        server.stop()
