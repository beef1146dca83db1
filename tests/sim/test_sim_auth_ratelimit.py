"""OAuth tokens (docs/genesys-api.md §5) and the per-token rate limiter (docs/genesys-api.md §4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from genesys_sim.ratelimit import RateLimiter
from tests.sim.helpers import DAY, QUERY, Client, error_ok
from tests.virtual_time import VirtualTime


def _token(sim, auth=("sim-client", "sim-secret"), data=None):
    return requests.post(
        sim.base_url + "/oauth/token",
        auth=auth,
        data=data or {"grant_type": "client_credentials"},
        timeout=5,
    )


def test_token_issued_for_basic_client_credentials(genesys_sim):
    sim = genesys_sim(token_lifetime_s=600)
    resp = _token(sim)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    assert sim.stats["tokens_issued"] == 1


def test_token_from_form_credentials_also_accepted(genesys_sim):
    sim = genesys_sim()
    resp = _token(
        sim,
        auth=None,
        data={
            "grant_type": "client_credentials",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
        },
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("auth", [("nobody", "sim-secret"), ("sim-client", "wrong")])
def test_unknown_client_gets_oauth_shaped_401(genesys_sim, auth):
    resp = _token(genesys_sim(), auth=auth)
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "invalid_client",
        "description": "client not found or bad secret",
    }


def test_wrong_grant_type_is_400(genesys_sim):
    resp = _token(genesys_sim(), data={"grant_type": "password"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_missing_bearer_is_authentication_required(genesys_sim):
    sim = genesys_sim()
    resp = requests.post(sim.base_url + QUERY, json={"interval": DAY}, timeout=5)
    error_ok(resp, 401, "authentication.required")


def test_unknown_bearer_is_bad_credentials(genesys_sim):
    sim = genesys_sim()
    resp = requests.post(
        sim.base_url + QUERY,
        json={"interval": DAY},
        timeout=5,
        headers={"Authorization": "Bearer not-a-token"},
    )
    error_ok(resp, 401, "bad.credentials")


def test_token_expires_on_the_simulated_clock(genesys_sim):
    sim = genesys_sim(token_lifetime_s=300)
    client = Client(sim)
    assert client.query().status_code == 200
    sim.clock.advance(timedelta(seconds=299))
    assert client.query().status_code == 200
    sim.clock.advance(timedelta(seconds=1))
    error_ok(client.query(), 401, "bad.credentials")


def test_revoked_token_is_rejected_and_a_new_one_works(genesys_sim):
    sim = genesys_sim()
    client = Client(sim)
    assert client.query().status_code == 200
    assert sim.revoke_tokens() == 1
    error_ok(client.query(), 401, "bad.credentials")
    client.token = client.fetch_token()
    assert client.query().status_code == 200


def test_revoke_fault_revokes_mid_run_on_a_given_request(genesys_sim):
    sim = genesys_sim()
    sim.faults.add("revoke", on=(3,))
    client = Client(sim)
    assert [client.query().status_code for _ in range(4)] == [200, 200, 401, 401]


def test_rate_limit_headers_on_every_api_response(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=50)
    client = Client(sim)
    for i in range(1, 4):
        resp = client.query()
        assert resp.headers["inin-ratelimit-allowed"] == "50"
        assert resp.headers["inin-ratelimit-count"] == str(i)
        assert 1 <= int(resp.headers["inin-ratelimit-reset"]) <= 60
    err = client.post(QUERY, {"interval": "bad"})
    assert err.status_code == 400 and err.headers["inin-ratelimit-count"] == "4"
    assert (
        "inin-ratelimit-allowed"
        in client.get("/api/v2/analytics/conversations/details/jobs/availability").headers
    )
    assert "X-RateLimit-Limit" not in err.headers


def test_over_the_limit_is_429_with_retry_after_and_normalized_body(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=5, rate_limit_window_s=60)
    client = Client(sim)
    statuses = [client.query(page_size=1).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    resp = client.query(page_size=1)
    body = error_ok(resp, 429, "too.many.requests.retry.after")
    retry = int(resp.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert body["message"] == (
        f"Rate limit exceeded the maximum. Retry the request in [{retry}] seconds"
    )
    stats = sim.stats
    assert stats["rate_limited"] == 3 and len(stats["retry_after_sent"]) == 3


def test_limit_is_per_token_and_window_resets(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=2, rate_limit_window_s=1)
    vt = VirtualTime()  # the limiter's monotonic clock, moved by hand instead of slept
    sim.app.limiter = RateLimiter(sim.app.config, monotonic=vt.clock)
    a, b = Client(sim), Client(sim)
    assert [a.query(page_size=1).status_code for _ in range(3)] == [200, 200, 429]
    assert b.query(page_size=1).status_code == 200
    vt.now = 0.999
    refused = a.query(page_size=1)
    assert refused.status_code == 429  # the window is still the first one
    assert refused.headers["Retry-After"] == "1"
    vt.now = 1.0  # exactly one window later: a new window
    assert a.query(page_size=1).status_code == 200


def test_rate_limit_zero_disables_limiting(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0)
    client = Client(sim)
    assert all(client.query(page_size=1).status_code == 200 for _ in range(20))


def test_control_endpoint_drives_clock_faults_revoke_stats_and_ground_truth(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0)
    client = Client(sim)
    ctl = sim.base_url + "/_sim"
    assert requests.get(ctl + "/health", timeout=5).json()["ok"] is True
    now = requests.post(ctl + "/clock", json={"advance_s": 3600}, timeout=5).json()["now"]
    assert now == "2024-05-08T01:00:00.000Z"
    assert requests.get(ctl + "/clock", timeout=5).json()["now"] == now
    requests.post(ctl + "/clock", json={"now": "2024-05-08T00:00:00Z"}, timeout=5)
    rules = requests.post(
        ctl + "/faults", json={"rules": [{"kind": "status", "status": 502, "on": [1]}]}, timeout=5
    ).json()["rules"]
    assert rules[0]["status"] == 502
    assert client.query().status_code == 502
    assert client.query().status_code == 200
    requests.delete(ctl + "/faults", timeout=5)
    gt = requests.post(
        ctl + "/ground_truth",
        json={"start": "2024-05-02T00:00:00Z", "end": "2024-05-03T00:00:00Z"},
        timeout=10,
    ).json()
    assert gt["conversations"] == client.all_pages(DAY)
    ids = requests.post(
        ctl + "/ground_truth",
        json={"start": "2024-05-02T00:00:00Z", "end": "2024-05-03T00:00:00Z", "idsOnly": True},
        timeout=10,
    ).json()
    assert ids["count"] == gt["count"] and len(ids["conversationIds"]) == gt["count"]
    stats = requests.get(ctl + "/stats", timeout=5).json()
    assert stats["requests"][QUERY]["502"] == 1 and stats["faults_injected"]["status"] == 1
    assert requests.post(ctl + "/revoke", timeout=5).json()["revoked"] == 1
    assert client.query().status_code == 401
    cfg = requests.post(ctl + "/config", json={"latency_s": 0.01}, timeout=5)
    assert cfg.status_code == 200 and sim.config.latency_s == 0.01
    bad = requests.post(ctl + "/config", json={"seed": 3}, timeout=5)
    assert bad.status_code == 400 and "seed" in bad.json()["message"]
