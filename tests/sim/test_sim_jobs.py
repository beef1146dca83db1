"""Async jobs API (docs/genesys-api.md §2, §8.7-§8.8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesys_sim.config import parse_time
from genesys_sim.data import to_ms
from tests.sim.helpers import JOBS, Client, error_ok

INTERVAL = "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z"


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0, conversations_per_day=300)


@pytest.fixture
def client(sim):
    return Client(sim)


def _create(client, **extra):
    resp = client.post(JOBS, {"interval": INTERVAL, **extra})
    assert resp.status_code == 202, resp.text
    assert set(resp.json()) == {"jobId"}
    return resp.json()["jobId"]


def _state(client, job_id):
    resp = client.get(f"{JOBS}/{job_id}")
    assert resp.status_code == 200
    return resp.json()


def _results(client, job_id, page_size=100):
    out, cursor, pages = [], None, []
    while True:
        params = {"pageSize": page_size, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{JOBS}/{job_id}/results", params=params).json()
        pages.append(body)
        out += body.get("conversations", [])
        cursor = body.get("cursor")
        if not cursor:
            return out, pages


def test_state_machine_by_polls_queued_pending_fulfilled(client):
    job = _create(client)
    states = [_state(client, job)["state"] for _ in range(4)]
    assert states == ["QUEUED", "PENDING", "FULFILLED", "FULFILLED"]
    done = _state(client, job)
    assert set(done) == {"state", "submissionDate", "completionDate", "expirationDate"}


def test_state_machine_by_simulated_clock(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        job_polls_queued=0,
        job_polls_pending=0,
        job_queue_s=10,
        job_run_s=60,
        job_run_s_per_1000=0,
        job_ttl_s=3600,
    )
    client = Client(sim)
    job = _create(client)
    submitted = sim.clock.now()
    assert [_state(client, job)["state"] for _ in range(5)] == ["QUEUED"] * 5  # polls: no effect
    sim.clock.advance(10)
    assert _state(client, job)["state"] == "PENDING"
    sim.clock.advance(59)
    assert _state(client, job)["state"] == "PENDING"
    error_ok(client.get(f"{JOBS}/{job}/results"), 400, "bad.request")
    sim.clock.advance(30)
    done = _state(client, job)
    assert done["state"] == "FULFILLED"
    # completed when its time was up (70 s after submission), not when the poll noticed it
    assert to_ms(parse_time(done["completionDate"])) == to_ms(submitted) + 70_000
    assert to_ms(parse_time(done["expirationDate"])) == to_ms(submitted) + 70_000 + 3_600_000
    sim.clock.advance(timedelta(hours=1))
    assert _state(client, job)["state"] == "EXPIRED"
    error_ok(client.get(f"{JOBS}/{job}/results"), 404, "not.found")


def test_job_latency_scales_with_the_number_of_results(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        job_polls_queued=0,
        job_polls_pending=0,
        job_queue_s=0,
        job_run_s=0,
        job_run_s_per_1000=1000,
    )  # 1 s per result
    client = Client(sim)
    small, large = _create(client, limit=10), _create(client, limit=100)
    sim.clock.advance(10)
    assert (_state(client, small)["state"], _state(client, large)["state"]) == (
        "FULFILLED",
        "PENDING",
    )
    sim.clock.advance(89)
    assert _state(client, large)["state"] == "PENDING"
    sim.clock.advance(1)
    assert _state(client, large)["state"] == "FULFILLED"


def test_job_latency_on_the_wall_clock(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        job_clock="wall",
        job_polls_queued=0,
        job_polls_pending=0,
        job_queue_s=5,
        job_run_s=10,
        job_run_s_per_1000=0,
    )
    wall = [1000.0]
    sim.jobs.monotonic = lambda: wall[0]
    client = Client(sim)
    job = _create(client)
    sim.clock.advance(timedelta(hours=1))  # the simulated clock does not move a wall-clock job
    assert _state(client, job)["state"] == "QUEUED"
    wall[0] += 5
    assert _state(client, job)["state"] == "PENDING"
    wall[0] += 10
    assert _state(client, job)["state"] == "FULFILLED"


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED", "EXPIRED"])
def test_scripted_outcomes(sim, client, outcome):
    sim.jobs.script([outcome])
    job = _create(client)
    states = [_state(client, job) for _ in range(3)]
    assert states[-1]["state"] == outcome
    assert ("errorMessage" in states[-1]) == (outcome == "FAILED")
    # expired results answer job_expired_results_status (default 404), the others 400
    error_ok(client.get(f"{JOBS}/{job}/results"), 404 if outcome == "EXPIRED" else 400)
    assert _state(client, _create(client))["state"] == "QUEUED"  # next job is normal


def test_forced_state_and_results_before_fulfilled(sim, client):
    job = _create(client)
    error_ok(client.get(f"{JOBS}/{job}/results"), 400, "bad.request")
    sim.jobs.set_state(job, "CANCELLED")
    assert _state(client, job)["state"] == "CANCELLED"


def test_cursor_paging_returns_every_match_once_with_availability(sim, client):
    job = _create(client)
    for _ in range(3):
        _state(client, job)
    convs, pages = _results(client, job, page_size=50)
    ids = [c["conversationId"] for c in convs]
    assert len(ids) == len(set(ids)) > 250
    assert "cursor" not in pages[-1] and all("cursor" in p for p in pages[:-1])
    assert all(p["dataAvailabilityDate"] == pages[0]["dataAvailabilityDate"] for p in pages)
    assert all("totalHits" not in p for p in pages)
    assert all("attributes" in c["participants"][0] for c in convs)


def test_jobs_match_by_activity_including_conversations_started_the_day_before(sim, client):
    job = _create(client)
    for _ in range(3):
        _state(client, job)
    convs, _ = _results(client, job, page_size=1000)
    lo, hi = to_ms(parse_time("2024-05-02T00:00:00Z")), to_ms(parse_time("2024-05-03T00:00:00Z"))
    earlier = [c for c in convs if c["conversationStart"] < "2024-05-02"]
    assert earlier, "jobs return conversations active in the interval that started before it"
    for c in convs:
        assert to_ms(parse_time(c["conversationStart"])) < hi
        assert to_ms(parse_time(c["conversationEnd"])) >= lo
    sync_ids = set(sim.ground_truth_ids("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z"))
    assert sync_ids <= {c["conversationId"] for c in convs}

    sod = _create(client, startOfDayIntervalMatching=True, limit=20)
    for _ in range(3):
        _state(client, sod)
    limited, _ = _results(client, sod)
    assert len(limited) == 20 and all(c["conversationStart"] >= "2024-05-02" for c in limited)


def test_data_availability_bounds_job_results(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0, now="2024-05-07T12:00:00Z", data_availability_lag_s=6 * 3600
    )
    client = Client(sim)
    avail = client.get(f"{JOBS}/availability").json()
    assert avail == {"dataAvailabilityDate": "2024-05-07T06:00:00.000Z"}
    resp = client.post(JOBS, {"interval": "2024-05-07T00:00:00Z/2024-05-08T00:00:00Z"})
    job = resp.json()["jobId"]
    for _ in range(3):
        _state(client, job)
    convs, _ = _results(client, job, page_size=1000)
    assert convs and max(c["conversationStart"] for c in convs) <= "2024-05-07T06:00:00.000Z"


def test_delete_job_then_404(client):
    job = _create(client)
    assert (
        client.session.delete(f"{client.sim.base_url}{JOBS}/{job}", headers=client.auth).status_code
        == 204
    )
    error_ok(client.get(f"{JOBS}/{job}"), 404, "not.found")


def test_bad_cursor_page_size_and_job_body(sim, client):
    job = _create(client)
    for _ in range(3):
        _state(client, job)
    error_ok(client.get(f"{JOBS}/{job}/results", params={"cursor": "garbage"}), 400)
    error_ok(client.get(f"{JOBS}/{job}/results", params={"pageSize": 0}), 400)
    error_ok(client.post(JOBS, {"interval": INTERVAL, "paging": {"pageSize": 10}}), 400)
    error_ok(client.post(JOBS, {"interval": INTERVAL, "order": "up"}), 400, "invalid.value")
    error_ok(client.get(f"{JOBS}/00000000-0000-4000-8000-000000000000"), 404)


def test_warm_with_attributes_prerenders_what_job_results_serve(genesys_sim):
    plain = genesys_sim(rate_limit_per_minute=0, conversations_per_day=300)
    warmed = genesys_sim(rate_limit_per_minute=0, conversations_per_day=300)
    day = ("2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z")
    count = warmed.warm(*day)
    assert warmed.warm(*day, attributes=True) == count
    assert len(warmed.app.pages.records) == 2 * count  # the query's and the job results' variant
    served = []
    for sim in (plain, warmed):
        client = Client(sim)
        job = _create(client)
        for _ in range(3):
            _state(client, job)
        served.append(_results(client, job)[0])
    assert served[0] == served[1] and len(served[0]) > 250
    assert len(warmed.app.pages.records) == 2 * count  # served from the cache: nothing new
