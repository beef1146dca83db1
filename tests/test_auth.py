"""Regions and the client-credentials token provider, against a real local HTTP server.

Time is virtual (:class:`~tests.virtual_time.VirtualTime`): the provider's clock and retry
sleep, the token endpoint's request stamps and answer delays run on one fake clock, so
lifetimes and waits are asserted exactly and no test sleeps for real. Concurrency is made
certain, not likely: a held answer is released once the other callers wait on the provider's
lock. Only the socket-deadline test waits for real (its deadline).
"""

from __future__ import annotations

import base64
import inspect
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from PureCloudPlatformClientV2 import PureCloudRegionHosts

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.errors import AuthError, ConfigError, GenesysAPIError
from tap_genesys_analytics.regions import REGIONS, resolve_region
from tests.virtual_time import VirtualTime

CLIENT_ID = "sim-client"
SECRET = "sim-secret-Do-Not-Print"


# --- regions ---------------------------------------------------------------------------------


def test_there_are_18_regions_matching_the_official_sdk_hosts() -> None:
    assert len(REGIONS) == 18
    sdk = {member.name: member.get_api_host() for member in PureCloudRegionHosts}
    assert {key: r.api_url for key, r in REGIONS.items()} == sdk


@pytest.mark.parametrize("key", sorted(REGIONS))
def test_every_region_resolves_from_all_three_spellings(key: str) -> None:
    region = REGIONS[key]
    for spelling in (
        key,
        key.replace("_", "-"),
        region.domain,
        key.upper(),
        f" {region.domain} ",
        f"https://api.{region.domain}/",
        f"login.{region.domain}",
    ):
        assert resolve_region(spelling) is region, spelling
    assert region.name == key.replace("_", "-")
    assert region.login_url == f"https://login.{region.domain}"
    assert region.api_url == f"https://api.{region.domain}"


@pytest.mark.parametrize("value", ["", "eu-west-9", "purecloud.ie", "mars", "eu_west"])
def test_unknown_region_is_a_config_error_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_region(value)
    assert str(info.value).startswith("region: unknown region")
    assert "eu-west-1" in str(info.value)


# --- a scripted local token endpoint ---------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # waited with the server's (virtual) sleep before answering
    hang: bool = False  # never answered (until the test ends): the client's socket deadline


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    at: float  # the server's clock when the request arrived


class TokenServer:
    """Answers POST /oauth/token from a script; then with fresh tokens.

    ``hold`` (when set) runs before each answer: a test holds a token fetch there until the
    other callers wait for it.
    """

    def __init__(self, clock: VirtualTime) -> None:
        self.clock = clock
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.lifetime = 86399
        self.delay_s = 0.0
        self.hold: Callable[[], None] | None = None
        self.closing = threading.Event()
        self._issued = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                reply = server.next_reply(
                    Seen(self.path, dict(self.headers), form, server.clock.now)
                )
                if reply.hang:
                    server.closing.wait(30)
                    return
                if server.hold is not None:
                    server.hold()
                if reply.delay_s:
                    server.clock.sleep(reply.delay_s)
                raw = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # shutdown waits up to one poll interval: kept short, every test stops a server
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            if self.script:
                return self.script.pop(0)
            self._issued += 1
            body = {
                "access_token": f"token-{self._issued}",
                "token_type": "bearer",
                "expires_in": self.lifetime,
            }
            return Reply(body=body, delay_s=self.delay_s)

    @property
    def requests(self) -> int:
        return len(self.seen)


@pytest.fixture
def clock() -> VirtualTime:
    vt = VirtualTime()
    vt.now = 1000.0  # a monotonic clock's origin is arbitrary
    return vt


