"""HTTP policy of GenesysClient against a scripted loopback server."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest

from tap_genesys_analytics.client import GenesysAPIError, GenesysClient, Redactor
from tap_genesys_analytics.ratebudget import RateBudget
from tests.scripted_server import Reply, ScriptedServer

SECRET = "s3cr3t-client-secret-value"
BODY = {
    "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
    "paging": {"pageSize": 100, "pageNumber": 3},
}
WHAT = "window 2024-05-01T00:00:00Z/2024-05-02T00:00:00Z page 3"
OK = Reply(body={"conversations": [{"conversationId": "c1"}], "totalHits": 1})


class FakeTokens:
    """Token source that hands out tok-1, tok-2, ... and records invalidations."""

    def __init__(self) -> None:
        self.n = 1
        self.invalidated: list[str] = []
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            return f"access-token-number-{self.n:04d}"

    def invalidate(self, token: str) -> None:
        with self._lock:
            self.invalidated.append(token)
            if token == f"access-token-number-{self.n:04d}":
                self.n += 1


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def make_client(server, **overrides):
    settings = SimpleNamespace(
        api_url=server.url,
        client_id="sim-client",
        client_secret=SECRET,
        max_retries=overrides.pop("max_retries", 4),
        request_timeout=overrides.pop("request_timeout", 5.0),
        max_concurrency=overrides.pop("max_concurrency", 4),
        requests_per_minute=overrides.pop("requests_per_minute", 0),
        max_response_mb=64,
    )
    tokens = overrides.pop("tokens", None) or FakeTokens()
    client = GenesysClient(
        settings,  # type: ignore[arg-type]
        tokens,
        backoff_base_s=overrides.pop("backoff_base_s", 0.01),
        backoff_cap_s=0.05,
        retry_after_fallback_s=overrides.pop("retry_after_fallback_s", 0.05),
        **overrides,
    )
    return client, tokens


def test_success_returns_the_json_body_and_sends_bearer_token(server):
    server.set_script(OK)
    client, _ = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert server.seen[0].headers["Authorization"] == "Bearer access-token-number-0001"
    assert server.seen[0].body == BODY
    assert client.metrics.requests_sent == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried_then_succeed(server, status):
    server.set_script(Reply(status=status, body={"message": "x", "code": "y"}), OK)
    client, _ = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert len(server.seen) == 2
    assert client.metrics.retries == 1


@pytest.mark.parametrize("fault", ["reset", "truncate", "html"])
def test_broken_transport_and_unreadable_200_bodies_are_retried(server, fault):
    server.set_script(Reply(fault=fault), OK)
    client, _ = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert len(server.seen) == 2


def test_timeout_is_retried(server):
    server.set_script(Reply(fault="hang", delay_s=0.6), OK)
    client, _ = make_client(server, request_timeout=0.2)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert len(server.seen) == 2


def test_429_waits_retry_after_then_retries_the_same_page(server):
    server.set_script(Reply(status=429, headers={"Retry-After": "1"}), OK)
    client, _ = make_client(server)
    started = time.monotonic()
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    gap = server.seen[1].at - server.seen[0].at
    assert 0.95 <= gap <= 1.3, gap
    assert server.seen[1].body == server.seen[0].body  # same page
    assert time.monotonic() - started < 2
    m = client.metrics
    assert (m.responses_429, m.retry_after_total_s) == (1, 1.0)
    assert m.slept_for_429_s == pytest.approx(1.0, abs=0.1)


def test_429_without_retry_after_backs_off_exponentially_from_the_fallback(server):
    server.set_script(Reply(status=429), Reply(status=429), OK)
    client, _ = make_client(server, retry_after_fallback_s=0.2)
    client.post_query(BODY, what=WHAT)
    first, second = (server.seen[i + 1].at - server.seen[i].at for i in range(2))
    assert 0.1 <= first <= 0.35  # 0.2 s with jitter
    assert 0.2 <= second <= 0.6  # 0.4 s with jitter


def test_503_with_retry_after_honours_it(server):
    server.set_script(Reply(status=503, headers={"Retry-After": "0.5"}), OK)
    client, _ = make_client(server)
    client.post_query(BODY, what=WHAT)
    assert 0.45 <= server.seen[1].at - server.seen[0].at <= 0.8


def test_a_429_pauses_every_worker(server):
    """Worker A gets a 429 with Retry-After 1; worker B, starting later, must wait too."""
    server.set_script(Reply(status=429, headers={"Retry-After": "1"}), OK)
    client, _ = make_client(server)
    t0 = time.monotonic()
    a = threading.Thread(target=client.post_query, args=(BODY,), kwargs={"what": "A"})
    a.start()
    time.sleep(0.2)  # A has received its 429 by now
    client.post_query(BODY, what="B")
    b_sent = time.monotonic()
    a.join()
    assert b_sent - t0 >= 0.95
    later = [s.at - t0 for s in server.seen[1:]]
    assert len(later) == 2
    assert all(x >= 0.95 for x in later), later


def test_exhausted_retries_raise_one_line_naming_window_page_and_cause(server):
    server.set_script(Reply(status=502, body={"message": "Bad gateway", "code": "bad.gateway"}))
    client, _ = make_client(server, max_retries=2)
    with pytest.raises(GenesysAPIError) as err:
        client.post_query(BODY, what=WHAT)
    text = str(err.value)
    assert "\n" not in text
    assert WHAT in text
    assert "3 tries" in text and "HTTP 502" in text and "bad.gateway" in text
    assert len(server.seen) == 3


def test_401_refreshes_the_token_once_and_retries(server):
    server.set_script(Reply(status=401, body={"code": "bad.credentials"}), OK)
    client, tokens = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert tokens.invalidated == ["access-token-number-0001"]
    assert server.seen[1].headers["Authorization"] == "Bearer access-token-number-0002"


def test_401_after_refresh_is_a_clear_error_without_a_retry_storm(server):
    server.set_script(Reply(status=401, body={"message": "Invalid login credentials."}))
    client, tokens = make_client(server, max_retries=8)
    with pytest.raises(GenesysAPIError, match="authentication rejected again") as err:
        client.post_query(BODY, what=WHAT)
    assert len(server.seen) == 2
    assert len(tokens.invalidated) == 1
    assert "access-token" not in str(err.value)


def test_400_is_not_retried_and_shows_message_code_context_and_interval(server):
    server.set_script(
        Reply(
            status=400,
            body={
                "message": "Pagination may not exceed 100000 results.",
                "code": "bad.request",
                "contextId": "ctx-123",
            },
        )
    )
    client, _ = make_client(server)
    with pytest.raises(GenesysAPIError) as err:
        client.post_query(BODY, what=WHAT)
    text = str(err.value)
    assert len(server.seen) == 1
    interval = str(BODY["interval"])
    for part in ("Pagination may not exceed", "bad.request", "ctx-123", interval, WHAT):
        assert part in text


def test_403_names_the_permission_needed(server):
    server.set_script(Reply(status=403, body={"code": "missing.any.permissions"}))
    client, _ = make_client(server)
    with pytest.raises(GenesysAPIError, match="analytics:conversationDetail:view"):
        client.post_query(BODY, what=WHAT)
    assert len(server.seen) == 1


def test_secrets_and_tokens_never_appear_in_errors_or_logs(server, caplog):
    token = "access-token-number-0001"
    echo = {"message": f"bad Authorization: Bearer {token} secret={SECRET}", "code": "x"}
    server.set_script(Reply(status=500, body=echo), Reply(status=400, body=echo))
    client, _ = make_client(server)
    with caplog.at_level(logging.DEBUG), pytest.raises(GenesysAPIError) as err:
        client.post_query(BODY, what=WHAT)
    everything = str(err.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert "x" in everything  # the messages are there ...
    assert token not in everything and SECRET not in everything  # ... the secrets are not
    assert "Bearer access" not in everything


def test_redactor_masks_authorization_headers_and_token_fields():
    redact = Redactor("some-id", "topsecret")
    text = redact(
        "{'Authorization': 'Bearer abcdefghijkl'} access_token=qwertyuiop topsecret "
        "Basic Zm9vOmJhcg=="
    )
    for leaked in ("abcdefghijkl", "qwertyuiop", "topsecret", "Zm9vOmJhcg=="):
        assert leaked not in text


def test_rate_budget_spaces_requests_evenly(server):
    server.set_script(OK)
    client, _ = make_client(server, requests_per_minute=600)  # one every 0.1 s
    for _ in range(6):
        client.post_query(BODY, what=WHAT)
    gaps = [b.at - a.at for a, b in zip(server.seen, server.seen[1:], strict=False)]
    assert all(g >= 0.085 for g in gaps), gaps
    assert server.seen[-1].at - server.seen[0].at == pytest.approx(0.5, abs=0.1)


def test_rate_budget_is_shared_by_concurrent_workers(server):
    server.set_script(OK)
    client, _ = make_client(server, requests_per_minute=1200)  # one every 0.05 s
    threads = [
        threading.Thread(target=client.post_query, args=(BODY,), kwargs={"what": "w"})
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(s.at for s in server.seen)
    assert times[-1] - times[0] >= 7 * 0.05 * 0.85


def test_rate_budget_slows_down_when_server_headers_say_the_window_is_used_up():
    now = [0.0]
    budget = RateBudget(300, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    budget.acquire()
    budget.observe(
        {
            "inin-ratelimit-allowed": "300",
            "inin-ratelimit-count": "299",
            "inin-ratelimit-reset": "7",
        }
    )
    budget.acquire()
    assert now[0] == pytest.approx(7.0)
    budget.observe(
        {
            "inin-ratelimit-allowed": "300",
            "inin-ratelimit-count": "10",
            "inin-ratelimit-reset": "50",
        }
    )
    before = now[0]
    budget.acquire()
    assert now[0] - before == pytest.approx(0.2, abs=0.01)  # back to the normal pace


def test_rate_budget_ignores_headers_that_announce_no_limit():
    now = [0.0]
    budget = RateBudget(600, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    budget.acquire()
    budget.observe(
        {"inin-ratelimit-allowed": "0", "inin-ratelimit-count": "5", "inin-ratelimit-reset": "60"}
    )
    budget.acquire()
    assert now[0] == pytest.approx(0.1)


def test_overlapping_429s_each_wait_exactly_their_own_retry_after(server):
    """Two requests in flight both get a 429 (Retry-After 1), 0.3 s apart: each is retried
    1 s after its own 429, so the time slept equals the Retry-After received (no over-sleep)."""
    server.set_script(
        Reply(status=429, headers={"Retry-After": "1"}, delay_s=0.15),  # both are in flight
        Reply(status=429, headers={"Retry-After": "1"}, delay_s=0.45),
        OK,
    )
    client, _ = make_client(server)
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=client.post_query, args=(BODY,), kwargs={"what": w})
        for w in ("A", "B")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    retries = sorted(s.at - t0 for s in server.seen[2:])
    assert retries == [pytest.approx(1.15, abs=0.12), pytest.approx(1.45, abs=0.12)]
    m = client.metrics
    assert (m.responses_429, m.retry_after_total_s) == (2, 2.0)
    assert m.slept_for_429_s == pytest.approx(2.0, abs=0.1)
