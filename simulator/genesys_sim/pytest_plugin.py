"""pytest plugin (entry point ``pytest11``): the ``genesys_sim`` fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from genesys_sim.config import SimConfig
from genesys_sim.server import SimServer


@pytest.fixture
def genesys_sim() -> Iterator[Callable[..., SimServer]]:
    """Factory ``make(**SimConfig kwargs) -> SimServer`` (started on a free port).

    Every server made is stopped at teardown.
    """
    servers: list[SimServer] = []

    def make(**kwargs: Any) -> SimServer:
        kwargs.setdefault("port", 0)
        server = SimServer(SimConfig(**kwargs)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
