"""HTTP policy of GenesysClient against a scripted loopback server.

Time is virtual (:class:`~tests.virtual_time.VirtualTime`): the client's backoff sleep, its rate
budget's clock and sleep, the server's request stamps and reply delays all run on one fake
clock, so waits are asserted exactly and no test sleeps for real (only the socket-deadline test
waits its 0.2 s deadline).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from types import SimpleNamespace

import pytest

from tap_genesys_analytics import http
from tap_genesys_analytics.client import GenesysAPIError, GenesysClient, Redactor
from tap_genesys_analytics.ratebudget import RateBudget
from tests.scripted_server import Reply, ScriptedServer
from tests.virtual_time import VirtualTime

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
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def server(vt):
    srv = ScriptedServer(clock=vt.clock, sleep=vt.sleep).start()
    yield srv
    srv.stop()


def make_client(server, **overrides):
    """A client of ``server`` whose backoff sleep and rate budget run on the server's clock."""
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
    budget = RateBudget(
        settings.requests_per_minute,
        headroom=settings.max_concurrency,
        clock=server.clock,
        sleep=server.sleep,
    )
    client = GenesysClient(
        settings,  # type: ignore[arg-type]
        tokens,
        budget=budget,
        sleep=server.sleep,
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
def test_server_errors_are_retried_then_succeed(server, vt, status):
    server.set_script(Reply(status=status, body={"message": "x", "code": "y"}), OK)
    client, _ = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert len(server.seen) == 2
    assert client.metrics.retries == 1
    [backoff] = vt.sleeps  # one backoff, jittered in the upper half of backoff_base_s
    assert 0.005 <= backoff <= 0.01
    assert server.seen[1].at - server.seen[0].at == backoff
    assert client.metrics.backoff_slept_s == backoff


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


def test_429_waits_retry_after_then_retries_the_same_page(server, vt):
    server.set_script(Reply(status=429, headers={"Retry-After": "1"}), OK)
    client, _ = make_client(server)
    assert client.post_query(BODY, what=WHAT)["totalHits"] == 1
    assert [s.at for s in server.seen] == [0.0, 1.0]  # retried exactly after Retry-After
    assert server.seen[1].body == server.seen[0].body  # same page
    assert vt.sleeps == [1.0]  # the only wait of the call
    m = client.metrics
    assert (m.responses_429, m.retry_after_total_s) == (1, 1.0)
    assert m.slept_for_429_s == 1.0
    assert m.backoff_slept_s == 0.0


def test_429_without_retry_after_backs_off_exponentially_from_the_fallback(server, vt, monkeypatch):
    drawn: list[tuple[float, float, float]] = []
    rng = random.Random(7)

    def uniform(low: float, high: float) -> float:
        value = rng.uniform(low, high)
        drawn.append((low, high, value))
        return value

    monkeypatch.setattr(http, "random", SimpleNamespace(uniform=uniform))
    server.set_script(Reply(status=429), Reply(status=429), OK)
    client, _ = make_client(server, retry_after_fallback_s=0.2)
    client.post_query(BODY, what=WHAT)
    # 0.2 s then 0.4 s, each with jitter in its upper half
    assert [(low, high) for low, high, _ in drawn] == [(0.1, 0.2), (0.2, 0.4)]
    first, second = (server.seen[i + 1].at - server.seen[i].at for i in range(2))
    assert [first, second] == pytest.approx([value for _, _, value in drawn])
    assert vt.sleeps == pytest.approx([first, second])


def test_503_with_retry_after_honours_it(server, vt):
    server.set_script(Reply(status=503, headers={"Retry-After": "0.5"}), OK)
    client, _ = make_client(server)
    client.post_query(BODY, what=WHAT)
    assert [s.at for s in server.seen] == [0.0, 0.5]
    assert vt.sleeps == [0.5]
    assert client.metrics.backoff_slept_s == 0.5


def test_a_429_pauses_every_worker(server, vt):
    """Worker A gets a 429 with Retry-After 1; worker B, starting later, must wait too."""
    server.set_script(Reply(status=429, headers={"Retry-After": "1"}), OK)
    client, _ = make_client(server)
    a_paused = threading.Event()
    vt.on_sleep = lambda _seconds: a_paused.set()  # the first sleep: A waits its Retry-After

    def worker_b() -> None:
        assert a_paused.wait(timeout=10)  # B starts once A has received its 429
        client.post_query(BODY, what="B")

    vt.run_workers(functools.partial(client.post_query, BODY, what="A"), worker_b)
    assert [s.at for s in server.seen] == [0.0, 1.0, 1.0]  # A's retry and B: not before 1 s
    assert vt.sleeps == [1.0, 1.0]
    assert client.budget.pause_wait_s == 1.0  # B waited out A's pause
    assert client.metrics.slept_for_429_s == 1.0  # A waited its own Retry-After


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


def test_rate_budget_spaces_requests_evenly(server, vt):
    server.set_script(OK)
    client, _ = make_client(server, requests_per_minute=600)  # one every 0.1 s
    for _ in range(6):
        client.post_query(BODY, what=WHAT)
    assert [s.at for s in server.seen] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert vt.sleeps == pytest.approx([0.1] * 5)


def test_rate_budget_is_shared_by_concurrent_workers(server, vt):
    server.set_script(OK)
    client, _ = make_client(server, requests_per_minute=1200)  # one every 0.05 s
    vt.run_workers(*(functools.partial(client.post_query, BODY, what="w") for _ in range(8)))
    times = sorted(s.at for s in server.seen)
    assert times == pytest.approx([0.05 * k for k in range(8)])  # one pace for all eight
    assert client.budget.pacing_wait_s == pytest.approx(0.05 * sum(range(8)))


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


def test_overlapping_429s_each_wait_exactly_their_own_retry_after(server, vt):
    """Two requests in flight both get a 429 (Retry-After 1), 0.3 s apart: each is retried
    1 s after its own 429, so the time slept equals the Retry-After received (no over-sleep)."""
    server.set_script(
        Reply(status=429, headers={"Retry-After": "1"}),
        Reply(status=429, headers={"Retry-After": "1"}, delay_s=0.3),  # answered 0.3 s later
        OK,
    )
    client, _ = make_client(server)
    both_in_flight = threading.Barrier(2, timeout=10)

    def worker(what: str) -> None:
        sends = []

        def on_send() -> None:  # the first send of each waits for the other's: both in flight
            sends.append(what)
            if len(sends) == 1:
                both_in_flight.wait()

        client.post_query(BODY, what=what, on_send=on_send)

    vt.run_workers(functools.partial(worker, "A"), functools.partial(worker, "B"))
    assert [s.at for s in server.seen] == pytest.approx([0.0, 0.0, 1.0, 1.3])
    assert sorted(vt.sleeps) == pytest.approx([0.3, 1.0, 1.0])  # the reply delay, two 429 waits
    m = client.metrics
    assert (m.responses_429, m.retry_after_total_s) == (2, 2.0)
    assert m.slept_for_429_s == pytest.approx(2.0)
    assert client.budget.pause_wait_s == 0.0  # neither waited for the other's pause


def test_close_ends_a_token_request_waiting_out_its_backoff() -> None:
    """The run's client (build_client): close() wakes the token provider's backoff too."""
    from tap_genesys_analytics.errors import StoppedError
    from tap_genesys_analytics.runtime import Runtime
    from tap_genesys_analytics.settings import validate_settings
    from tap_genesys_analytics.streams.base import build_client

    srv = ScriptedServer().start()  # real time: the point is a real wait cut short
    try:
        srv.set_script(Reply(status=503, body={"message": "token service down"}))
        settings = validate_settings(
            {"client_id": "sim-client", "client_secret": SECRET, "api_url": srv.url,
             "start_date": "2024-05-01", "max_retries": 3}
        )  # fmt: skip
        client = build_client(settings, Runtime(backoff_base_s=60.0, backoff_cap_s=60.0))
        outcome: list[BaseException] = []

        def call() -> None:
            try:
                client.request("POST", "/api/v2/analytics/conversations/details/query",
                               what=WHAT, json=BODY)  # fmt: skip
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=call)
        worker.start()
        while not srv.seen:  # the first token request failed: its backoff (>= 30 s) begins
            worker.join(0.01)
        client.close()
        worker.join(10)
        assert not worker.is_alive(), "close() did not end the token request's backoff"
        assert len(srv.seen) == 1
        assert [type(e) for e in outcome] == [StoppedError]
        assert "token request: not retried, the run is stopping" in str(outcome[0])
    finally:
        srv.stop()
