"""`meltano run tap-genesys-analytics target-postgres` into a real PostgreSQL, twice.

The simulator runs in-process; Meltano, the tap and target-postgres run as a user runs them
(subprocesses, settings from env vars, state in Meltano's backend, per-test system database).

The simulated clock is anchored to the real clock (run 1 reads up to a day ago, run 2 up to
now): the tap judges the age of open conversations by the real clock, as in production.
Every table of the tap is checked against the simulator's ground truth after each run: the
same keys, none twice, re-read rows replaced.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.e2e.meltano import PROJECT_ROOT, MeltanoRunner, bookmark_of
from tests.e2e.postgres import PgDatabase
from tests.ground_truth import KEYS, SIM_TABLES, child_rows, status_keys

pytestmark = pytest.mark.e2e

SCHEMA = "genesys"
TABLE = f"{SCHEMA}.conversation_details"
QUERY_PATH = "/api/v2/analytics/conversations/details/query"
LOOKBACK = timedelta(days=1)
HISTORY_DAYS = 7


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


def tap_env(sim: Any, start: datetime, end: datetime) -> dict[str, str]:
    return {
        "TAP_GENESYS_ANALYTICS_CLIENT_ID": "sim-client",
        "TAP_GENESYS_ANALYTICS_CLIENT_SECRET": "sim-secret",
        "TAP_GENESYS_ANALYTICS_API_URL": sim.base_url,
        "TAP_GENESYS_ANALYTICS_LOGIN_URL": sim.base_url,
        "TAP_GENESYS_ANALYTICS_START_DATE": iso(start),
        "TAP_GENESYS_ANALYTICS_END_DATE": iso(end),
        "TAP_GENESYS_ANALYTICS_LOOKBACK": "P1D",
        "TAP_GENESYS_ANALYTICS_SETTLE_LAG": "PT0S",
    }


# The README's example query (kept identical: a test below checks the README holds it).
WRAPUP_SQL = """SELECT seg->>'wrapUpCode' AS wrap_up_code, count(*) AS n
FROM genesys.conversation_details c,
     unnest(c.participants) p,
     jsonb_array_elements(p->'sessions') s,
     jsonb_array_elements(s->'segments') seg
WHERE seg->>'segmentType' = 'wrapup' AND seg ? 'wrapUpCode'
GROUP BY 1 ORDER BY n DESC;"""


def wrapup_counts(conversations: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for conv in conversations:
        for participant in conv["participants"]:
            for session in participant.get("sessions", []):
                for segment in session.get("segments", []):
                    if segment.get("segmentType") == "wrapup" and "wrapUpCode" in segment:
                        code = segment["wrapUpCode"]
                        counts[code] = counts.get(code, 0) + 1
    return counts


def query_requests(sim: Any) -> int:
    """Details-query requests the simulator has served so far (any status)."""
    return sum(int(n) for n in sim.stats["requests"].get(QUERY_PATH, {}).values())


def table_keys(db: PgDatabase, table: str, keys: list[str]) -> set[tuple[str, ...]]:
    """The key tuples of a table (as text); asserts none is there twice."""
    columns = ", ".join(f'"{k}"' for k in keys)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {SCHEMA}.{table}")
        rows = [tuple(_text(v) for v in row) for row in cur.fetchall()]
    assert len(rows) == len(set(rows)), f"{table}: {len(rows) - len(set(rows))} duplicate keys"
    return set(rows)


def _text(value: Any) -> str:
    return iso_ms(value) if isinstance(value, datetime) else str(value)


def iso_ms(value: Any) -> str:
    """An instant as the API writes it (``2024-05-01T10:00:00.123Z``)."""
    utc = parse_iso(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def expected_keys(rows: list[dict[str, Any]], keys: list[str]) -> set[tuple[str, ...]]:
    return {tuple(iso_ms(r[k]) if k in TIME_KEYS else str(r[k]) for k in keys) for r in rows}


TIME_KEYS = {"segmentStart", "emitDate", "startTime"}


def assert_every_table_matches(
    db: PgDatabase, sim: Any, truth: list[dict[str, Any]], start: datetime, end: datetime
) -> dict[str, int]:
    """Each child, status and reference table holds exactly the ground truth's keys."""
    sizes = {}
    for table in (
        "conversation_participants",
        "conversation_sessions",
        "conversation_segments",
        "conversation_session_metrics",
    ):
        want = expected_keys(child_rows(truth, table), KEYS[table])
        got = table_keys(db, table, KEYS[table])
        assert got == want, f"{table}: {len(got ^ want)} keys differ"
        sizes[table] = len(got)
    users: list[dict[str, Any]] = []
    day = start
    while day < end:  # the user details query takes at most 7 days at a time
        users += sim.ground_truth_users_details(day, min(day + timedelta(days=7), end))
        day += timedelta(days=7)
    for table, key in (
        ("user_presence", "primaryPresence"),
        ("user_routing_status", "routingStatus"),
    ):
        want = status_keys(users, key, iso_ms(start), iso_ms(end))
        got = {(u, iso_ms(t)) for u, t in table_keys(db, table, KEYS[table])}
        assert got == want, f"{table}: {len(got ^ want)} keys differ"
        sizes[table] = len(got)
    for table, sim_table in SIM_TABLES.items():
        ids = {row[0] for row in table_keys(db, table, ["id"])}
        assert ids == {r["id"] for r in sim.reference(sim_table)}, table
        sizes[table] = len(ids)
    return sizes


