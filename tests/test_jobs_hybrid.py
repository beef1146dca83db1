"""Hybrid extraction against the simulator: async jobs for history, the query for the tail.

Every test compares conversation_details with the simulator's ground truth (the sync query's
records at its clock) or with a query-only run: same ids, same content, same order, one STATE
per window. The simulator's jobs switches are set to each plausible value of what the API
leaves uncertain (results page size limit, concurrency limit and its status, truncate vs
include past availability, job outcomes, failures mid-job).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.details_query import parse_instant
from tap_genesys_analytics.errors import ExtractError
from tests.conftest import SIM_DATA_START, SIM_NOW, run_tap, tap_config_for

pytestmark = pytest.mark.integration

JOBS = "/api/v2/analytics/conversations/details/jobs"
RESULTS = JOBS + "/{jobId}/results"
STATUS = JOBS + "/{jobId}"
END = "2024-05-07T23:55:00Z"  # SIM_NOW minus the default settle_lag


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Polls without waiting (the simulator's jobs advance by polls) and a log of job bodies."""
    monkeypatch.setattr(job_plan, "POLL_FIRST_S", 0.001)
    bodies: list[dict[str, Any]] = []
    real = job_plan.job_body

    def spy(base: dict[str, Any], group: Any) -> dict[str, Any]:
        bodies.append(real(base, group))
        return bodies[-1]

    monkeypatch.setattr(job_plan, "job_body", spy)
    return bodies


def details(run: Any) -> list[dict[str, Any]]:
    return [
        m["record"]
        for m in run.messages
        if m["type"] == "RECORD" and m["stream"] == "conversation_details"
    ]


def config(sim: Any, **overrides: Any) -> dict[str, Any]:
    return tap_config_for(sim, end_date=END, extraction_mode="jobs", **overrides)


def requests_to(sim: Any, path: str) -> dict[str, int]:
    return sim.stats["requests"].get(path, {})


def assert_ground_truth(sim: Any, run: Any, start: str = SIM_DATA_START) -> None:
    assert run.error is None, run.error
    truth = sim.ground_truth(start, END)
    assert len(truth) > 800
    assert details(run) == truth  # same ids once each, same content, same order


def test_hybrid_equals_a_query_only_run(sim, _fast_polls):
    query = run_tap(tap_config_for(sim, end_date=END, extraction_mode="query"))
    hybrid = run_tap(config(sim))
    assert query.error is None and hybrid.error is None
    assert details(hybrid) == details(query)
    assert hybrid.bookmarks == query.bookmarks  # one STATE per window, same bookmarks
    assert requests_to(sim, JOBS) == {"202": 1}  # 5 day windows, one job
    assert _fast_polls[0]["interval"] == "2024-05-01T00:00:00.000Z/2024-05-06T00:00:00.000Z"
    assert _fast_polls[0]["startOfDayIntervalMatching"] is True


@pytest.mark.parametrize("mode", ["truncate", "include"])
def test_nothing_after_availability_is_read_by_jobs_nothing_before_it_missed(
    genesys_sim, mode, _fast_polls
):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=7,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
        jobs_beyond_availability=mode,
        late_wrapup_fraction=0.0,
    )  # records final at their end: settle 0 holds
    use_clock(sim.clock.now)
    availability = sim.jobs.availability()  # 2024-05-07T21:00
    run = run_tap(config(sim, window_size="PT1H", job_settle="PT0S", job_max_windows=31))
    assert_ground_truth(sim, run)
    ends = [parse_instant(b["interval"].split("/")[1]) for b in _fast_polls]
    assert max(ends) == availability  # jobs read right up to availability, never past it
    assert requests_to(sim, "/api/v2/analytics/conversations/details/query")  # the tail


@pytest.mark.parametrize("results_max", [100, 1000, 10000])
def test_results_page_size_limits(genesys_sim, results_max):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=42,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
        job_results_max_page_size=results_max,
    )
    use_clock(sim.clock.now)
    run = run_tap(config(sim, job_page_size=1000))
    assert_ground_truth(sim, run)
    refused = requests_to(sim, RESULTS).get("400", 0)
    assert refused == (4 if results_max == 100 else 0)  # 1000 -> 500 -> 250 -> 125 -> 62


@pytest.mark.parametrize(("limit", "status"), [(1, 429), (1, 409), (5, 429)])
def test_concurrent_job_limit(genesys_sim, limit, status):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=42,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
        job_max_concurrent=limit,
        job_concurrency_status=status,
        job_concurrency_retry_after_s=0,
        job_polls_queued=2,
        job_polls_pending=2,
    )
    use_clock(sim.clock.now)
    run = run_tap(config(sim, job_max_windows=1, max_concurrent_jobs=3))
    assert_ground_truth(sim, run)
    created = requests_to(sim, JOBS)
    assert created["202"] == 5  # one job per window, each once
    assert created.get(str(status), 0) > 0 if limit == 1 else created.get(str(status)) is None


def test_failed_cancelled_expired_jobs_are_submitted_again(sim):
    sim.jobs.script(["FAILED", "CANCELLED", "EXPIRED"])
    run = run_tap(config(sim, job_max_windows=2))
    assert_ground_truth(sim, run)
    assert requests_to(sim, JOBS)["202"] == 3 + 3  # 3 groups, 3 resubmissions


