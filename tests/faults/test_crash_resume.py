"""Scenario 1: `meltano run tap-genesys-analytics target-postgres` SIGKILLed at 12 points.

Each case kills the whole process group (Meltano, tap, target) at a deterministic point —
while the simulator serves a slow page or token, right after a window's STATE, while the tap
sleeps on a 503/429 Retry-After, hangs on a dead connection or backs off from a reset, after
the last window, after the tap's final line — then checks what the kill left behind (no
duplicate keys; the saved bookmark never points past data in PostgreSQL) and reruns the same
command: the table must then equal the simulator's ground truth (ids and content).

Lookback is 0, so the rerun really resumes at the saved bookmark: a bookmark ahead of the data
would show up as missing conversations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.meltano import MeltanoRunner
from tests.e2e.postgres import PgDatabase
from tests.faults.conftest import QUERY_PATH, TOKEN_PATH, SecretScan
from tests.faults.pipeline import (
    MeltanoRun,
    age_killed_runs,
    assert_equals_truth,
    meltano_state_text,
    parse_iso,
    saved_bookmark,
    table_rows,
    table_text,
    tap_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SCHEMA = "genesys"
START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"
DAY = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]


def window_done(day: int) -> str:
    return f"Window {DAY[day]}T00:00:00.000Z/{DAY[day + 1]}T00:00:00.000Z done"


@dataclass
class Case:
    """What a trigger can look at while the pipeline runs."""

    sim: Any
    run: MeltanoRun
    meltano: MeltanoRunner
    db: PgDatabase
    state_id: str
    base: dict[str, int]  # requests the simulator had seen before the killed run started


def _poll(case: Case, ready: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert case.run.alive(), f"run ended before {what}:\n{case.run.text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def after_arrival(path: str, n: int, delay_s: float) -> Callable[[Case], None]:
    """Kill ``delay_s`` after the killed run's ``n``-th request to ``path`` arrived."""

    def trigger(case: Case) -> None:
        event = case.sim.watch.when(path, case.base.get(path, 0) + n)
        _poll(case, event.is_set, f"request {n} to {path}")
        time.sleep(delay_s)

    return trigger


def after_line(fragment: str) -> Callable[[Case], None]:
    """Kill as soon as ``fragment`` shows in Meltano's log."""

    def trigger(case: Case) -> None:
        case.run.wait_for_line(fragment, timeout=90)

    return trigger


def after_saved_bookmark(day: int) -> Callable[[Case], None]:
    """Kill once Meltano has saved (from the target's confirmed STATE) the end of window ``day``."""
    wanted = parse_iso(f"{DAY[day + 1]}T00:00:00Z")

    def trigger(case: Case) -> None:
        def saved() -> bool:
            bookmark = saved_bookmark(case.meltano, case.state_id)
            return bookmark is not None and bookmark >= wanted

        _poll(case, saved, f"saved bookmark {wanted}")

    return trigger


def after_rows(n: int, line: str | None = None) -> Callable[[Case], None]:
    """Kill once the target has committed at least ``n`` rows (after ``line``, if given)."""

    def trigger(case: Case) -> None:
        if line:
            case.run.wait_for_line(line, timeout=90)
        _poll(case, lambda: table_rows(case.db, SCHEMA)[1] >= n, f"{n} rows in PostgreSQL")

    return trigger


@dataclass
class KillPoint:
    name: str
    trigger: Callable[[Case], None]
    faults: list[dict[str, Any]] = field(default_factory=list)
    first_run_end: str | None = None  # complete a run to this day first (a saved bookmark)


SLOW = 8.0  # a slow page/token: long enough to be killed in the middle of it
STUCK = 20.0  # a page that holds the tap while the target catches up (killed long before)


def stuck_on(request: int) -> list[dict[str, Any]]:
    return [{"kind": "latency", "on": [request], "latency_s": STUCK}]


