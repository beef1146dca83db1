"""Async jobs: the switches for uncertain facts, each plausible value.

See docs/genesys-api.md §2 and §11.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from genesys_sim import SimConfig
from genesys_sim.config import parse_time
from genesys_sim.data import to_ms
from tests.sim.helpers import JOBS, Client, error_ok

INTERVAL = "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z"
SMALL = {"rate_limit_per_minute": 0, "conversations_per_day": 60}


def _create(client, interval=INTERVAL, **extra):
    return client.post(JOBS, {"interval": interval, **extra})


def _job(client, interval=INTERVAL, **extra):
    resp = _create(client, interval, **extra)
    assert resp.status_code == 202, resp.text
    return resp.json()["jobId"]


def _fulfil(client, job_id):
    states = [client.get(f"{JOBS}/{job_id}").json()["state"] for _ in range(3)]
    assert states[-1] == "FULFILLED", states


def _pages(client, job_id, **params):
    pages, cursor = [], None
    while True:
        resp = client.get(
            f"{JOBS}/{job_id}/results", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        cursor = pages[-1].get("cursor")
        if not cursor:
            return pages


def _ids(pages):
    return [c["conversationId"] for p in pages for c in p.get("conversations", [])]


# ---------------------------------------------------------------------------- page size
@pytest.mark.parametrize("maximum", [100, 1000, 10000])
def test_results_page_size_maximum(genesys_sim, maximum):
    sim = genesys_sim(
        rate_limit_per_minute=0, conversations_per_day=400, job_results_max_page_size=maximum
    )
    client = Client(sim)
    job = _job(client, "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z")
    _fulfil(client, job)
    full = client.get(f"{JOBS}/{job}/results", params={"pageSize": maximum}).json()
    assert len(full["conversations"]) == min(maximum, len(sim.jobs.result_ids(job)))
    body = error_ok(
        client.get(f"{JOBS}/{job}/results", params={"pageSize": maximum + 1}), 400, "bad.request"
    )
    assert f"between 1 and {maximum}" in body["message"]
    assert body["details"] == [{"errorCode": "bad.request", "fieldName": "pageSize"}]


@pytest.mark.parametrize("default", [25, 100, 1000])
def test_results_default_page_size(genesys_sim, default):
    sim = genesys_sim(**SMALL, job_results_default_page_size=default)
    client = Client(sim)
    job = _job(client, "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z")
    _fulfil(client, job)
    total = len(sim.jobs.result_ids(job))
    pages = _pages(client, job)
    assert [len(p.get("conversations", [])) for p in pages[:-1]] == [default] * (len(pages) - 1)
    assert _ids(pages) == sim.jobs.result_ids(job) and total > 25


# ---------------------------------------------------------------------------- concurrency
@pytest.mark.parametrize(
    ("status", "retry_after", "code"), [(429, 5, "too.many.requests"), (409, 0, "conflict")]
)
def test_concurrent_jobs_limit(genesys_sim, status, retry_after, code):
    sim = genesys_sim(
        **SMALL,
        job_max_concurrent=2,
        job_concurrency_status=status,
        job_concurrency_retry_after_s=retry_after,
    )
    client = Client(sim)
    first, second = _job(client), _job(client)  # never polled: both stay QUEUED
    over = _create(client)
    body = error_ok(over, status, code)
    assert "at most 2" in body["message"] and "organization" in body["message"]
    assert over.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    _fulfil(client, first)  # a finished job frees its slot
    third = _job(client)
    error_ok(_create(client), status, code)
    assert (
        client.session.delete(
            f"{sim.base_url}{JOBS}/{second}", headers=client.auth, timeout=5
        ).status_code
        == 204
    )  # deleting cancels: slot free
    _job(client)
    assert third


@pytest.mark.parametrize("scope", ["org", "client"])
def test_concurrent_jobs_limit_scope(genesys_sim, scope):
    sim = genesys_sim(
        **SMALL,
        job_max_concurrent=1,
        job_concurrency_scope=scope,
        clients={"sim-client": "sim-secret", "other": "pw"},
    )
    client_a, client_b = Client(sim), Client(sim)
    client_b.token = client_b.fetch_token("other", "pw")
    _job(client_a)
    error_ok(_create(client_a), 429)
    second = _create(client_b)
    if scope == "client":
        assert second.status_code == 202, second.text
        assert sim.jobs.get(second.json()["jobId"]).client == "other"
    else:
        error_ok(second, 429, "too.many.requests")


def test_concurrent_jobs_unlimited(genesys_sim):
    client = Client(genesys_sim(**SMALL, job_max_concurrent=0))
    assert len({_job(client) for _ in range(12)}) == 12


# ---------------------------------------------------------------------------- interval limit
@pytest.mark.parametrize("days", [7, 31, 0])
def test_job_interval_limit(genesys_sim, days):
    client = Client(genesys_sim(**SMALL, job_max_interval_days=days, job_max_concurrent=0))
    for length in (7, 8, 31, 32, 90):
        end = parse_time("2024-05-01") + timedelta(days=length)
        interval = f"2024-05-01T00:00:00Z/{end.isoformat()}"
        resp = _create(client, interval)
        if days == 0 or length <= days:
            assert resp.status_code == 202, (length, resp.text)
        else:
            body = error_ok(resp, 400, "bad.request")
            assert f"{days} days" in body["message"]
            assert body["details"][0]["fieldName"] == "interval"


# ---------------------------------------------------------------------------- lifetime
@pytest.mark.parametrize(("status", "code"), [(404, "not.found"), (400, "bad.request")])
def test_results_after_expiration(genesys_sim, status, code):
    sim = genesys_sim(**SMALL, job_ttl_s=600, job_expired_results_status=status)
    client = Client(sim)
    job = _job(client)
    _fulfil(client, job)
    done = client.get(f"{JOBS}/{job}").json()
    expires = to_ms(parse_time(done["expirationDate"]))
    assert expires - to_ms(parse_time(done["completionDate"])) == 600_000
    assert _pages(client, job)
    sim.clock.set(parse_time(done["expirationDate"]))
    assert client.get(f"{JOBS}/{job}").json()["state"] == "EXPIRED"
    body = error_ok(client.get(f"{JOBS}/{job}/results"), status, code)
    assert "expired" in body["message"]


# ---------------------------------------------------------------------------- availability
@pytest.mark.parametrize("mode", ["truncate", "include"])
def test_jobs_beyond_availability(genesys_sim, mode):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        conversations_per_day=300,
        now="2024-05-07T12:00:00Z",
        data_availability_lag_s=6 * 3600,
        jobs_beyond_availability=mode,
    )
    client = Client(sim)
    avail = "2024-05-07T06:00:00.000Z"
    assert client.get(f"{JOBS}/availability").json() == {"dataAvailabilityDate": avail}
    job = _job(client, "2024-05-06T00:00:00Z/2024-05-08T00:00:00Z")
    _fulfil(client, job)
    pages = _pages(client, job, pageSize=1000)
    convs = [c for p in pages for c in p.get("conversations", [])]
    assert all(p["dataAvailabilityDate"] == avail for p in pages)
    latest_start = max(c["conversationStart"] for c in convs)
    ends = [c["conversationEnd"] for c in convs if "conversationEnd" in c]
    if mode == "truncate":  # nothing the data lake does not hold yet
        assert latest_start <= avail and max(ends) <= avail
    else:  # everything up to the submission instant
        assert avail < latest_start <= "2024-05-07T12:00:00.000Z" and max(ends) > avail
    assert _ids(pages) == sim.jobs.ground_truth_ids("2024-05-06", "2024-05-08")


def test_hybrid_jobs_up_to_availability_plus_query_equals_query_only(genesys_sim):
    """Ground truth for "jobs + query == query only": job results restricted to conversations
    that started in the interval, up to dataAvailabilityDate, plus the sync query's
    conversations from there on, are exactly the sync query's conversations."""
    sim = genesys_sim(
        rate_limit_per_minute=0,
        conversations_per_day=200,
        now="2024-05-07T12:00:00Z",
        data_availability_lag_s=5 * 3600,
    )
    client = Client(sim)
    start, end = "2024-05-04T00:00:00Z", "2024-05-07T12:00:00Z"
    avail = sim.jobs.availability()
    assert avail == parse_time("2024-05-07T07:00:00Z")
    job = _job(client, f"{start}/{avail.isoformat()}")
    _fulfil(client, job)
    convs = [c for p in _pages(client, job, pageSize=1000) for c in p.get("conversations", [])]
    assert [c["conversationId"] for c in convs] == sim.jobs.ground_truth_ids(start, avail)
    assert any(c["conversationStart"] < "2024-05-04" for c in convs)  # activity overlap
    from_jobs = {c["conversationId"] for c in convs if c["conversationStart"] >= "2024-05-04"}
    from_query = set(sim.ground_truth_ids(avail, end))
    assert not from_jobs & from_query
    assert from_jobs | from_query == set(sim.ground_truth_ids(start, end))
    records = sim.jobs.ground_truth(start, avail)
    assert records == convs  # the same records, byte for byte as served


