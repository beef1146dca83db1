"""A throw-away PostgreSQL server for end-to-end tests (system binaries, loopback only).

The server runs from a fresh temp directory on a free 127.0.0.1 port with its unix socket in
that directory. As root it runs as the ``postgres`` user (PostgreSQL refuses root). Anything
that stops it from starting raises :class:`PostgresUnavailable` with the reason: tests that
need it fail, they never skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

SUPERUSER = "postgres"
APP_USER = "meltano"
APP_PASSWORD = "meltano-e2e-password"  # a throw-away server on loopback; not a secret


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found or started (message says why)."""


@dataclass(frozen=True)
class PgDatabase:
    """Connection parameters of one database on the test server."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def connect(self) -> Any:
        """Open a psycopg2 connection (autocommit)."""
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
        )
        conn.autocommit = True
        return conn

    def target_postgres_env(self, schema: str) -> dict[str, str]:
        """Environment variables that point Meltano's ``target-postgres`` at this database."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }


def find_bin_dir() -> Path:
    """Newest ``/usr/lib/postgresql/<version>/bin`` holding initdb (or ``$PG_BIN_DIR``)."""
    override = os.environ.get("PG_BIN_DIR")
    candidates = [override] if override else glob.glob("/usr/lib/postgresql/*/bin")
    found = [Path(c) for c in candidates if c and (Path(c) / "initdb").is_file()]
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin; "
            "run `make bootstrap` (installs the `postgresql` package as root) or set PG_BIN_DIR"
        )

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    return max(found, key=version)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temp dir; ``start()`` / ``stop()``; creates databases."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="pg-e2e-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = 0
        self._run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    "running as root but there is no `postgres` OS user to run the server"
                ) from exc
            self._run_as = SUPERUSER
            shutil.chown(self.root, user=SUPERUSER)
        os.chmod(self.root, 0o700)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        try:
            return subprocess.run(
                cmd,
                user=self._run_as,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
                cwd=self.root,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-5:]
            raise PostgresUnavailable(
                f"`{args[0]}` failed (exit {exc.returncode}): "
                f"{' | '.join(detail)}{self._log_tail()}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise PostgresUnavailable(f"`{args[0]}` timed out after {timeout}s") from exc

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()[-5:]
        except OSError:
            return ""
        return " | server log: " + " | ".join(lines) if lines else ""

    def start(self) -> None:
        """initdb (trust on the socket, scram on loopback TCP), start, create the app user."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(APP_PASSWORD + "\n")
        if self._run_as:
            shutil.chown(pwfile, user=self._run_as)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        last_error: PostgresUnavailable | None = None
        for _ in range(3):  # a just-found free port can be taken by someone else: retry
            self.port = free_port()
            opts = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                # a UTC warehouse whatever the host zone (the suite runs in America/New_York):
                # target-postgres stores timestamps without time zone, in the session's zone
                "-c timezone=UTC"
            )
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                    "-o", opts, "-w", "-t", "60", "start",
                )  # fmt: skip
                break
            except PostgresUnavailable as exc:
                last_error = exc
                time.sleep(0.5)
        else:
            assert last_error is not None
            raise last_error
        with self._superuser_connection() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD %s CREATEDB", (APP_PASSWORD,))

    @contextmanager
    def _superuser_connection(self) -> Iterator[Any]:
        conn = psycopg2.connect(
            host=str(self.root), port=self.port, user=SUPERUSER, dbname="postgres"
        )
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def create_database(self, prefix: str = "e2e") -> PgDatabase:
        """A new empty database owned by the app user (password auth over 127.0.0.1)."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self._superuser_connection() as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return PgDatabase("127.0.0.1", self.port, APP_USER, APP_PASSWORD, name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a server, yield it, always stop and clean up."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
