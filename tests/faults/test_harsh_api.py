"""The tap's command line against each harsh-API switch of the simulator.

One scenario per switch (rows moving between pages, latency growing with depth, 409s,
trickling and oversized bodies, a token endpoint echoing the Authorization header, weeks-long
conversations followed through a small multi-get). Each ends in ground-truth equality
(``missing = 0``, ``stale = 0``, after the follow-up runs where the API's behaviour needs one)
or in the documented one-line failure, and every byte of output goes through the secret scan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import SecretScan, query_statuses, run_tap_cli, tap_config

pytestmark = pytest.mark.faults

START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"


def missing_and_stale(records: list[dict[str, Any]], truth: list[dict[str, Any]]) -> tuple:
    latest = {r["conversationId"]: r for r in records}
    expected = {c["conversationId"]: c for c in truth}
    missing = sorted(set(expected) - set(latest))
    stale = sorted(cid for cid in expected if cid in latest and latest[cid] != expected[cid])
    return missing, stale


@pytest.mark.parametrize("shift", [1, -1], ids=["row-appears-early", "early-row-moves-late"])
def test_rows_moving_between_pages_are_caught_by_the_next_run(
    sim: Any, tmp_path: Path, secret_scan: SecretScan, shift: int
) -> None:
    """Page-number paging over a live index: a row can slip past the pager in one run; the
    next run's re-read (lookback) picks it up, so the warehouse ends complete."""
    sim.faults.configure({"kind": "shift", "after_page": 2, "shift_rows": shift, "times": 3})
    config = tap_config(sim, lookback="P3D")
    first = run_tap_cli(config, tmp_path, scan=secret_scan)
    assert first.returncode == 0, first.stderr[-2000:]
    sim.faults.configure()
    state = [m["value"] for m in first.messages if m["type"] == "STATE"][-1]
    second = run_tap_cli(config, tmp_path, state=state, scan=secret_scan)
    assert second.returncode == 0, second.stderr[-2000:]
    truth = sim.ground_truth(START, END)
    assert missing_and_stale(first.records + second.records, truth) == ([], [])


def test_latency_growing_with_depth_and_409s_lose_nothing(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.configure(latency_per_page_s=0.01)
    sim.faults.configure({"kind": "status", "status": 409, "rate": 0.15}, seed=3)
    run = run_tap_cli(tap_config(sim, max_retries=10), tmp_path, scan=secret_scan)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records == sim.ground_truth(START, END)
    assert query_statuses(sim).get("409", 0) > 0


def test_trickling_bodies_hit_the_request_deadline_and_are_retried(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "trickle", "on": [2, 5], "trickle_interval_s": 0.5})
    run = run_tap_cli(tap_config(sim, request_timeout=2), tmp_path, scan=secret_scan)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records == sim.ground_truth(START, END)
    assert len(run.log_lines("request deadline")) == 2
    assert run.seconds < 60


def test_an_oversized_page_stops_with_one_line_and_state_behind(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "oversize", "on": [8], "size_mb": 3, "chunked": True})
    run = run_tap_cli(
        tap_config(sim, max_concurrency=1, max_response_mb=1), tmp_path, scan=secret_scan
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "response body larger than" in line]
    assert len(errors) == 1
    assert "window 2024-05-0" in errors[0] and " page " in errors[0]
    assert "max_response_mb" in errors[0]
    assert all(b < "2024-05-04" for b in run.bookmarks)  # the failed window was not bookmarked


@pytest.mark.parametrize("auth_status", [401, 500])
def test_a_token_endpoint_echoing_the_credentials_leaks_nothing(
    sim: Any, tmp_path: Path, secret_scan: SecretScan, auth_status: int
) -> None:
    sim.faults.configure(
        {"kind": "echo_auth", "target": "token", "on": [1], "auth_status": auth_status}
    )
    run = run_tap_cli(tap_config(sim), tmp_path, scan=secret_scan)
    if auth_status == 401:  # rejected: one line, exit 1, no query sent
        assert run.returncode == 1
        assert "credentials rejected" in run.stderr
        assert query_statuses(sim) == {}
    else:  # a server error: retried, then the run completes
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.records == sim.ground_truth(START, END)
    assert secret_scan.check() > 0


def test_weeks_long_conversations_arrive_ended_through_a_small_multi_get(
    fault_sim: Callable[..., Any], tmp_path: Path, secret_scan: SecretScan
) -> None:
    """The simulator is anchored at the real now (the CLI reads the real clock); its clock then
    moves on a day at a time while the tap runs daily with a one-day lookback."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = (now - timedelta(days=4)).replace(hour=0, minute=0, second=0)
    sim = fault_sim(
        conversations_per_day=60,
        data_start=start.isoformat(),
        now=now.isoformat(),
        rate_limit_per_minute=0,
        long_conversation_fraction=0.5,
        long_conversation_max_days=10,
        multiget_max_ids=5,
    )
    secret_scan.sim = sim
    config = tap_config(
        sim, start_date=start.isoformat(), end_date=None, lookback="P1D", settle_lag="PT0S"
    )
    records: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    for _ in range(12):
        run = run_tap_cli(config, tmp_path, state=state, scan=secret_scan)
        assert run.returncode == 0, run.stderr[-2000:]
        records += run.records
        states = [m["value"] for m in run.messages if m["type"] == "STATE"]
        state = states[-1] if states else state
        sim.advance(86400)
    truth = sim.ground_truth(start.isoformat(), now.isoformat())
    assert missing_and_stale(records, truth) == ([], [])
    multiget = sim.stats["requests"].get("/api/v2/analytics/conversations/details", {})
    assert multiget.get("400", 0) >= 1  # the first batch of 100 was refused: 5 is the maximum
    assert multiget.get("200", 0) > 0
