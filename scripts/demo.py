"""`make demo`: Genesys simulator -> `meltano run tap-genesys-analytics target-duckdb` -> checks.

Starts the local Genesys Cloud simulator (fixed seed, loopback, free port), runs the Meltano
pipeline into DuckDB (.demo/warehouse.duckdb), verifies the table holds exactly the simulator's
conversations (count and ids, no duplicates), prints an analyst summary and stops the simulator.

Run it again and it extracts incrementally: the simulated clock ("now", kept in
.demo/clock.json) moves one day forward per run, and Meltano resumes from the saved bookmark
(state id demo:tap-genesys-analytics-to-target-duckdb in .meltano/). `make clean-demo` resets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

from genesys_sim import SimConfig, SimServer

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".demo"
DUCKDB_FILE = DEMO_DIR / "warehouse.duckdb"
CLOCK_FILE = DEMO_DIR / "clock.json"
LOG_FILE = DEMO_DIR / "last-run.log"
PRIVATE_STATE = False  # --dir: keep Meltano's state and run files in that dir too (tests)
MELTANO = Path(sys.executable).with_name("meltano")
ENVIRONMENT = "demo"
STATE_ID = f"{ENVIRONMENT}:tap-genesys-analytics-to-target-duckdb"
TABLE = "genesys.conversation_details"

SEED = 42
CONVERSATIONS_PER_DAY = 300
DATA_START = datetime(2024, 5, 1, tzinfo=timezone.utc)
FIRST_NOW = datetime(2024, 5, 8, tzinfo=timezone.utc)  # first run: 7 days of history
STEP = timedelta(days=1)  # each further run: the simulated clock moves one day on


class DemoFailure(RuntimeError):
    """The demo found something wrong; the message says what."""


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


# --- Meltano -----------------------------------------------------------------------------------


def meltano_env(sim_url: str | None = None, now: datetime | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_GENESYS_ANALYTICS_")}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["PATH"] = f"{MELTANO.parent}{os.pathsep}{env.get('PATH', '')}"
    env["TARGET_DUCKDB_FILEPATH"] = str(DUCKDB_FILE)
    if PRIVATE_STATE:  # own state DB and run dir; the project's installed plugins
        sys_dir = DEMO_DIR / "sys"
        (sys_dir / "run").mkdir(parents=True, exist_ok=True)
        for name in ("extractors", "loaders"):
            if not (sys_dir / name).exists():
                (sys_dir / name).symlink_to(ROOT / ".meltano" / name)
        env["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
        env["MELTANO_DATABASE_URI"] = f"sqlite:///{DEMO_DIR / 'meltano.db'}"
    if sim_url and now:
        env.update(
            {
                "TAP_GENESYS_ANALYTICS_CLIENT_ID": "sim-client",
                "TAP_GENESYS_ANALYTICS_CLIENT_SECRET": "sim-secret",
                "TAP_GENESYS_ANALYTICS_API_URL": sim_url,
                "TAP_GENESYS_ANALYTICS_LOGIN_URL": sim_url,
                "TAP_GENESYS_ANALYTICS_START_DATE": iso(DATA_START),
                # the simulated org's "now": read everything that has started by then
                "TAP_GENESYS_ANALYTICS_END_DATE": iso(now),
            }
        )
    return env


def meltano(*args: str, env: dict[str, str], log: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(MELTANO), f"--environment={ENVIRONMENT}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if log:
        LOG_FILE.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise DemoFailure(f"`meltano {' '.join(args)}` exited {proc.returncode}:\n{tail}")
    return proc


def saved_bookmark(env: dict[str, str]) -> str | None:
    """The conversation_details bookmark in the demo's Meltano state (None before any run)."""
    proc = subprocess.run(
        [str(MELTANO), f"--environment={ENVIRONMENT}", "state", "get", STATE_ID],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    start = proc.stdout.find("{")
    if proc.returncode != 0 or start < 0:
        return None
    state = json.loads(proc.stdout[start:])
    bookmarks = state.get("singer_state", state).get("bookmarks", {})
    value = bookmarks.get("conversation_details", {}).get("replication_key_value")
    return str(value) if value else None


def reset(env: dict[str, str]) -> None:
    """Forget earlier demo runs (state, DuckDB file, clock)."""
    subprocess.run(
        [str(MELTANO), f"--environment={ENVIRONMENT}", "state", "clear", "--force", STATE_ID],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    for path in (DUCKDB_FILE, DUCKDB_FILE.with_suffix(".duckdb.wal"), CLOCK_FILE, LOG_FILE):
        path.unlink(missing_ok=True)


# --- DuckDB ------------------------------------------------------------------------------------


@dataclass
class TableSnapshot:
    """Ids and a content fingerprint per conversation, plus the row count."""

    rows: int
    fingerprints: dict[str, str]


def snapshot() -> TableSnapshot:
    if not DUCKDB_FILE.exists():
        return TableSnapshot(0, {})
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as con:
        if not table_exists(con):
            return TableSnapshot(0, {})
        rows = con.execute(
            f'SELECT "conversationid", "conversationend", "participants" FROM {TABLE}'
        ).fetchall()
    prints = {
        str(cid): hashlib.sha1(f"{end}|{parts}".encode()).hexdigest() for cid, end, parts in rows
    }
    return TableSnapshot(len(rows), prints)


def table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'genesys' AND table_name = 'conversation_details'"
    ).fetchone()
    return bool(found and found[0])


#: The analyst's join: handle time per queue, by name (segments name the queue of a session,
#: the session's metrics its handle time, routing_queues the queue's name).
QUEUE_HANDLE_SQL = """
    SELECT q.name AS queue, count(*) AS handled, avg(m.value) / 60000.0 AS aht_min
    FROM genesys.conversation_session_metrics m
    JOIN (SELECT DISTINCT conversationid, sessionid, queueid
          FROM genesys.conversation_segments WHERE queueid IS NOT NULL) s
      ON s.conversationid = m.conversationid AND s.sessionid = m.sessionid
    JOIN genesys.routing_queues q ON q.id = s.queueid
    WHERE m.name = 'tHandle'
    GROUP BY q.name ORDER BY handled DESC, queue LIMIT 5"""

SUMMARY_SQL = {
    "media": """
        SELECT mediatype, count(DISTINCT conversationid) AS conversations
        FROM genesys.conversation_sessions WHERE mediatype IS NOT NULL
        GROUP BY mediatype ORDER BY conversations DESC, mediatype""",
    "wrapup": """
        SELECT coalesce(w.name, s.wrapupcode) AS wrap_up, count(*) AS n
        FROM genesys.conversation_segments s
        LEFT JOIN genesys.routing_wrapup_codes w ON w.id = s.wrapupcode
        WHERE s.segmenttype = 'wrapup' AND s.wrapupcode IS NOT NULL
        GROUP BY 1 ORDER BY n DESC, wrap_up LIMIT 5""",
    "queues": QUEUE_HANDLE_SQL,
    "occupancy": """
        WITH periods AS (
            SELECT userid, routingstatus,
                   date_diff('second', CAST(starttime AS TIMESTAMP),
                             CAST(coalesce(endtime, starttime) AS TIMESTAMP)) AS seconds
            FROM genesys.user_routing_status)
        SELECT u.name AS agent,
               sum(p.seconds) FILTER (WHERE p.routingstatus IN ('INTERACTING', 'COMMUNICATING'))
                 / nullif(sum(p.seconds) FILTER (WHERE p.routingstatus <> 'OFF_QUEUE'), 0)
                 AS occupancy,
               sum(p.seconds) FILTER (WHERE p.routingstatus <> 'OFF_QUEUE') / 3600.0 AS on_queue_h
        FROM periods p JOIN genesys.users u ON u.id = p.userid
        GROUP BY u.name HAVING on_queue_h > 0 ORDER BY occupancy DESC, agent LIMIT 5""",
    "ongoing": f"SELECT count(*) FROM {TABLE} WHERE conversationend IS NULL",
}
#: every table of the demo, each checked to hold rows after the load
TABLES = (
    "conversation_details",
    "conversation_participants",
    "conversation_sessions",
    "conversation_segments",
    "conversation_session_metrics",
    "user_presence",
    "user_routing_status",
    "users",
    "routing_queues",
    "routing_wrapup_codes",
    "routing_skills",
    "routing_languages",
    "divisions",
    "groups",
    "presence_definitions",
    "flows",
)


def table_counts() -> dict[str, int]:
    """Rows per table (0 for a table that is not there)."""
    counts = {}
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as con:
        present = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'genesys'"
            ).fetchall()
        }
        for table in TABLES:
            found = (
                con.execute(f"SELECT count(*) FROM genesys.{table}").fetchone()
                if (table in present)
                else (0,)
            )
            counts[table] = int(found[0]) if found else 0
    return counts


