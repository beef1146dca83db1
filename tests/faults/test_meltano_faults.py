"""Scenarios 3, 4, 7, 8 through `meltano run tap-genesys-analytics target-postgres`.

- a fault beyond the retry limit fails the Meltano run with the tap's one line naming window
  and page; `meltano state get` and PostgreSQL show the bookmark never past loaded data; a
  plain rerun completes the table;
- rejected credentials fail the run with one token request;
- a malformed bookmark in Meltano's state fails before any request (no silent full reload);
- late changes: a conversation ongoing at run 1 and one whose wrap-up arrives later hold their
  final content after run 2 (upsert on conversationId).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.e2e.meltano import MeltanoRunner, bookmark_of
from tests.e2e.postgres import PgDatabase
from tests.faults.conftest import QUERY_PATH, SecretScan, token_requests
from tests.faults.pipeline import (
    MeltanoRun,
    assert_equals_truth,
    meltano_state_text,
    parse_iso,
    table_rows,
    table_text,
    tap_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SCHEMA = "genesys"
START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"


@pytest.fixture
def runner(meltano: MeltanoRunner, pg_database: PgDatabase) -> MeltanoRunner:
    meltano.env.update(pg_database.target_postgres_env(SCHEMA))
    return meltano


def scan_everything(
    scan: SecretScan, runner: MeltanoRunner, db: PgDatabase, *runs: MeltanoRun
) -> int:
    for run in runs:
        scan.add(f"meltano log {run.log.name}", run.text())
    scan.add("meltano state", meltano_state_text(runner))
    scan.add("postgres table", table_text(db, SCHEMA))
    return scan.check()


def test_persistent_fault_fails_the_meltano_run_with_one_line_and_state_behind_the_data(
    sim: Any, runner: MeltanoRunner, pg_database: PgDatabase, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "status", "status": 503, "on": list(range(18, 400))})
    failed = MeltanoRun(runner, tap_env(sim, max_concurrency="1", max_retries="2"), "failed")
    assert failed.wait() != 0
    lines = [
        line
        for line in failed.text().splitlines()
        if "tap-genesys-analytics: API error: window" in line
    ]
    assert len(lines) == 1, failed.text()[-3000:]
    # which page of window 2 hits request 18 depends on the prefetch order (a window now ends
    # on an empty page: one more request per window)
    assert re.search(
        r"window 2024-05-02T00:00:00\.000Z/2024-05-03T00:00:00\.000Z page \d+: "
        r"giving up after 3 tries; last error: HTTP 503",
        lines[0],
    ), lines[0]

    state_id = runner.state_id("target-postgres")
    bookmark = bookmark_of(runner.state(state_id))  # `meltano state get`
    rows, n_rows = table_rows(pg_database, SCHEMA)
    assert n_rows == len(rows)
    truth = sim.ground_truth(START, END)
    if bookmark is not None:
        assert parse_iso(bookmark) <= parse_iso("2024-05-02T00:00:00Z")  # failed window start
        before = {
            c["conversationId"]
            for c in truth
            if parse_iso(c["conversationStart"]) < parse_iso(bookmark)
        }
        assert before <= rows.keys(), "the saved bookmark points past data not in PostgreSQL"

    sim.faults.clear()
    rerun = MeltanoRun(runner, tap_env(sim), "rerun")
    assert rerun.wait() == 0, rerun.text()[-3000:]
    assert_equals_truth(*table_rows(pg_database, SCHEMA), truth)
    assert bookmark_of(runner.state(state_id)) == "2024-05-04T00:00:00+00:00"
    scanned = scan_everything(secret_scan, runner, pg_database, failed, rerun)
    print(
        f"persistent fault via meltano: exit {failed.proc.returncode}, bookmark after failure "
        f"{bookmark}, {n_rows} rows; rerun -> {len(truth)} rows = ground truth; "
        f"{scanned} chars scanned"
    )


def test_rejected_credentials_fail_the_meltano_run_with_one_token_request(
    fault_sim: Callable[..., Any],
    runner: MeltanoRunner,
    pg_database: PgDatabase,
    secret_scan: SecretScan,
) -> None:
    sim = fault_sim(
        conversations_per_day=10,
        data_start=START,
        now=END,
        clients={"fault-client": "the-right-secret"},
    )
    secret_scan.sim = sim
    run = MeltanoRun(runner, tap_env(sim), "rejected")
    assert run.wait() != 0
    assert "tap-genesys-analytics: authentication error: credentials rejected" in run.text()
    assert token_requests(sim) == 1
    assert QUERY_PATH not in sim.stats["requests"]
    scan_everything(secret_scan, runner, pg_database, run)


def test_malformed_saved_state_fails_before_any_request_instead_of_a_full_reload(
    sim: Any, runner: MeltanoRunner, pg_database: PgDatabase, secret_scan: SecretScan
) -> None:
    state_id = runner.state_id("target-postgres")
    bad = {
        "singer_state": {
            "bookmarks": {
                "conversation_details": {
                    "replication_key": "conversationStart",
                    "replication_key_value": "last tuesday",
                }
            }
        }
    }
    runner.run("state", "set", "--force", state_id, json.dumps(bad))
    run = MeltanoRun(runner, tap_env(sim), "bad-state")
    assert run.wait() != 0
    assert (
        "tap-genesys-analytics: config error: state: bookmarks.conversation_details."
        "replication_key_value 'last tuesday' is not"
    ) in run.text(), run.text()[-3000:]
    assert sim.stats["requests_total"] == 0
    assert table_rows(pg_database, SCHEMA) == ({}, 0)
    scan_everything(secret_scan, runner, pg_database, run)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _has_wrapup(conv: dict[str, Any]) -> bool:
    return any(
        seg.get("segmentType") == "wrapup"
        for p in conv["participants"]
        for s in p.get("sessions", [])
        for seg in s.get("segments", [])
    )


def test_ongoing_and_late_wrapup_conversations_hold_their_final_content_after_the_next_run(
    fault_sim: Callable[..., Any],
    runner: MeltanoRunner,
    pg_database: PgDatabase,
    secret_scan: SecretScan,
) -> None:
    """Simulated clock anchored to the real one (the tap ages ongoing conversations by it)."""
    second_now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first_now = second_now - timedelta(hours=12)
    data_start = first_now.replace(hour=0, minute=0) - timedelta(days=1)
    sim = fault_sim(
        conversations_per_day=150,
        data_start=_iso(data_start),
        now=_iso(first_now),
        rate_limit_per_minute=0,
        late_wrapup_fraction=0.5,
    )
    secret_scan.sim = sim
    # the lookback covers start-to-late-wrap-up (conversations seen ended are not followed)
    settings = {
        "start_date": _iso(data_start),
        "lookback": "P2D",
        "settle_lag": "PT0S",
        "page_size": "25",
    }

    first = MeltanoRun(runner, tap_env(sim, end_date=_iso(first_now), **settings), "first")
    assert first.wait() == 0, first.text()[-3000:]
    truth_1 = {c["conversationId"]: c for c in sim.ground_truth(data_start, first_now)}
    rows_1, _ = table_rows(pg_database, SCHEMA)
    assert rows_1.keys() == truth_1.keys()

    sim.clock.set(second_now)
    truth_2 = sim.ground_truth(data_start, first_now)
    later = {c["conversationId"]: c for c in truth_2}
    ongoing = [
        cid
        for cid, c in truth_1.items()
        if "conversationEnd" not in c and "conversationEnd" in later[cid]
    ]
    late_wrapup = [
        cid
        for cid, c in truth_1.items()
        if "conversationEnd" in c and not _has_wrapup(c) and _has_wrapup(later[cid])
    ]
    assert ongoing and late_wrapup, "scenario needs both kinds of late change"
    assert all(rows_1[cid]["end"] is None for cid in ongoing)

    second = MeltanoRun(runner, tap_env(sim, end_date=_iso(second_now), **settings), "second")
    assert second.wait() == 0, second.text()[-3000:]
    truth_final = sim.ground_truth(data_start, second_now)
    assert_equals_truth(*table_rows(pg_database, SCHEMA), truth_final)  # includes both kinds
    rows_2, _ = table_rows(pg_database, SCHEMA)
    for cid in ongoing:
        assert parse_iso(rows_2[cid]["end"]) == parse_iso(later[cid]["conversationEnd"])
    for cid in late_wrapup:
        participants = rows_2[cid]["participants"]
        stored = participants if isinstance(participants, list) else json.loads(participants)
        assert _has_wrapup({"participants": stored})
    scanned = scan_everything(secret_scan, runner, pg_database, first, second)
    print(
        f"late changes: {len(ongoing)} ongoing at run 1 now ended, {len(late_wrapup)} late "
        f"wrap-ups, all final after run 2 ({len(truth_final)} rows); {scanned} chars scanned"
    )
