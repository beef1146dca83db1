"""Fault switches (docs/simulator.md "Faults"; docs/genesys-api.md §4, §8.2)."""

from __future__ import annotations

import json

import pytest
import requests

from genesys_sim import FaultRule
from tests.sim.helpers import DAY, Client, error_ok


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0)


@pytest.fixture
def client(sim):
    return Client(sim, timeout=5)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "internal.server.error"),
        (502, "bad.gateway"),
        (503, "service.unavailable"),
        (504, "request.timeout"),
        (408, "request.timeout"),
    ],
)
def test_status_fault_on_given_request_numbers(sim, client, status, code):
    sim.faults.add("status", status=status, on=(2, 4))
    got = [client.query(page_size=1).status_code for _ in range(5)]
    assert got == [200, status, 200, status, 200]
    sim.faults.configure(FaultRule("status", status=status))
    error_ok(client.query(page_size=1), status, code)
    assert sim.stats["faults_injected"]["status"] == 3


def test_503_with_retry_after(sim, client):
    sim.faults.add("status", status=503, retry_after=2, on=(1,))
    resp = client.query(page_size=1)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"


def test_status_fault_at_a_rate_is_seeded_and_reproducible(genesys_sim):
    def run():
        sim = genesys_sim(rate_limit_per_minute=0)
        sim.faults.configure(FaultRule("status", status=500, rate=0.3), seed=7)
        client = Client(sim)
        return [client.query(page_size=1).status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert 3 <= first.count(500) <= 18


def test_rate_limit_storm_sends_429_with_configured_retry_after(sim, client):
    sim.faults.add("rate_limit", on=(1, 2), retry_after=1)
    resp = client.query(page_size=1)
    error_ok(resp, 429, "too.many.requests.retry.after")
    assert resp.headers["Retry-After"] == "1"
    assert client.query(page_size=1).status_code == 429
    assert client.query(page_size=1).status_code == 200
    assert sim.stats["retry_after_sent"] == [1, 1]


def test_connection_reset(sim, client):
    sim.faults.add("reset", on=(1,))
    with pytest.raises(requests.ConnectionError):
        client.query(page_size=1)
    assert client.query(page_size=1).status_code == 200


def test_hang_past_client_timeout(sim, client):
    sim.faults.add("hang", on=(1,), hang_s=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post("/api/v2/analytics/conversations/details/query", {"interval": DAY}, timeout=0.3)
    assert client.query(page_size=1).status_code == 200


def test_truncated_json_body(sim, client):
    sim.faults.add("truncated", on=(1,))
    resp = client.query()
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)


def test_html_body_with_200(sim, client):
    sim.faults.add("html", on=(1,))
    resp = client.query()
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.text.startswith("<!DOCTYPE html>")


def test_transient_empty_page_while_more_pages_exist(sim, client):
    full = client.query(page_number=2).json()
    sim.faults.add("empty_page", on=(1,))
    glitch = client.query(page_number=2).json()
    assert "conversations" not in glitch and glitch["totalHits"] == full["totalHits"]
    assert client.query(page_number=2).json() == full


@pytest.mark.parametrize("factor", [0.5, 1.5])
def test_approximate_total_hits(sim, client, factor):
    true_total = client.query().json()["totalHits"]
    sim.faults.add("total_hits", factor=factor)
    assert client.query().json()["totalHits"] == round(true_total * factor)


def test_duplicates_make_short_pages_and_inflated_total_but_lose_nothing(sim, client):
    truth = sim.ground_truth_ids("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z")
    sim.faults.add("duplicates", dup_rate=0.1)
    first = client.query(page_size=100).json()
    assert first["totalHits"] > len(truth)
    pages = client.all_pages(DAY, page_size=100)
    ids = [c["conversationId"] for c in pages]
    assert set(ids) == set(truth)
    assert len(ids) > len(set(ids))  # duplicates across pages: the client must dedupe
    sizes = [
        len(client.query(page_size=100, page_number=n).json().get("conversations", []))
        for n in range(1, len(truth) // 100)
    ]
    assert min(sizes) < 100  # some pages are short: duplicates filtered within a page


def test_latency_fixed_and_per_record(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0, latency_s=0.25, latency_per_record_s=0.01)
    slept: list[float] = []
    sim.app.sleep = slept.append
    client = Client(sim)
    client.query(page_size=10)
    client.query(page_size=100)
    assert slept == pytest.approx([0.35, 1.25])
    sim.faults.add("latency", latency_s=2.0, on=(1,))
    client.query(page_size=1)
    assert slept[2:] == pytest.approx([2.0, 0.26])


def test_times_caps_injections_and_target_selects_endpoints(sim, client):
    sim.faults.add("status", status=500, times=2, target="any")
    assert (
        client.get("/api/v2/analytics/conversations/details/jobs/availability").status_code == 500
    )
    assert client.query(page_size=1).status_code == 500
    assert client.query(page_size=1).status_code == 200
    sim.faults.configure(FaultRule("status", status=503, target="token"))
    with pytest.raises(requests.HTTPError):
        client.fetch_token()
    assert client.query(page_size=1).status_code == 200


def test_fault_spec_parsing_and_validation():
    rule = FaultRule.parse("status:rate=0.05,status=503,retry_after=2,target=api")
    assert (rule.kind, rule.rate, rule.status, rule.retry_after, rule.target) == (
        "status",
        0.05,
        503,
        2,
        "api",
    )
    assert FaultRule.parse("reset:on=3+7").on == (3, 7)
    for bad in (
        "explode",
        "status:status=418",
        "status:rate=2",
        "reset:colour=red",
        "html:target=moon",
    ):
        with pytest.raises(ValueError):
            FaultRule.parse(bad)
