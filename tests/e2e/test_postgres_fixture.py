"""The throw-away PostgreSQL server behaves as the end-to-end tests rely on."""

from __future__ import annotations

import pytest

from tests.e2e.postgres import (
    PgDatabase,
    PostgresServer,
    PostgresUnavailable,
    find_bin_dir,
)

pytestmark = pytest.mark.e2e


def test_server_accepts_password_login_on_loopback_only(
    pg_server: PostgresServer, pg_database: PgDatabase
) -> None:
    with pg_database.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone()[0] == "127.0.0.1"
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == (pg_database.user, pg_database.database)
    bad = PgDatabase(
        pg_database.host, pg_database.port, pg_database.user, "wrong", pg_database.database
    )
    with pytest.raises(Exception, match="password authentication failed"):
        bad.connect()


def test_each_test_database_starts_empty(pg_server: PostgresServer) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first.database != second.database
    with first.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
        assert cur.fetchone()[0] == 0


def test_missing_binaries_fail_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BIN_DIR", "/nonexistent/postgresql/bin")
    with pytest.raises(PostgresUnavailable, match=r"no PostgreSQL server binaries \(initdb\)"):
        find_bin_dir()
