"""`meltano run tap-genesys-analytics target-postgres` into a real PostgreSQL, twice.

The simulator runs in-process; Meltano, the tap and target-postgres run as a user runs them
(subprocesses, settings from env vars, state in Meltano's backend, per-test system database).

The simulated clock is anchored to the real clock (run 1 reads up to a day ago, run 2 up to
now): the tap judges the age of ongoing conversations by the real clock, as in production.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.e2e.meltano import PROJECT_ROOT, MeltanoRunner, bookmark_of
from tests.e2e.postgres import PgDatabase

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
        # every ongoing conversation of the simulator holds the bookmark back
        "TAP_GENESYS_ANALYTICS_MAX_ONGOING_AGE": "P7D",
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


def expected_bookmark(truth: list[dict[str, Any]], end: datetime) -> datetime:
    """The run's end, held back to the start of the earliest conversation still ongoing."""
    ongoing = [parse_iso(c["conversationStart"]) for c in truth if "conversationEnd" not in c]
    return min([end, *ongoing])


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
    sim = genesys_sim(seed=7, conversations_per_day=100, data_start=iso(data_start),
                      now=iso(first_now))
    meltano.env.update(pg_database.target_postgres_env(SCHEMA))
    state_id = meltano.state_id("target-postgres")

    # Run 1: the whole multi-day range.
    meltano.run("run", "tap-genesys-analytics", "target-postgres",
                extra_env=tap_env(sim, data_start, first_now))
    truth_1 = sim.ground_truth(data_start, first_now)
    assert len({c["conversationStart"][:10] for c in truth_1}) == HISTORY_DAYS
    rows_1 = table_rows(pg_database)
    assert_matches_truth(rows_1, truth_1)
    spot = max(truth_1, key=lambda c: len(c["participants"]))
    stored = as_json(rows_1[spot["conversationId"]]["participants"])
    assert [p["purpose"] for p in stored] == [p["purpose"] for p in spot["participants"]]
    assert stored[-1]["sessions"] == spot["participants"][-1]["sessions"]
    ongoing_1 = {cid for cid, r in rows_1.items() if r["end"] is None}
    assert ongoing_1, "scenario needs conversations still ongoing at the first run"
    bookmark_1 = parse_iso(bookmark_of(meltano.state(state_id)) or "missing bookmark")
    assert bookmark_1 == expected_bookmark(truth_1, first_now)
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
    meltano.run("run", "tap-genesys-analytics", "target-postgres",
                extra_env=tap_env(sim, data_start, second_now))
    requests_2 = query_requests(sim) - requests_1
    rows_2 = table_rows(pg_database)
    assert_matches_truth(rows_2, truth_2)  # no duplicates; changed ones carry new content
    ended = {cid for cid in ongoing_1 if rows_2[cid]["end"] is not None}
    assert ended, "no conversation that was ongoing at run 1 shows its end after run 2"

    bookmark_2 = parse_iso(bookmark_of(meltano.state(state_id)) or "missing bookmark")
    assert bookmark_2 == expected_bookmark(truth_2, second_now)
    still_pinned = any(  # the conversation holding bookmark 1 back is still going on
        parse_iso(c["conversationStart"]) == bookmark_1 and "conversationEnd" not in c
        for c in truth_2
    )
    assert bookmark_2 > bookmark_1 or still_pinned, "bookmark did not advance"
    resume = bookmark_1 - LOOKBACK
    reread = {cid for cid, r in rows_2.items()
              if cid not in rows_1 or r["batched_at"] != rows_1[cid]["batched_at"]}
    assert reread >= new_ids | changed
    assert min(parse_iso(rows_2[c]["start"]) for c in reread) >= resume, (
        "run 2 re-read conversations from before bookmark - lookback"
    )
    untouched = rows_2.keys() - reread
    assert untouched and all(parse_iso(rows_2[c]["start"]) < resume for c in untouched)
    assert requests_2 < requests_1, f"run 2 sent {requests_2} requests, run 1 {requests_1}"
    with pg_database.connect() as conn, conn.cursor() as cur:  # nested JSONB, queried as in README
        cur.execute(WRAPUP_SQL)
        assert dict(cur.fetchall()) == wrapup_counts(truth_2)
    print(f"run 1: {len(rows_1)} rows, {requests_1} requests, {len(ongoing_1)} ongoing, "
          f"bookmark {iso(bookmark_1)}; run 2: {len(reread)} re-read ({len(new_ids)} new, "
          f"{len(changed)} changed, {len(ended)} ended), {requests_2} requests, "
          f"bookmark {iso(bookmark_2)}; {len(rows_2)} rows, {len(untouched)} untouched")


def test_readme_shows_the_tested_wrapup_query() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert WRAPUP_SQL in readme
