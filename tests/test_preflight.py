"""``--preflight`` against the simulator: each probe against each plausible answer of the API.

Every [U] limit the preflight measures is a simulator switch; each test sets one and checks
what the report says, that the exit code follows the permissions, and that the bounds hold
(requests counted by the simulator, time on an injected clock).
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from tap_genesys_analytics import preflight as pf
from tap_genesys_analytics.preflight import JOBS, MAX_REQUESTS, MULTIGET, QUERY, Preflight
from tap_genesys_analytics.preflight_report import (
    FORBIDDEN,
    MISSING,
    OK,
    UNCHECKED,
    Check,
    Endpoint,
    Report,
    render,
)
from tap_genesys_analytics.settings import validate_settings
from tap_genesys_analytics.streams import STREAM_CLASSES
from tap_genesys_analytics.streams.reference import FlowsStream, UsersStream
from tap_genesys_analytics.tap import TapGenesysAnalytics
from tests.conftest import SIM_CLIENT_SECRET, tap_config_for

pytestmark = pytest.mark.integration

NOW = "2024-05-08T15:30:00Z"  # the probe hour 14:00-15:00 holds well over 100 conversations
ALL: dict[str, Any] = {c.name: c for c in t.cast("tuple[Any, ...]", STREAM_CLASSES)}
SIM_JOBS = "/api/v2/analytics/conversations/details/jobs/{jobId}"


def make_sim(genesys_sim: Callable[..., Any], **switches: Any) -> Any:
    settings: dict[str, Any] = {
        "seed": 7,
        "conversations_per_day": 3000,
        "data_start": "2024-05-01T00:00:00Z",
        "now": NOW,
        "rate_limit_per_minute": 0,
    }
    return genesys_sim(**(settings | switches))


def run(sim: Any, streams: dict[str, Any] | None = None, **kwargs: Any) -> tuple[Report, Preflight]:
    kwargs.setdefault("sleep", lambda _s: None)
    probes = Preflight(
        validate_settings(tap_config_for(sim)), streams or ALL, now=sim.clock.now, **kwargs
    )
    return probes.run(), probes


def total_requests(sim: Any) -> int:
    return int(sim.stats["requests_total"])


# -- each limit against each plausible answer ---------------------------------------------------


@pytest.mark.parametrize(
    ("largest", "note", "suggested"),
    [
        (100, "pageSize 100 accepted; pageSize 200 refused (HTTP 400)", 100),
        (200, "pageSize 100 accepted; pageSize 200 accepted", 100),  # the setting's own maximum
        (50, "pageSize 100 refused (HTTP 400); pageSize 50 accepted", 50),
    ],
)
def test_details_page_size(
    genesys_sim: Callable[..., Any], largest: int, note: str, suggested: int
) -> None:
    sim = make_sim(genesys_sim, max_page_size=largest)
    report, _ = run(sim, {"conversation_details": ALL["conversation_details"]})
    limit = report.limits["details_page_size_max"]
    assert limit.value == largest
    assert limit.note == note
    assert report.checks[QUERY].result == OK  # a refused size is no permission problem
    assert report.suggested_settings()["page_size"] == suggested
    assert report.exit_code == 0


@pytest.mark.parametrize(("largest", "note"), [(10, "11 refused"), (100, "accepted")])
def test_multiget_ids(genesys_sim: Callable[..., Any], largest: int, note: str) -> None:
    sim = make_sim(genesys_sim, multiget_max_ids=largest)
    report, _ = run(sim, {"conversation_details": ALL["conversation_details"]})
    limit = report.limits["multiget_ids_max"]
    assert limit.value == largest
    assert note in limit.note
    assert report.checks[MULTIGET].result == OK
    sent = sum(sim.stats["requests"]["/api/v2/analytics/conversations/details"].values())
    assert sent == (8 if largest == 10 else 1)  # 100, 50, 25, 12, 6, 9, 10, 11 ids
    assert sent <= pf.MULTIGET_TRIES


@pytest.mark.parametrize(("largest", "refused"), [(100, "1000 refused"), (1000, "10000 refused")])
def test_jobs_results_page_size(
    genesys_sim: Callable[..., Any], largest: int, refused: str
) -> None:
    sim = make_sim(genesys_sim, job_results_max_page_size=largest)
    report, _ = run(sim, {"conversation_details": ALL["conversation_details"]})
    limit = report.limits["jobs_results_page_size_max"]
    assert limit.value == largest
    assert refused in limit.note
    assert report.suggested_settings()["job_page_size"] == largest
    deleted = sim.stats["requests"][SIM_JOBS]
    assert deleted.get("204") == 1, "the probe job is deleted after"


@pytest.mark.parametrize(("lag_s", "measured_s"), [(3600, 5400), (10800, 12600)])
def test_availability_lag(genesys_sim: Callable[..., Any], lag_s: int, measured_s: int) -> None:
    sim = make_sim(genesys_sim, data_availability_lag_s=lag_s)
    report, _ = run(sim, {"conversation_details": ALL["conversation_details"]})
    # the simulator floors dataAvailabilityDate to the hour: 15:30 - lag, floored
    assert report.limits["jobs_availability_lag_s"].value == measured_s
    assert report.checks[JOBS].result == OK


def test_rate_budget_and_token_lifetime(genesys_sim: Callable[..., Any]) -> None:
    sim = make_sim(genesys_sim, rate_limit_per_minute=500, token_lifetime_s=3600)
    report, _ = run(sim, {"groups": ALL["groups"]})
    assert report.limits["token_lifetime_s"].value == 3600
    assert report.rate_limit["allowed"] == 500
    assert report.rate_limit["count"] == 1  # one API request on this token so far
    assert report.suggested_settings()["requests_per_minute"] == 500


# -- permissions and missing endpoints ------------------------------------------------------


def test_missing_endpoint_is_reported_and_blocks_its_stream(
    genesys_sim: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FlowsStream, "path", "/api/v2/flows-not-in-this-region")
    sim = make_sim(genesys_sim)
    report, _ = run(sim, {"flows": FlowsStream, "groups": ALL["groups"]})
    flows = Endpoint("GET", "/api/v2/flows-not-in-this-region", FlowsStream.permission)
    assert report.checks[flows].result == MISSING
    assert "HTTP 404" in report.checks[flows].detail
    assert list(report.blocked()) == ["flows"]
    assert report.exit_code == 2


def test_forbidden_stream_cli_exit_2_names_stream_endpoint_permission(
    genesys_sim: Callable[..., Any], tmp_path: Any
) -> None:
    """The whole command: one 403 stream, the others still reported; exit 2."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sim = make_sim(
        genesys_sim,
        now=now.isoformat(),
        data_start=(now - timedelta(days=3)).isoformat(),
        conversations_per_day=500,
        forbidden_endpoints=["users"],
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config_for(sim)))
    result = CliRunner().invoke(TapGenesysAnalytics.cli, ["--preflight", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "users: GET /api/v2/users: 403, grant the permission directory:user:view" in (
        result.output
    )
    assert "1 of 16 selected streams cannot run" in result.output
    assert "GET /api/v2/groups" in result.output  # the other streams are still checked
    assert SIM_CLIENT_SECRET not in result.output
    assert total_requests(sim) <= MAX_REQUESTS

    as_json = CliRunner().invoke(
        TapGenesysAnalytics.cli, ["--preflight", "--format", "json", "--config", str(config)]
    )
    assert as_json.exit_code == 2
    document = json.loads(as_json.output)
    assert document["ok"] is False
    assert document["streams"]["users"]["ok"] is False
    users = document["streams"]["users"]["endpoints"][0]
    assert (users["endpoint"], users["permission"], users["result"]) == (
        "GET /api/v2/users",
        UsersStream.permission,
        FORBIDDEN,
    )
    assert "HTTP 403" in users["detail"]
    assert all(s["ok"] for name, s in document["streams"].items() if name != "users")
    assert document["token"] == OK
    assert document["requests"] <= MAX_REQUESTS
    assert SIM_CLIENT_SECRET not in as_json.output


def test_a_permission_named_authorization_survives_the_redactor(
    genesys_sim: Callable[..., Any],
) -> None:
    sim = make_sim(genesys_sim, forbidden_endpoints=["divisions"])
    report, _ = run(sim, {"divisions": ALL["divisions"]})
    assert report.exit_code == 2
    assert (
        "divisions: GET /api/v2/authorization/divisions: 403, grant the permission "
        "authorization:division:view" in render(report, False)
    )
    document = json.loads(render(report, True))
    assert document["streams"]["divisions"]["endpoints"][0]["permission"] == (
        "authorization:division:view"
    )


def test_all_streams_ok_exit_0_within_the_request_bound(genesys_sim: Callable[..., Any]) -> None:
    """The most expensive plausible org (multi-get of 10 ids): every probe, <= 40 requests."""
    sim = make_sim(genesys_sim, multiget_max_ids=10, job_results_max_page_size=100)
    report, probes = run(sim)
    assert report.exit_code == 0
    assert set(report.streams) == set(ALL)
    assert all(c.result == OK for c in report.checks.values())
    assert report.requests == total_requests(sim) <= MAX_REQUESTS  # token request included
    token = probes.tokens.token()
    text = render(report, False) + render(report, True)
    assert token not in text and SIM_CLIENT_SECRET not in text


def test_a_lower_request_bound_skips_probes_instead_of_passing_it(
    genesys_sim: Callable[..., Any],
) -> None:
    sim = make_sim(genesys_sim)
    report, _ = run(sim, max_requests=12)
    assert total_requests(sim) <= 12
    assert report.requests == total_requests(sim)
    assert UNCHECKED in {c.result for c in report.checks.values()}


def test_time_bound_stops_polling_a_job_that_never_ends_and_deletes_it(
    genesys_sim: Callable[..., Any],
) -> None:
    """Injected clock: each wait between polls 'takes' ten times as long."""
    sim = make_sim(genesys_sim, job_polls_queued=0, job_polls_pending=0)  # stays QUEUED
    elapsed = [0.0]

    def slow_sleep(seconds: float) -> None:
        elapsed[0] += 10 * seconds

    report, _ = run(
        sim,
        {"conversation_details": ALL["conversation_details"]},
        clock=lambda: elapsed[0],
        sleep=slow_sleep,
    )
    limit = report.limits["jobs_results_page_size_max"]
    assert limit.value is None
    assert "60 s" in limit.note
    assert report.elapsed_s <= pf.MAX_SECONDS
    assert sim.stats["requests"][SIM_JOBS].get("204") == 1  # deleted although unfinished
    assert report.exit_code == 0  # a limit not measured blocks no stream


def test_bad_credentials_exit_2_without_the_secret(genesys_sim: Callable[..., Any]) -> None:
    sim = make_sim(genesys_sim)
    config = tap_config_for(sim, client_secret="wrong-secret-value")
    probes = Preflight(validate_settings(config), ALL, now=sim.clock.now)
    report = probes.run()
    assert report.exit_code == 2
    assert report.token != OK and "credentials rejected" in report.token
    assert total_requests(sim) == 1  # the token request only
    text = render(report, False)
    assert "wrong-secret-value" not in text
    assert "no stream can run without a token" in text


def test_stream_endpoints_follow_parents_and_extraction_mode() -> None:
    assert pf.stream_endpoints(ALL["conversation_segments"], "auto") == [QUERY, MULTIGET, JOBS]
    assert pf.stream_endpoints(ALL["conversation_details"], "query") == [QUERY, MULTIGET]
    assert pf.stream_endpoints(ALL["user_routing_status"], "auto") == [pf.USERS_QUERY]
    assert pf.stream_endpoints(UsersStream, "auto") == [
        Endpoint("GET", "/api/v2/users", "directory:user:view")
    ]


def test_report_without_forbidden_checks_decides_from_failures_only() -> None:
    endpoint = Endpoint("GET", "/api/v2/groups", "directory:group:view")
    report = Report(
        "https://api.x", "https://login.x", "eu_west_1", {"groups": [endpoint]}, token=OK
    )
    report.checks[endpoint] = Check(UNCHECKED, "not sent")
    assert report.exit_code == 0  # unknown is reported, not a failure
    report.checks[endpoint] = Check(FORBIDDEN)
    assert report.exit_code == 2
    assert "groups: GET /api/v2/groups: 403, grant the permission directory:group:view" in (
        report.table()
    )