@pytest.fixture
def server(clock: VirtualTime) -> Iterator[TokenServer]:
    srv = TokenServer(clock)
    srv.thread.start()
    yield srv
    srv.closing.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def provider(url: str, clock: VirtualTime | None = None, **kwargs: object) -> TokenProvider:
    extra: dict = {"clock": clock.clock, "sleep": clock.sleep} if clock else {}
    extra.update(kwargs)
    return TokenProvider(url, CLIENT_ID, SECRET, requests.Session(), 5.0, **extra)


class WatchedLock:
    """A lock that tells how many threads are waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self.waiting = 0

    def __enter__(self) -> WatchedLock:
        with self._changed:
            self.waiting += 1
            self._changed.notify_all()
        self._lock.acquire()
        with self._changed:
            self.waiting -= 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait_for_waiters(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.waiting >= count, timeout)


def watch_lock(tokens: TokenProvider) -> WatchedLock:
    """Swap the provider's lock for a :class:`WatchedLock` (same locking, observable)."""
    lock = WatchedLock()
    tokens._lock = lock  # type: ignore[assignment]
    return lock


# --- token fetching --------------------------------------------------------------------------


def test_token_request_is_client_credentials_with_http_basic(server: TokenServer) -> None:
    tokens = provider(server.url + "/")
    assert tokens.token() == "token-1"
    (seen,) = server.seen
    assert seen.path == "/oauth/token"
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert seen.headers["Authorization"] == f"Basic {expected}"
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.form == {"grant_type": ["client_credentials"]}  # no secret in the body


def test_token_is_cached_until_shortly_before_expiry(
    server: TokenServer, clock: VirtualTime
) -> None:
    tokens = provider(server.url, clock)
    assert [tokens.token() for _ in range(5)] == ["token-1"] * 5
    assert server.requests == 1
    clock.now += 86399 - 300 - 1  # default margin: refreshed 300 s before expires_in
    assert tokens.token() == "token-1"
    clock.now += 2
    assert tokens.token() == "token-2"
    assert server.requests == 2


def test_short_lifetimes_refresh_at_half_life(server: TokenServer, clock: VirtualTime) -> None:
    server.lifetime = 10
    tokens = provider(server.url, clock)
    assert tokens.token() == "token-1"
    clock.now += 4.9
    assert tokens.token() == "token-1"
    clock.now += 0.2  # past 5 s = half of 10 s (the 300 s margin is capped)
    assert tokens.token() == "token-2"


