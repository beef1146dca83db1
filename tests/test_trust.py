"""The tap against the real API's worst days (each test failed on the tap before the fix).

Data loss: under-counted totalHits with de-duplicated pages, a persistently empty page,
sub-millisecond boundaries, conversations that stay open for weeks. Hangs: trickling bodies.
Secrets: redaction before cutting, the Basic credential echoed by the token endpoint. Bad
input: malformed pages, a bookmark in the future.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.errors import AuthError, ConfigError, ExtractError, GenesysAPIError
from tap_genesys_analytics.http import REDACTED, Redactor
from tap_genesys_analytics.window_reader import WindowReader
from tap_genesys_analytics.windows import Window
from tests.conftest import SIM_CLIENT_ID, SIM_CLIENT_SECRET, run_tap, tap_config_for, use_clock

pytestmark = pytest.mark.integration

START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"


def truth_ids(sim: Any, start: str = START, end: str = END) -> Counter[str]:
    return Counter(c["conversationId"] for c in sim.ground_truth(start, end))


def client_for(sim: Any, **overrides: Any) -> GenesysClient:
    settings = SimpleNamespace(
        api_url=sim.base_url,
        client_id=SIM_CLIENT_ID,
        client_secret=SIM_CLIENT_SECRET,
        max_retries=overrides.pop("max_retries", 3),
        request_timeout=overrides.pop("request_timeout", 5.0),
        max_concurrency=2,
        requests_per_minute=0,
        max_response_mb=overrides.pop("max_response_mb", 64),
    )
    session = requests.Session()
    tokens = TokenProvider(sim.base_url, SIM_CLIENT_ID, SIM_CLIENT_SECRET, session, 5.0)
    return GenesysClient(
        settings,  # type: ignore[arg-type]
        tokens,
        session=session,
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
        retry_after_fallback_s=0.05,
    )


DAY_BODY = {
    "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
    "order": "asc",
    "orderBy": "conversationStart",
    "paging": {"pageSize": 100, "pageNumber": 1},
}


# --- data loss -------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.3, 0.7, 1.5])
def test_approximate_total_hits_with_de_duplicated_pages_loses_nothing(sim, tap_config, factor):
    """totalHits wrong both ways *and* short pages: only an empty page ends a window."""
    sim.faults.configure(
        {"kind": "total_hits", "factor": factor}, {"kind": "duplicates", "dup_rate": 0.08}
    )
    run = run_tap({**tap_config, "page_size": 25})
    assert run.error is None
    assert Counter(run.ids) == truth_ids(sim)


def test_a_moving_total_hits_loses_nothing(sim, tap_config):
    sim.faults.configure({"kind": "total_hits", "factor": 0.5, "drift": 7})
    run = run_tap({**tap_config, "page_size": 25})
    assert run.error is None
    assert Counter(run.ids) == truth_ids(sim)


def test_a_persistently_empty_page_before_records_fails_the_run_and_holds_the_bookmark(
    sim, tap_config
):
    # requests 3-6 answer empty pages: one page stays empty through its 3 retries; the pages
    # after it still hold records, so records were certainly lost
    sim.faults.configure({"kind": "empty_page", "on": (3, 4, 5, 6)})
    config = {**tap_config, "max_concurrency": 1, "page_size": 40, "lookback": "PT0S"}
    first = run_tap(config)
    assert isinstance(first.error, ExtractError)
    message = str(first.error)
    assert "\n" not in message and "window 2024-05-0" in message and "pages [" in message
    truth = truth_ids(sim)
    assert 0 < len(first.ids) < sum(truth.values())  # the later pages were read and emitted
    held = first.bookmarks[-1]
    assert held is not None and held < "2024-05-04"  # never past the window with the gap

    sim.faults.configure()
    second = run_tap(config, state=first.final_state)
    assert second.error is None
    assert set(first.ids) | set(second.ids) == set(truth)


def test_bookmarks_and_windows_use_whole_milliseconds(genesys_sim, fast_stream):
    sim = genesys_sim(
        seed=3,
        conversations_per_day=200,
        now="2024-05-03T12:00:00.123456Z",
        rate_limit_per_minute=0,
    )
    use_clock(sim.clock.now)
    config = tap_config_for(sim, end_date=None, lookback="PT0S", settle_lag="PT0S")
    first = run_tap(config)
    assert first.error is None
    bookmark = first.bookmarks[-1]
    assert bookmark == "2024-05-03T12:00:00.123000+00:00"  # floored to the API's precision
    # a state written with microseconds (older versions) resumes at the whole millisecond
    state = first.final_state
    stream_state = state["bookmarks"]["conversation_details"]
    stream_state["replication_key_value"] = "2024-05-03T06:00:00.000999+00:00"
    stream_state.pop("open_conversations", None)  # only the windows' records are compared
    second = run_tap(config, state=state)
    assert second.error is None
    boundary = datetime(2024, 5, 3, 6, 0, tzinfo=timezone.utc)
    assert Counter(second.ids) == truth_ids(sim, boundary.isoformat(), "2024-05-03T12:00:00.123Z")


def test_conversations_open_for_weeks_arrive_ended_after_follow_up_runs(genesys_sim, fast_stream):
    """missing = 0 and stale = 0 once every conversation has ended (multi-get follow-up)."""
    sim = genesys_sim(
        seed=11,
        conversations_per_day=120,
        data_start="2024-05-01T00:00:00Z",
        now="2024-05-04T00:00:00Z",
        rate_limit_per_minute=0,
        long_conversation_fraction=0.5,
        long_conversation_max_days=12,
    )
    use_clock(sim.clock.now)
    config = tap_config_for(sim, end_date=None, lookback="P1D", settle_lag="PT0S")
    latest: dict[str, dict[str, Any]] = {}
    state: dict[str, Any] | None = None
    multiget_requests = 0
    opened = 0
    for _ in range(16):  # one run a day for 16 days
        before = sim.stats["requests"].get("/api/v2/analytics/conversations/details", {})
        run = run_tap(config, state=state)
        assert run.error is None
        after = sim.stats["requests"].get("/api/v2/analytics/conversations/details", {})
        multiget_requests += sum(after.values()) - sum(before.values())
        latest.update({r["conversationId"]: r for r in run.records})
        opened = opened or sum("conversationEnd" not in r for r in run.records)
        state = run.final_state
        sim.advance(86400)
    sim.advance(-86400)
    truth = {c["conversationId"]: c for c in sim.ground_truth(START, "2024-05-04")}
    assert opened > 10  # the scenario had conversations open across several runs
    missing = set(truth) - set(latest)
    stale = {cid for cid in truth if cid in latest and latest[cid] != truth[cid]}
    assert (missing, stale) == (set(), set())
    assert multiget_requests > 0


def test_open_conversations_past_the_horizon_are_abandoned_with_a_warning(
    genesys_sim, fast_stream, caplog
):
    sim = genesys_sim(
        seed=11,
        conversations_per_day=120,
        now="2024-05-04T00:00:00Z",
        rate_limit_per_minute=0,
        long_conversation_fraction=0.5,
        long_conversation_max_days=20,
    )
    use_clock(sim.clock.now)
    config = tap_config_for(sim, end_date=None, lookback="PT0S", open_conversation_horizon="P5D")
    first = run_tap(config)
    assert first.error is None
    followed = first.final_state["bookmarks"]["conversation_details"]["open_conversations"]
    assert followed
    sim.advance(10 * 86400)
    with caplog.at_level(logging.WARNING):
        second = run_tap(config, state=first.final_state)
    assert second.error is None
    warning = next(
        r.getMessage() for r in caplog.records if "open_conversation_horizon" in r.getMessage()
    )
    assert "no longer followed" in warning and "P5D" in warning


def test_a_bookmark_later_than_now_is_a_config_error(sim, tap_config):
    state = {
        "bookmarks": {
            "conversation_details": {
                "replication_key": "conversationStart",
                "replication_key_value": "2030-01-01T00:00:00Z",
            }
        }
    }
    run = run_tap(tap_config, state=state)
    assert isinstance(run.error, ConfigError)
    assert "later than now" in str(run.error) and run.records == []


# --- malformed pages -------------------------------------------------------------------------


class OnePage:
    def __init__(self, page: dict[str, Any]) -> None:
        self.page = page

    def post_query(self, body: dict[str, Any], *, what: str, on_send: Any = None, **_: Any) -> Any:
        return self.page if body["paging"]["pageNumber"] == 1 else {"totalHits": 1}


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ({"conversations": {"a": 1}, "totalHits": 1}, "'conversations' is a dict, not a list"),
        ({"conversations": ["x"], "totalHits": 1}, "a conversation is a str, not an object"),
        (
            {
                "conversations": [{"conversationId": "c1", "conversationStart": "yesterday"}],
                "totalHits": 1,
            },
            "conversation c1 has conversationStart 'yesterday', not an ISO-8601 date-time",
        ),
    ],
)
def test_a_malformed_page_stops_with_one_line_naming_window_and_page(page, expected):
    window = Window(
        datetime(2024, 5, 1, tzinfo=timezone.utc), datetime(2024, 5, 2, tzinfo=timezone.utc)
    )
    reader = WindowReader(OnePage(page), [window], page_size=100, base_body={}, workers=1)
    with pytest.raises(ExtractError) as info:
        list(reader.events())
    assert str(info.value).startswith(f"window {window.interval} page 1: ")
    assert expected in str(info.value)


# --- hangs and sizes -------------------------------------------------------------------------


def test_a_trickling_body_fails_at_the_request_deadline_and_is_retried(sim, caplog):
    # a real socket: the body arrives one byte per 0.3 s, so no read times out and only the
    # overall deadline (1.5 s of real time) ends the request
    sim.faults.configure({"kind": "trickle", "on": (1,), "trickle_interval_s": 0.3})
    client = client_for(sim, request_timeout=1.5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tap_genesys_analytics.http"):
        page = client.post_query(DAY_BODY, what="window W page 1")
    elapsed = time.monotonic() - started
    assert page["totalHits"] > 0
    assert client.metrics.retries == 1
    [retry] = [r.getMessage() for r in caplog.records if "retry 1/" in r.getMessage()]
    assert retry.startswith(
        "window W page 1: response not complete within the 1.5 s request deadline ("
    )
    assert elapsed > 1.5  # the deadline was waited out ...
    # ... and not the trickle: the simulator stops it only at max_hang_s (30 s); load-proof
    assert elapsed < 20


def test_an_oversized_body_is_an_error_naming_window_page_and_setting(sim):
    sim.faults.configure({"kind": "oversize", "size_mb": 3, "chunked": True})
    client = client_for(sim, max_response_mb=1)
    with pytest.raises(GenesysAPIError) as info:
        client.post_query(DAY_BODY, what="window W page 7")
    message = str(info.value)
    assert message.startswith("window W page 7: response body larger than 1048576 bytes")
    assert "max_response_mb" in message
    assert client.metrics.requests_sent == 1  # not retried: the same page would be as big


@pytest.mark.parametrize("status", [409, 503])
def test_conflict_and_unavailable_are_retried(sim, status):
    sim.faults.configure({"kind": "status", "status": status, "on": (1, 2)})
    client = client_for(sim)
    assert client.post_query(DAY_BODY, what="w")["totalHits"] > 0
    assert client.metrics.retries == 2


# --- secrets ---------------------------------------------------------------------------------


def test_redaction_happens_before_the_cut():
    token = "tok" + "x" * 37  # a 40-character token
    redact = Redactor("id", "secret")
    redact.add(token)
    for prefix in range(100, 130):
        text = "y" * prefix + token + " trailing words"
        line = redact.line(text, limit=120)
        assert "xxxx" not in line, prefix  # not even a part of it


def test_the_basic_credential_is_redacted_in_both_forms():
    redact = Redactor("client-7", "s3cr3t-value")
    encoded = base64.b64encode(b"client-7:s3cr3t-value").decode()
    text = redact(f"got {encoded} and client-7:s3cr3t-value and Basic {encoded}")
    assert encoded not in text and "s3cr3t-value" not in text
    assert text.count(REDACTED) == 3


@pytest.mark.parametrize("auth_status", [400, 401, 500])
def test_a_token_endpoint_echoing_the_authorization_header_leaks_nothing(sim, auth_status, caplog):
    sim.faults.configure({"kind": "echo_auth", "target": "token", "auth_status": auth_status})
    tokens = TokenProvider(
        sim.base_url,
        SIM_CLIENT_ID,
        SIM_CLIENT_SECRET,
        requests.Session(),
        5.0,
        max_retries=1,
        backoff_base_s=0.01,
        backoff_cap_s=0.02,
    )
    with caplog.at_level(logging.DEBUG), pytest.raises((AuthError, GenesysAPIError)) as info:
        tokens.token()
    encoded = base64.b64encode(f"{SIM_CLIENT_ID}:{SIM_CLIENT_SECRET}".encode()).decode()
    shown = str(info.value) + caplog.text
    for leaked in (SIM_CLIENT_SECRET, encoded, encoded[:12], encoded[-12:]):
        assert leaked not in shown


def test_token_retries_follow_max_retries(sim):
    sim.faults.configure({"kind": "status", "status": 503, "target": "token"})
    tokens = TokenProvider(
        sim.base_url,
        SIM_CLIENT_ID,
        SIM_CLIENT_SECRET,
        requests.Session(),
        5.0,
        max_retries=2,
        backoff_base_s=0.01,
        backoff_cap_s=0.02,
    )
    with pytest.raises(GenesysAPIError, match="giving up after 3 tries"):
        tokens.token()
    assert sum(sim.stats["requests"]["/oauth/token"].values()) == 3


def test_token_lifetime_and_retries_come_from_the_run_settings(sim, tap_config):
    sim.faults.configure({"kind": "status", "status": 503, "target": "token"})
    run = run_tap({**tap_config, "max_retries": 1})
    assert isinstance(run.error, GenesysAPIError)
    assert sum(sim.stats["requests"]["/oauth/token"].values()) == 2


def test_a_permission_named_authorization_is_not_taken_for_a_header():
    redact = Redactor("id", "secret")
    line = redact.line("403; the OAuth client needs the permission authorization:division:view")
    assert line.endswith("authorization:division:view")
    assert redact("authorization: Bearer abcdefghij") == f"authorization: {REDACTED}"
