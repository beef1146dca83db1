"""`meltano run tap-genesys-analytics target-postgres` as a killable process group.

:class:`MeltanoRun` starts Meltano in its own session (process group) with output in files, so
a test can wait for a log line or a simulator event and SIGKILL Meltano, the tap and the target
at once. Helpers read the table and the bookmark Meltano saved.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.e2e.meltano import MELTANO, PROJECT_ROOT, MeltanoRunner
from tests.e2e.postgres import PgDatabase
from tests.faults.conftest import tap_config

PIPELINE = ("run", "tap-genesys-analytics", "target-postgres")


def tap_env(sim: Any, **settings: str) -> dict[str, str]:
    """Extractor settings as Meltano env vars (distinctive secret, small pages, no lookback)."""
    values = tap_config(sim, **{"max_concurrency": 2, "request_timeout": 30, **settings})
    env = {f"TAP_GENESYS_ANALYTICS_{k.upper()}": str(v) for k, v in values.items()}
    # the fault scenarios are about conversation_details (the analyst tables have their own
    # end-to-end test): Meltano's select extra, set as an env var, keeps the pipelines to it
    env["TAP_GENESYS_ANALYTICS__SELECT"] = '["conversation_details.*"]'
    return env


def private_sys_dir(runner: MeltanoRunner) -> dict[str, str]:
    """A ``.meltano`` of this test's own: shared plugin venvs, private ``run/`` directory.

    ``.meltano/run/<plugin>/`` holds each run's generated config and catalog; runs of other
    tests or engineers in the same project would otherwise overwrite it under a killed or
    running pipeline ("catalog: file is not valid JSON").
    """
    root = runner.workdir / "sys"
    (root / "run").mkdir(parents=True, exist_ok=True)
    for name in ("extractors", "loaders"):
        link = root / name
        if not link.exists():
            link.symlink_to(PROJECT_ROOT / ".meltano" / name)
    return {"MELTANO_SYS_DIR_ROOT": str(root)}


class MeltanoRun:
    """One ``meltano run`` in its own process group; stdout+stderr go to ``log``."""

    def __init__(self, runner: MeltanoRunner, env: dict[str, str], name: str) -> None:
        self.log = runner.workdir / f"{name}.log"
        self._out = self.log.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(MELTANO), f"--environment={runner.environment}", *PIPELINE],
            cwd=PROJECT_ROOT,
            env=runner.full_env({**private_sys_dir(runner), **env}),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.killed_after_s: float | None = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, fragment: str, timeout: float = 60) -> None:
        """Block until ``fragment`` appears in the log (fails if the run ends first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fragment in self.text():
                return
            if self.proc.poll() is not None and fragment not in self.text():
                raise AssertionError(
                    f"run ended (exit {self.proc.returncode}) before "
                    f"{fragment!r}:\n{self.text()[-3000:]}"
                )
            time.sleep(0.02)
        raise AssertionError(f"no {fragment!r} within {timeout} s:\n{self.text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL Meltano, the tap and the target (the whole process group)."""
        assert self.proc.poll() is None, f"run already ended:\n{self.text()[-3000:]}"
        self.killed_after_s = time.monotonic() - self.started
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._out.close()

    def wait(self, timeout: float = 300) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            self._out.close()
        return code

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def age_killed_runs(runner: MeltanoRunner, minutes: int = 6) -> int:
    """Make the killed run's job look as old as the next scheduled run would find it.

    A SIGKILLed ``meltano run`` leaves its job RUNNING; Meltano refuses to start the same
    pipeline until the job's heartbeat is 5 minutes stale ("Another ... pipeline is already
    running"), then marks it failed and runs. Instead of waiting 5 minutes, the heartbeat and
    start are moved back; the rerun is then the plain command a scheduler would issue.
    """
    with sqlite3.connect(runner.workdir / "meltano.db") as conn:
        rows = conn.execute(
            "SELECT id, started_at, last_heartbeat_at FROM runs WHERE state = 'RUNNING'"
        ).fetchall()
        for run_id, started, heartbeat in rows:
            moved = [
                (datetime.fromisoformat(v) - timedelta(minutes=minutes)).isoformat(" ")
                if v
                else None
                for v in (started, heartbeat)
            ]
            conn.execute(
                "UPDATE runs SET started_at = ?, last_heartbeat_at = ? WHERE id = ?",
                (*moved, run_id),
            )
    return len(rows)


def saved_bookmark(runner: MeltanoRunner, state_id: str) -> datetime | None:
    """The bookmark Meltano's state backend holds (read from its system database)."""
    db = runner.workdir / "meltano.db"
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute(
                "SELECT completed_state, partial_state FROM state WHERE state_id = ?",
                (state_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # no state table yet: never got that far
            return None
    values = []
    for completed, partial in rows:
        for blob in (partial, completed):
            payload = json.loads(blob) if blob else {}
            value = (
                payload.get("singer_state", {})
                .get("bookmarks", {})
                .get("conversation_details", {})
                .get("replication_key_value")
            )
            if value:
                values.append(parse_iso(value))
                break
    return max(values) if values else None


def parse_iso(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


def table_rows(db: PgDatabase, schema: str) -> tuple[dict[str, dict[str, Any]], int]:
    """(conversationId -> row, number of rows); no table yet -> ({}, 0)."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{schema}.conversation_details",))
        if cur.fetchone()[0] is None:
            return {}, 0
        cur.execute(
            f'SELECT "conversationId", "conversationStart", "conversationEnd", "participants" '
            f"FROM {schema}.conversation_details"
        )
        rows = cur.fetchall()
    by_id = {r[0]: {"start": r[1], "end": r[2], "participants": r[3]} for r in rows}
    return by_id, len(rows)


def table_text(db: PgDatabase, schema: str) -> str:
    """Every row of the table as text (for the secret scan)."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{schema}.conversation_details",))
        if cur.fetchone()[0] is None:
            return ""
        cur.execute(f"SELECT t::text FROM {schema}.conversation_details t")
        return "\n".join(r[0] for r in cur.fetchall())


def assert_equals_truth(
    rows: dict[str, dict[str, Any]], n_rows: int, truth: list[dict[str, Any]]
) -> None:
    """No duplicate keys; same ids; each row's start, end and participants as the API's."""
    assert n_rows == len(rows), f"{n_rows - len(rows)} duplicate conversationIds"
    truth_ids = {c["conversationId"] for c in truth}
    missing, extra = truth_ids - rows.keys(), rows.keys() - truth_ids
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} unexpected"
    for conv in truth:
        row = rows[conv["conversationId"]]
        assert parse_iso(row["start"]) == parse_iso(conv["conversationStart"])
        end = conv.get("conversationEnd")
        assert (row["end"] is None) if end is None else parse_iso(row["end"]) == parse_iso(end)
        participants = row["participants"]
        if isinstance(participants, str):
            participants = json.loads(participants)
        assert participants == conv["participants"], conv["conversationId"]


def meltano_state_text(runner: MeltanoRunner) -> str:
    """Everything Meltano's system database holds about state (for the secret scan)."""
    db: Path = runner.workdir / "meltano.db"
    if not db.exists():
        return ""
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT * FROM state").fetchall()
        except sqlite3.OperationalError:
            return ""
    return "\n".join(" ".join(str(v) for v in row) for row in rows)