@pytest.mark.parametrize(
    ("in_flight", "outcomes"),
    [
        (1, ["FULFILLED", "FAILED", "FAILED", "FAILED"]),
        # three jobs at once: the second fails three times while the third succeeds
        (3, ["FULFILLED", "FAILED", "FULFILLED", "FAILED", "FAILED"]),
    ],
)
def test_a_job_failing_every_time_stops_the_run_naming_its_interval(sim, in_flight, outcomes):
    sim.jobs.script(outcomes)
    run = run_tap(config(sim, job_max_windows=2, max_concurrent_jobs=in_flight))
    assert isinstance(run.error, ExtractError)
    assert str(run.error).startswith(
        "job 2024-05-03T00:00:00.000Z/2024-05-05T00:00:00.000Z ended FAILED 3 times"
    )
    assert "\n" not in str(run.error)
    # the windows before it were emitted with their STATE
    assert [b for b in run.bookmarks if b] == [
        "2024-05-02T00:00:00+00:00",
        "2024-05-03T00:00:00+00:00",
    ]


def test_crash_mid_job_resumes_from_the_last_finished_window(sim):
    # the first job (two days, ~150 a day, 100 a page) fails for good on its third page:
    # its first window was emitted, its second not (one job at a time: the fault counts
    # results requests of every job, and several jobs' results are otherwise read at once)
    sim.faults.add("status", status=500, target="jobs_results", on=(3, 4, 5))
    first = run_tap(
        config(sim, job_max_windows=2, job_page_size=100, max_retries=2, max_concurrent_jobs=1)
    )
    assert first.error is not None and "results" in str(first.error)
    state = first.final_state
    bookmark = state["bookmarks"]["conversation_details"]["replication_key_value"]
    assert bookmark == "2024-05-02T00:00:00+00:00"
    sim.faults.clear()
    resumed = run_tap(config(sim, lookback="PT0S"), state=state)
    assert resumed.error is None
    emitted = [r for r in details(first) if r["conversationStart"] < "2024-05-02"]
    truth = sim.ground_truth(SIM_DATA_START, END)
    assert emitted + details(resumed) == truth


def test_records_changing_after_the_view_are_read_again_by_id(sim):
    # hourly windows up to availability minus a day: conversations started before that and
    # ended after it (long messaging, late wrap-ups) are taken from the multi-get
    run = run_tap(config(sim, window_size="PT1H", job_max_windows=31))
    assert_ground_truth(sim, run)
    assert requests_to(sim, "/api/v2/analytics/conversations/details").get("200", 0) > 0


def test_results_out_of_order_fall_back_to_one_job_per_window(sim, monkeypatch):
    from genesys_sim import jobs as sim_jobs

    real = sim_jobs.job_candidates

    def shuffled(*args: Any) -> list[Any]:
        rows = list(real(*args))
        random.Random(1).shuffle(rows)
        return rows

    monkeypatch.setattr(sim_jobs, "job_candidates", shuffled)
    run = run_tap(config(sim, job_max_windows=5))
    assert_ground_truth(sim, run)  # each window held and sorted: the query's order
    assert requests_to(sim, JOBS)["202"] == 1 + 5  # the group, then one job per window


def test_shallow_windows_on_the_query_path(sim):
    run = run_tap(tap_config_for(sim, extraction_mode="query", page_size=20, max_page_depth=2))
    assert run.error is None
    assert details(run) == sim.ground_truth("2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z")
    windows = [b for i, b in enumerate(run.bookmarks) if b and b not in run.bookmarks[:i]]
    assert len(windows) > 3 * 3  # ~150 a day / (20 x 2) -> at least 4 parts a day
    assert windows[-1] == "2024-05-04T00:00:00+00:00"


@pytest.mark.parametrize("expired_status", [404, 400])
def test_results_expiring_mid_job_resubmit_what_is_left(genesys_sim, monkeypatch, expired_status):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=42,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
        job_expired_results_status=expired_status,
    )
    use_clock(sim.clock.now)
    real = sim.jobs.results_page
    calls: list[str] = []

    def expiring(job_id: str, params: dict[str, str], now_ms: int) -> Any:
        calls.append(job_id)
        if len(calls) == 3:  # the first job's third page: its results are gone
            sim.jobs.set_state(job_id, "EXPIRED")
        return real(job_id, params, now_ms)

    monkeypatch.setattr(sim.jobs, "results_page", expiring)
    run = run_tap(config(sim, job_max_windows=2, job_page_size=100, max_concurrent_jobs=1))
    assert_ground_truth(sim, run)  # nothing lost, nothing twice
    assert requests_to(sim, JOBS)["202"] == 3 + 1
    assert requests_to(sim, RESULTS).get(str(expired_status)) == 1


def test_auto_reads_a_short_range_with_the_query_without_asking_availability(sim):
    run = run_tap(tap_config_for(sim, extraction_mode="auto"))
    assert run.error is None
    assert not requests_to(sim, JOBS + "/availability")
    assert not requests_to(sim, JOBS)


def test_auto_uses_jobs_for_a_long_history(genesys_sim):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=3,
        conversations_per_day=60,
        data_start=SIM_DATA_START,
        now="2024-05-20T00:00:00Z",
        rate_limit_per_minute=0,
    )
    use_clock(sim.clock.now)
    end = "2024-05-19T23:55:00Z"
    run = run_tap(tap_config_for(sim, end_date=end, extraction_mode="auto", job_max_windows=7))
    assert run.error is None
    assert details(run) == sim.ground_truth(SIM_DATA_START, end)
    assert requests_to(sim, JOBS) == {"202": 3}  # 05-01 .. 05-18 in weeks
    assert requests_to(sim, "/api/v2/analytics/conversations/details/query")  # the tail


def test_a_refused_job_interval_is_cut_until_the_api_takes_it(genesys_sim):
    from tests.conftest import use_clock

    sim = genesys_sim(
        seed=42,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
        job_max_interval_days=2,
    )
    use_clock(sim.clock.now)
    run = run_tap(config(sim, job_max_windows=5))
    assert_ground_truth(sim, run)
    created = requests_to(sim, JOBS)
    assert created["400"] == 1  # 5 days refused once; then 2 windows a job
    assert created["202"] == 3