def test_results_are_a_snapshot_taken_at_submission(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        conversations_per_day=200,
        now="2024-05-07T12:00:00Z",
        jobs_beyond_availability="include",
    )
    client = Client(sim)
    job = _job(client, "2024-05-07T00:00:00Z/2024-05-08T00:00:00Z")
    _fulfil(client, job)
    first = client.get(f"{JOBS}/{job}/results", params={"pageSize": 1000}).content
    sim.clock.advance(6 * 3600)  # more conversations start and ongoing ones end
    assert client.get(f"{JOBS}/{job}/results", params={"pageSize": 1000}).content == first
    assert sim.jobs.ground_truth_ids("2024-05-07", "2024-05-08") != sim.jobs.result_ids(job)


def test_every_results_page_counts_against_the_rate_limit(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=12, conversations_per_day=200)
    client = Client(sim)
    job = _job(client)
    _fulfil(client, job)  # requests 1-4: create and three polls
    cursor, counts = None, []
    for _ in range(8):
        resp = client.get(
            f"{JOBS}/{job}/results",
            params={"pageSize": 20, **({"cursor": cursor} if cursor else {})},
        )
        assert resp.status_code == 200, resp.text
        counts.append(int(resp.headers["inin-ratelimit-count"]))
        cursor = resp.json()["cursor"]
    assert counts == list(range(5, 13))
    over = client.get(f"{JOBS}/{job}/results", params={"pageSize": 20, "cursor": cursor})
    error_ok(over, 429, "too.many.requests.retry.after")
    assert int(over.headers["Retry-After"]) >= 1