def table_rows(db: PgDatabase) -> dict[str, dict[str, Any]]:
    """conversationId -> row (participants as parsed JSON); asserts ids are unique."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(
            f'SELECT "conversationId", "conversationStart", "conversationEnd", "participants", '
            f'"_sdc_batched_at" FROM {TABLE}'
        )
        rows = cur.fetchall()
    by_id = {
        r[0]: {"start": r[1], "end": r[2], "participants": r[3], "batched_at": r[4]} for r in rows
    }
    assert len(by_id) == len(rows), f"{len(rows) - len(by_id)} duplicate conversationIds"
    return by_id


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def assert_matches_truth(rows: dict[str, dict[str, Any]], truth: list[dict[str, Any]]) -> None:
    """Same ids, and each row's start, end and nested participants as the API has them now."""
    truth_by_id = {c["conversationId"]: c for c in truth}
    assert len(rows) == len(truth), f"{len(rows)} rows vs {len(truth)} simulator conversations"
    assert set(rows) == set(truth_by_id)
    for cid, conv in truth_by_id.items():
        row = rows[cid]
        assert parse_iso(row["start"]) == parse_iso(conv["conversationStart"]), cid
        if "conversationEnd" in conv:
            assert row["end"] is not None, f"{cid}: ended in the simulator, open in the table"
            assert parse_iso(row["end"]) == parse_iso(conv["conversationEnd"]), cid
        else:
            assert row["end"] is None, cid
        assert as_json(row["participants"]) == conv["participants"], f"{cid}: participants differ"