def test_a_one_second_token_is_refreshed_exactly_at_half_its_life(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.lifetime = 1
    tokens = provider(server.url, clock, refresh_margin_s=300)
    assert tokens.token() == "token-1"
    clock.now = 1000.49
    assert tokens.token() == "token-1"
    clock.now = 1000.5  # half of the 1 s lifetime: due
    assert tokens.token() == "token-2"
    assert [s.at for s in server.seen] == [1000.0, 1000.5]
    assert clock.sleeps == []


def test_the_lifetime_counts_from_when_the_request_was_sent(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.lifetime = 10
    server.delay_s = 3.0  # the endpoint takes 3 s to answer
    tokens = provider(server.url, clock)
    assert tokens.token() == "token-1"
    assert clock.now == 1003.0
    clock.now = 1004.99  # due at 1000 + 10 - 5, not 3 s later
    assert tokens.token() == "token-1"
    clock.now = 1005.0
    assert tokens.token() == "token-2"
    assert [s.at for s in server.seen] == [1000.0, 1005.0]


def test_production_uses_the_monotonic_clock_and_a_real_sleep() -> None:
    # what the virtual-time tests replace: streams/base.py builds the provider with these
    defaults = inspect.signature(TokenProvider).parameters
    assert defaults["clock"].default is time.monotonic
    assert defaults["sleep"].default is time.sleep


def test_missing_expires_in_assumes_the_shortest_genesys_lifetime(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.script = [Reply(body={"access_token": "abc"})]
    tokens = provider(server.url, clock, refresh_margin_s=60)
    assert tokens.token() == "abc"
    clock.now += 239
    assert tokens.token() == "abc"
    clock.now += 2
    assert tokens.token() == "token-1"


def test_concurrent_first_callers_share_one_fetch(server: TokenServer) -> None:
    tokens = provider(server.url)
    lock = watch_lock(tokens)
    held: list[bool] = []
    # the fetch is answered only once the 7 other callers wait for it
    server.hold = lambda: held.append(lock.wait_for_waiters(7))
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert held == [True]
    assert results == ["token-1"] * 8
    assert server.requests == 1


def test_invalidate_from_8_threads_after_the_same_401_refetches_once(server: TokenServer) -> None:
    tokens = provider(server.url)
    stale = tokens.token()
    lock = watch_lock(tokens)
    held: list[bool] = []
    # the refetch is answered only once the 7 other callers wait (to invalidate or to read)
    server.hold = lambda: held.append(lock.wait_for_waiters(7))
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.invalidate(stale)
        results.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert held == [True]
    assert results == ["token-2"] * 8
    assert server.requests == 2
    assert tokens.fetches == 2


def test_invalidating_an_older_token_keeps_the_current_one(server: TokenServer) -> None:
    tokens = provider(server.url)
    first = tokens.token()
    tokens.invalidate(first)
    assert tokens.token() == "token-2"
    tokens.invalidate(first)  # a late 401 for the old token
    tokens.invalidate("something-else")
    assert tokens.token() == "token-2"
    assert server.requests == 2


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rejected_credentials_fail_fast_without_the_secret(
    server: TokenServer, clock: VirtualTime, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [
        Reply(status, {"error": "invalid_client", "description": "client authentication failed"})
    ]
    tokens = provider(server.url, clock)
    with pytest.raises(AuthError) as info:
        tokens.token()
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert "invalid_client: client authentication failed" in message
    assert "\n" not in message
    assert SECRET not in message and SECRET not in caplog.text
    assert server.requests == 1  # no retry storm
    assert clock.sleeps == []


def test_an_echoed_secret_in_the_error_body_is_masked(server: TokenServer) -> None:
    server.script = [Reply(401, {"error": "invalid_client", "description": f"bad {SECRET}"})]
    with pytest.raises(AuthError) as info:
        provider(server.url).token()
    assert SECRET not in str(info.value)
    assert "[REDACTED]" in str(info.value)


def test_429_on_the_token_endpoint_waits_retry_after_then_succeeds(
    server: TokenServer, clock: VirtualTime
) -> None:
    body = {
        "message": "Rate limit exceeded the maximum. Retry the request in [7] seconds",
        "code": "too.many.requests.retry.after",
        "status": 429,
    }
    server.script = [Reply(429, body, {"Retry-After": "7"}), Reply(429, body, {"Retry-After": "2"})]
    tokens = provider(server.url, clock)
    assert tokens.token() == "token-1"
    assert clock.sleeps == [7.0, 2.0]
    assert [s.at for s in server.seen] == [1000.0, 1007.0, 1009.0]  # each retry right on time


def test_429_retry_after_is_waited_before_the_retry_is_sent(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.script = [Reply(429, {"code": "too.many.requests"}, {"Retry-After": "1"})]
    assert provider(server.url, clock).token() == "token-1"
    assert clock.sleeps == [1.0]
    assert [s.at for s in server.seen] == [1000.0, 1001.0]


def test_server_errors_are_retried_with_growing_backoff(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.script = [
        Reply(503, {"code": "service.unavailable"}),
        Reply(502, b"<html>"),
        Reply(200, b"not json"),
        Reply(200, {"token_type": "bearer"}),
    ]
    tokens = provider(server.url, clock, backoff_base_s=1.0, backoff_cap_s=30.0)
    assert tokens.token() == "token-1"
    assert server.requests == 5
    assert len(clock.sleeps) == 4
    for attempt, slept in enumerate(clock.sleeps):
        assert 0.5 * 2**attempt <= slept <= 2**attempt
    gaps = [b.at - a.at for a, b in itertools.pairwise(server.seen)]
    assert gaps == pytest.approx(clock.sleeps)  # each retry sent right after its backoff


def test_persistent_server_errors_end_in_one_line_auth_error(
    server: TokenServer, clock: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [Reply(500, {"code": "internal.server.error"})] * 10
    tokens = provider(server.url, clock, max_retries=3)
    with pytest.raises(GenesysAPIError) as info:  # the credentials were never judged
        tokens.token()
    assert server.requests == 4  # bounded: 1 + max_retries
    assert "giving up after 4 tries; last error: HTTP 500" in str(info.value)
    assert "code: internal.server.error" in str(info.value)
    assert SECRET not in caplog.text + str(info.value)


def test_connection_refused_is_retried_then_reported(clock: VirtualTime) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tokens = provider(f"http://127.0.0.1:{port}", clock, max_retries=2)
    with pytest.raises(GenesysAPIError) as info:  # a network failure is no auth error
        tokens.token()
    assert "giving up after 3 tries" in str(info.value)
    assert "ConnectionError ([Errno 111] Connection refused)" in str(info.value)
    assert len(clock.sleeps) == 2


def test_a_hanging_token_endpoint_times_out_and_is_retried(
    server: TokenServer, clock: VirtualTime
) -> None:
    # the one real wait of the file: the socket deadline (1 s: the retry's real answer must
    # come within it even on a loaded machine)
    server.script = [Reply(hang=True)]
    tokens = TokenProvider(
        server.url, CLIENT_ID, SECRET, requests.Session(), 1.0, clock=clock.clock, sleep=clock.sleep
    )
    assert tokens.token() == "token-1"
    assert server.requests == 2
    [backoff] = clock.sleeps  # one backoff, jittered in the upper half of 1 s
    assert 0.5 <= backoff <= 1.0
    assert server.seen[1].at - server.seen[0].at == pytest.approx(backoff)


def test_repr_of_the_provider_shows_neither_secret_nor_token(server: TokenServer) -> None:
    tokens = provider(server.url)
    token = tokens.token()
    assert SECRET not in repr(tokens) and token not in repr(tokens)


def test_after_a_definitive_failure_other_workers_get_the_error_without_new_requests(
    server: TokenServer, clock: VirtualTime
) -> None:
    server.script = [Reply(401, {"error": "invalid_client"})]
    tokens = provider(server.url, clock)
    errors = []
    for _ in range(4):
        with pytest.raises(AuthError) as info:
            tokens.token()
        errors.append(str(info.value))
    assert server.requests == 1
    assert len(set(errors)) == 1


# --- against the simulator ---------------------------------------------------------------------


def test_simulator_issues_a_token_for_basic_credentials(genesys_sim: Callable[..., Any]) -> None:
    sim = genesys_sim(clients={"sim-client": "sim-secret"}, token_lifetime_s=600)
    tokens = TokenProvider(sim.base_url, "sim-client", "sim-secret", requests.Session(), 5.0)
    token = tokens.token()
    assert token and tokens.token() == token
    assert sim.stats["tokens_issued"] == 1
    response = requests.post(
        sim.base_url + "/api/v2/analytics/conversations/details/query",
        json={
            "interval": "2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z",
            "paging": {"pageSize": 1, "pageNumber": 1},
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_simulator_rejects_a_wrong_secret_with_one_request(
    genesys_sim: Callable[..., Any],
) -> None:
    sim = genesys_sim(clients={"sim-client": "sim-secret"})
    tokens = TokenProvider(sim.base_url, "sim-client", SECRET, requests.Session(), 5.0)
    for _ in range(3):
        with pytest.raises(AuthError, match=r"HTTP 401 \(invalid_client"):
            tokens.token()
    stats = sim.stats
    assert stats["requests"]["/oauth/token"] == {"401": 1}
    assert stats["tokens_issued"] == 0