def print_summary() -> None:
    counts = table_counts()
    empty = [table for table, n in counts.items() if not n]
    if empty:
        raise DemoFailure(f"row check FAILED: no rows in {', '.join(empty)}")
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as con:
        media = con.execute(SUMMARY_SQL["media"]).fetchall()
        wrapups = con.execute(SUMMARY_SQL["wrapup"]).fetchall()
        queues = con.execute(SUMMARY_SQL["queues"]).fetchall()
        occupancy = con.execute(SUMMARY_SQL["occupancy"]).fetchall()
        ongoing = con.execute(SUMMARY_SQL["ongoing"]).fetchone()
    print("\nRows per table: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    print("\nConversations per media type (a conversation counts once per media it used):")
    for name, count in media:
        print(f"  {name:<16}{count:>8}")
    print("Top wrap-up codes, by name (routing_wrapup_codes; system codes keep their id):")
    for name, count in wrapups:
        print(f"  {name:<40}{count:>8}")
    print("Handle time by queue name (the join an analyst writes):" + QUEUE_HANDLE_SQL)
    for queue, handled, aht in queues:
        print(f"  {queue:<32}{aht:>6.1f} min over {handled} handled sessions")
    print("Agent occupancy (INTERACTING share of on-queue time, from user_routing_status):")
    for agent, share, hours in occupancy:
        print(f"  {agent:<32}{(share or 0) * 100:>5.1f} % of {hours:.1f} h on queue")
    if ongoing:
        print(f"Still ongoing at the simulated 'now': {ongoing[0]} (followed by the next runs)")


# --- the run ------------------------------------------------------------------------------------


def demo_now(env: dict[str, str]) -> tuple[datetime, bool]:
    """The simulated clock for this run and whether it continues earlier runs."""
    bookmark = saved_bookmark(env)
    if CLOCK_FILE.exists() and DUCKDB_FILE.exists() and bookmark:
        previous = parse_iso(json.loads(CLOCK_FILE.read_text())["now"])
        return previous + STEP, True
    reset(env)
    return FIRST_NOW, False


def verify(sim: SimServer, now: datetime) -> tuple[TableSnapshot, int]:
    """The table holds exactly the simulator's conversations (ground truth at `now`):
    same ids, no duplicates, and each row's conversationEnd and participants as the API has
    them now (so re-read conversations carry their latest content)."""
    truth = {c["conversationId"]: c for c in sim.ground_truth(DATA_START, now)}
    after = snapshot()
    problems = []
    if after.rows != len(after.fingerprints):
        problems.append(f"{after.rows - len(after.fingerprints)} duplicate rows")
    if after.rows != len(truth):
        problems.append(f"{after.rows} rows loaded, simulator holds {len(truth)} conversations")
    missing = truth.keys() - after.fingerprints.keys()
    extra = after.fingerprints.keys() - truth.keys()
    if missing:
        problems.append(f"{len(missing)} conversations missing, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected conversations, e.g. {sorted(extra)[:3]}")
    stale = [
        cid
        for cid, (end, parts) in stored_content().items()
        if cid in truth and not same_content(truth[cid], end, parts)
    ]
    if stale:
        problems.append(
            f"{len(stale)} rows differ from the API's current content, e.g. {sorted(stale)[:3]}"
        )
    if problems:
        raise DemoFailure("row check FAILED: " + "; ".join(problems))
    return after, len(truth)


def stored_content() -> dict[str, tuple[Any, Any]]:
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as con:
        rows = con.execute(
            f"SELECT conversationid, conversationend, participants FROM {TABLE}"
        ).fetchall()
    return {str(cid): (end, json.loads(parts) if parts else None) for cid, end, parts in rows}


def same_content(conv: dict[str, Any], end: datetime | None, participants: Any) -> bool:
    api_end = conv.get("conversationEnd")
    if (api_end is None) != (end is None):
        return False
    if api_end is not None and end is not None:
        stored = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
        if abs(parse_iso(api_end) - stored) > timedelta(milliseconds=1):
            return False
    return bool(participants == conv.get("participants"))


def records_read(log: str) -> int:
    """Conversations the tap emitted this run (singer-sdk record_count metrics of
    conversation_details)."""
    total = 0
    for line in log.splitlines():
        start = line.find('{"type"')
        if start < 0 or '"record_count"' not in line:
            continue
        try:
            metric = json.loads(line[start:])
        except ValueError:
            continue
        stream = (metric.get("tags") or {}).get("stream")
        if metric.get("metric") == "record_count" and stream == "conversation_details":
            total += int(metric.get("value", 0))
    return total


def run(args: argparse.Namespace) -> None:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    base_env = meltano_env()
    if args.reset:
        reset(base_env)
    now, incremental = demo_now(base_env)
    bookmark_before = saved_bookmark(base_env) if incremental else None
    before = snapshot()

    cfg = SimConfig(
        seed=SEED,
        conversations_per_day=args.per_day,
        data_start=iso(DATA_START),
        now=iso(now),
    )
    with SimServer(cfg) as sim:
        print(
            f"Genesys simulator on {sim.base_url} (seed {SEED}, ~{args.per_day}/day, "
            f"data from {iso(DATA_START)}, simulated now {iso(now)})"
        )
        if incremental:
            print(
                f"Incremental run: saved bookmark {bookmark_before}; the tap resumes there "
                "minus its lookback (P3D) to pick up late changes."
            )
        else:
            print(f"First run: full extraction from start_date {iso(DATA_START)} (no saved state).")
        print("$ meltano --environment=demo run tap-genesys-analytics target-duckdb")
        started = time.monotonic()
        meltano(
            "run",
            "tap-genesys-analytics",
            "target-duckdb",
            env=meltano_env(sim.base_url, now),
            log=True,
        )
        elapsed = time.monotonic() - started
        requests = sim_request_count(sim)
        after, truth_count = verify(sim, now)

    bookmark_after = saved_bookmark(base_env)
    CLOCK_FILE.write_text(json.dumps({"now": iso(now)}))
    new = after.fingerprints.keys() - before.fingerprints.keys()
    updated = {
        cid
        for cid, fp in after.fingerprints.items()
        if cid in before.fingerprints and before.fingerprints[cid] != fp
    }
    print(
        f"\nLoaded in {elapsed:.1f}s ({requests} API requests). Row check OK: {after.rows} rows "
        f"in {TABLE} == {truth_count} conversations in the simulator, no duplicates, "
        "content as the API returns it now."
    )
    print(f"Bookmark: {bookmark_before or '(none)'} -> {bookmark_after}")
    read = records_read(LOG_FILE.read_text())
    rest = read - len(new) - len(updated)
    print(
        f"This run read {read} conversations: {len(new)} new, {len(updated)} updated "
        "(ended, wrapped up or otherwise changed since the last run)"
        + (f", {rest} re-read unchanged within the lookback." if incremental else ".")
    )
    print_summary()
    print(f"\nDuckDB file: {DUCKDB_FILE}   log: {LOG_FILE}")
    print(
        "Run `make demo` again: the simulated clock moves on a day and the run is incremental."
        "  `make clean-demo` starts over."
    )


def use_dir(path: Path) -> None:
    """Keep everything of this demo (DuckDB, clock, log, Meltano state) under `path`."""
    global DEMO_DIR, DUCKDB_FILE, CLOCK_FILE, LOG_FILE, PRIVATE_STATE  # noqa: PLW0603
    DEMO_DIR, PRIVATE_STATE = path, True
    DUCKDB_FILE, CLOCK_FILE = path / "warehouse.duckdb", path / "clock.json"
    LOG_FILE = path / "last-run.log"


QUERY_PATH = "/api/v2/analytics/conversations/details/query"


def sim_request_count(sim: SimServer) -> int:
    """Details-query requests the simulator has served (any status)."""
    by_status = sim.stats.get("requests", {}).get(QUERY_PATH, {})
    return sum(int(n) for n in by_status.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="forget earlier demo runs first")
    parser.add_argument("--dir", type=Path, help="keep DuckDB, clock and Meltano state here")
    parser.add_argument(
        "--per-day",
        type=int,
        default=CONVERSATIONS_PER_DAY,
        help=f"simulated conversations a day (default {CONVERSATIONS_PER_DAY}; the same in "
        "every run of one demo directory)",
    )
    args = parser.parse_args()
    if args.dir:
        use_dir(args.dir.resolve())
    try:
        run(args)
    except DemoFailure as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
