"""Fixtures for end-to-end runs: a real PostgreSQL server and Meltano with private state."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.meltano import MeltanoRunner, ensure_plugins_installed
from tests.e2e.postgres import PgDatabase, PostgresServer, running_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server for the session; fails (never skips) if it can't start."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> PgDatabase:
    """A fresh, empty database for one test."""
    return pg_server.create_database()


@pytest.fixture(scope="session")
def meltano_plugins() -> None:
    """The project's Meltano plugins are installed (``meltano install`` if one is missing)."""
    ensure_plugins_installed()


@pytest.fixture
def meltano(meltano_plugins: None, tmp_path: Path, request: pytest.FixtureRequest) -> MeltanoRunner:
    """Meltano in the project, with a system database (state backend) private to this test."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:40]
    return MeltanoRunner(workdir=tmp_path / f"meltano-{name}")