KILL_POINTS = [
    KillPoint(
        "mid-token-request",
        after_arrival(TOKEN_PATH, 1, 0.3),
        [{"kind": "latency", "target": "token", "on": [1], "latency_s": SLOW}],
    ),
    KillPoint(
        "mid-page-1-of-window-1",
        after_arrival(QUERY_PATH, 1, 0.3),
        [{"kind": "latency", "on": [1], "latency_s": SLOW}],
    ),
    KillPoint(
        "mid-page-inside-window-1",
        after_arrival(QUERY_PATH, 6, 0.3),
        [{"kind": "latency", "on": [6], "latency_s": SLOW}],
    ),
    KillPoint("between-windows-right-after-window-1-state", after_line(window_done(0))),
    KillPoint("between-windows-right-after-window-2-state", after_line(window_done(1))),
    KillPoint(
        "mid-window-3-of-a-run-resumed-from-a-saved-bookmark",
        after_arrival(QUERY_PATH, 5, 0.3),
        [{"kind": "latency", "on": [5], "latency_s": SLOW}],
        first_run_end=DAY[2],
    ),
    KillPoint(
        "mid-window-2-after-batches-committed-before-its-state", after_rows(160), stuck_on(22)
    ),
    KillPoint(
        "mid-retry-sleeping-on-503-retry-after",
        after_arrival(QUERY_PATH, 9, 0.5),
        [{"kind": "status", "status": 503, "retry_after": 10, "on": [9]}],
    ),
    KillPoint(
        "mid-retry-paused-on-429-retry-after",
        after_arrival(QUERY_PATH, 20, 0.5),
        [{"kind": "rate_limit", "retry_after": 10, "on": [20]}],
    ),
    KillPoint(
        "mid-retry-waiting-on-a-hung-connection",
        after_arrival(QUERY_PATH, 13, 1.0),
        [{"kind": "hang", "hang_s": 10, "on": [13]}],
    ),
    KillPoint(
        "mid-retry-backing-off-after-a-reset",
        after_arrival(QUERY_PATH, 25, 0.2),
        [{"kind": "reset", "on": [25]}],
    ),
    KillPoint("right-after-the-last-window", after_line(window_done(2))),
    KillPoint(
        "target-mid-load-after-the-tap-finished", after_rows(120, line="HTTP: requests_sent=")
    ),
]


@pytest.fixture
def crash_sim(fault_sim: Callable[..., Any]) -> Any:
    """3 days x ~100 conversations; page size 10 -> ~33 query requests of ~50 ms each."""
    return fault_sim(
        conversations_per_day=100,
        data_start=START,
        now="2024-05-04T06:00:00Z",
        rate_limit_per_minute=0,
        latency_s=0.05,
    )


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_sigkill_then_plain_rerun_leaves_the_table_equal_to_ground_truth(
    point: KillPoint,
    crash_sim: Any,
    pg_database: PgDatabase,
    meltano: MeltanoRunner,
    secret_scan: SecretScan,
) -> None:
    sim = crash_sim
    secret_scan.sim = sim
    meltano.env.update(pg_database.target_postgres_env(SCHEMA))
    # the target commits and confirms STATE every 40 rows: kills land between loaded batches
    meltano.env["TARGET_POSTGRES_BATCH_SIZE_ROWS"] = "40"
    state_id = meltano.state_id("target-postgres")
    truth = sim.ground_truth(START, END)
    resumed_from = None
    if point.first_run_end:
        first = MeltanoRun(
            meltano, tap_env(sim, end_date=f"{point.first_run_end}T00:00:00Z"), "first"
        )
        assert first.wait() == 0, first.text()[-3000:]
        secret_scan.add("first run log", first.text())
        resumed_from = saved_bookmark(meltano, state_id)
        assert resumed_from == parse_iso(f"{point.first_run_end}T00:00:00Z")
    sim.faults.configure(*point.faults, seed=1)

    base = dict(sim.watch.counts)
    killed = MeltanoRun(meltano, tap_env(sim), "killed")
    point.trigger(Case(sim, killed, meltano, pg_database, state_id, base))
    killed.kill()
    secret_scan.add("killed run log", killed.text())

    # What the kill left: no duplicates, and the saved bookmark never ahead of the data.
    rows, n_rows = table_rows(pg_database, SCHEMA)
    assert n_rows == len(rows), "duplicate keys after the kill"
    bookmark = saved_bookmark(meltano, state_id)
    if bookmark is not None:
        before = {
            c["conversationId"] for c in truth if parse_iso(c["conversationStart"]) < bookmark
        }
        missing = before - rows.keys()
        assert not missing, f"bookmark {bookmark} points past {len(missing)} missing rows"

    sim.faults.clear()
    assert age_killed_runs(meltano) <= 1
    before_rerun = sim.watch.queries()
    rerun = MeltanoRun(meltano, tap_env(sim), "rerun")
    assert rerun.wait() == 0, rerun.text()[-3000:]
    rerun_queries = sim.watch.queries() - before_rerun
    if resumed_from is not None:  # the rerun read only what follows the saved bookmark
        assert f"bookmark {resumed_from.isoformat()}" in rerun.text()
        assert rerun_queries < 20, rerun_queries
    secret_scan.add("rerun log", rerun.text())
    final_rows, final_n = table_rows(pg_database, SCHEMA)
    assert_equals_truth(final_rows, final_n, truth)
    assert saved_bookmark(meltano, state_id) == parse_iso(END)

    secret_scan.add("meltano state", meltano_state_text(meltano))
    secret_scan.add("postgres table", table_text(pg_database, SCHEMA))
    scanned = secret_scan.check()
    print(
        f"kill {point.name}: killed after {killed.killed_after_s:.1f} s with {n_rows} rows "
        f"loaded, saved bookmark {bookmark.isoformat() if bookmark else 'none'}; rerun "
        f"{rerun.seconds:.1f} s, {rerun_queries} query requests -> {final_n}/{len(truth)} rows, "
        f"0 duplicates; {scanned} chars scanned for secrets"
    )