def test_incremental_runs_load_every_conversation_once_with_its_latest_content(
    genesys_sim: Any, pg_database: PgDatabase, meltano: MeltanoRunner
) -> None:
    second_now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first_now = second_now - timedelta(days=1)
    data_start = first_now.replace(hour=0, minute=0) - timedelta(days=HISTORY_DAYS - 1)
    sim = genesys_sim(
        seed=7, conversations_per_day=100, data_start=iso(data_start), now=iso(first_now)
    )
    meltano.env.update(pg_database.target_postgres_env(SCHEMA))
    state_id = meltano.state_id("target-postgres")

    # Run 1: the whole multi-day range.
    meltano.run(
        "run",
        "tap-genesys-analytics",
        "target-postgres",
        extra_env=tap_env(sim, data_start, first_now),
    )
    truth_1 = sim.ground_truth(data_start, first_now)
    # a multi-day history (one edge day can be nearly empty when the test starts just after
    # midnight UTC: the clock is anchored to the real one)
    assert len({c["conversationStart"][:10] for c in truth_1}) >= HISTORY_DAYS - 1
    rows_1 = table_rows(pg_database)
    assert_matches_truth(rows_1, truth_1)
    spot = max(truth_1, key=lambda c: len(c["participants"]))
    stored = as_json(rows_1[spot["conversationId"]]["participants"])
    assert [p["purpose"] for p in stored] == [p["purpose"] for p in spot["participants"]]
    assert stored[-1]["sessions"] == spot["participants"][-1]["sessions"]
    ongoing_1 = {cid for cid, r in rows_1.items() if r["end"] is None}
    assert ongoing_1, "scenario needs conversations still ongoing at the first run"
    bookmark_1 = parse_iso(bookmark_of(meltano.state(state_id)) or "missing bookmark")
    assert bookmark_1 == first_now  # open conversations are followed, not holding it back
    sizes_1 = assert_every_table_matches(pg_database, sim, truth_1, data_start, first_now)
    requests_1 = query_requests(sim)

    # The org lives on for a day: new conversations, ongoing ones end, late wrap-ups appear.
    sim.clock.set(second_now)
    truth_2 = sim.ground_truth(data_start, second_now)
    truth_2_by_id = {c["conversationId"]: c for c in truth_2}
    changed = {c["conversationId"] for c in truth_1 if truth_2_by_id[c["conversationId"]] != c}
    assert changed, "scenario needs conversations that changed between the two clocks"
    new_ids = truth_2_by_id.keys() - rows_1.keys()
    assert new_ids

    # Run 2: incremental from the saved bookmark minus the 1-day lookback.
    meltano.run(
        "run",
        "tap-genesys-analytics",
        "target-postgres",
        extra_env=tap_env(sim, data_start, second_now),
    )
    requests_2 = query_requests(sim) - requests_1
    rows_2 = table_rows(pg_database)
    assert_matches_truth(rows_2, truth_2)  # no duplicates; changed ones carry new content
    ended = {cid for cid in ongoing_1 if rows_2[cid]["end"] is not None}
    assert ended, "no conversation that was ongoing at run 1 shows its end after run 2"

    bookmark_2 = parse_iso(bookmark_of(meltano.state(state_id)) or "missing bookmark")
    assert bookmark_2 == second_now
    sizes_2 = assert_every_table_matches(pg_database, sim, truth_2, data_start, second_now)
    resume = bookmark_1 - LOOKBACK
    reread = {
        cid
        for cid, r in rows_2.items()
        if cid not in rows_1 or r["batched_at"] != rows_1[cid]["batched_at"]
    }
    assert reread >= new_ids | changed
    followed = ongoing_1 & {c for c in reread if parse_iso(rows_2[c]["start"]) < resume}
    assert min(parse_iso(rows_2[c]["start"]) for c in reread - followed) >= resume, (
        "run 2 re-read conversations from before bookmark - lookback (other than open ones)"
    )
    untouched = rows_2.keys() - reread
    assert untouched and all(parse_iso(rows_2[c]["start"]) < resume for c in untouched)
    assert requests_2 < requests_1, f"run 2 sent {requests_2} requests, run 1 {requests_1}"
    with pg_database.connect() as conn, conn.cursor() as cur:  # nested JSONB, queried as in README
        cur.execute(WRAPUP_SQL)
        assert dict(cur.fetchall()) == wrapup_counts(truth_2)
    print(
        f"run 1: {len(rows_1)} rows, {requests_1} requests, {len(ongoing_1)} ongoing, "
        f"bookmark {iso(bookmark_1)}; run 2: {len(reread)} re-read ({len(new_ids)} new, "
        f"{len(changed)} changed, {len(ended)} ended), {requests_2} requests, "
        f"bookmark {iso(bookmark_2)}; {len(rows_2)} rows, {len(untouched)} untouched, "
        f"{len(followed)} followed by id; tables run 1 {sizes_1}, run 2 {sizes_2}"
    )


def test_readme_shows_the_tested_wrapup_query() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert WRAPUP_SQL in readme