# ---------------------------------------------------------------------------- faults
ENDPOINTS = ("jobs_availability", "jobs_create", "jobs_status", "jobs_results", "jobs_delete")


@pytest.mark.parametrize("target", ENDPOINTS)
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("status", 408, "request.timeout"),
        ("status", 409, "conflict"),
        ("rate_limit", 429, "too.many.requests.retry.after"),
        ("status", 500, None),
        ("status", 503, "service.unavailable"),
        ("status", 504, None),
    ],
)
def test_fault_on_one_jobs_endpoint(genesys_sim, target, kind, status, code):
    sim = genesys_sim(**SMALL)
    sim.faults.add(kind, status=status if kind == "status" else 503, target=target, times=1)
    client = Client(sim)
    failed: list[str] = []
    job_id = ""

    def call(name: str, do) -> requests.Response:
        resp = do()
        if resp.status_code >= 400:
            error_ok(resp, status, code)
            failed.append(name)
            resp = do()  # the retry succeeds (times=1)
        assert resp.status_code < 400, (name, resp.text)
        return resp

    url = f"{sim.base_url}{JOBS}"
    call("jobs_availability", lambda: client.get(f"{JOBS}/availability"))
    job_id = call("jobs_create", lambda: _create(client)).json()["jobId"]
    states = [
        call("jobs_status", lambda: client.get(f"{JOBS}/{job_id}")).json()["state"]
        for _ in range(3)
    ]
    assert states == ["QUEUED", "PENDING", "FULFILLED"]  # failed polls do not count
    call("jobs_results", lambda: client.get(f"{JOBS}/{job_id}/results"))
    call("jobs_delete", lambda: client.session.delete(f"{url}/{job_id}", headers=client.auth))
    assert failed == [target]


# ---------------------------------------------------------------------------- settings
def test_switches_reject_unknown_values():
    for key, value in [
        ("jobs_beyond_availability", "all"),
        ("job_clock", "cpu"),
        ("job_concurrency_scope", "user"),
        ("job_concurrency_status", 503),
        ("job_expired_results_status", 410),
    ]:
        with pytest.raises(ValueError, match=f"^{key}: "):
            SimConfig(**{key: value})  # type: ignore[arg-type]


def test_switches_through_the_control_endpoint(genesys_sim):
    sim = genesys_sim(**SMALL)
    client = Client(sim)
    post = lambda path, body: requests.post(sim.base_url + path, json=body, timeout=5)  # noqa: E731
    resp = post(
        "/_sim/config",
        {
            "job_max_concurrent": 1,
            "job_concurrency_status": 409,
            "jobs_beyond_availability": "include",
        },
    )
    assert resp.status_code == 200 and resp.json()["job_max_concurrent"] == "1"
    bad = post("/_sim/config", {"job_clock": "cpu"})
    assert bad.status_code == 400 and "job_clock" in bad.json()["message"]
    assert sim.config.job_clock == "sim"
    job = _job(client)
    error_ok(_create(client), 409, "conflict")
    _fulfil(client, job)
    info = requests.get(f"{sim.base_url}/_sim/jobs/{job}", timeout=5).json()
    assert info["conversationIds"] == _ids(_pages(client, job)) and info["count"] > 0
    truth = post(
        "/_sim/jobs/ground_truth", {"start": "2024-05-02", "end": "2024-05-03", "idsOnly": True}
    ).json()
    assert truth["conversationIds"] == sim.jobs.ground_truth_ids("2024-05-02", "2024-05-03")
    assert truth["dataAvailabilityDate"] == "2024-05-07T21:00:00.000Z"
    sod = post(
        "/_sim/jobs/ground_truth",
        {
            "start": "2024-05-02",
            "end": "2024-05-03",
            "startOfDayIntervalMatching": True,
            "limit": 5,
        },
    ).json()
    assert sod["count"] == 5 and all(
        c["conversationStart"] >= "2024-05-02" for c in sod["conversations"]
    )
