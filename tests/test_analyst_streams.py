"""Agent status history and the reference tables, against the simulator's ground truth."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonschema
import pytest

from tap_genesys_analytics.errors import GenesysAPIError
from tests.conftest import TapRun, run_tap
from tests.ground_truth import SIM_TABLES

pytestmark = pytest.mark.integration

STATUS = ("user_presence", "user_routing_status")


def run_streams(config: dict[str, Any], selected: set[str], state: Any = None) -> TapRun:
    """Run the tap in-process with a catalog selecting only ``selected``."""
    return run_tap(config, state, streams=selected)


def rows(run: TapRun, stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == stream]


def schema_of(run: TapRun, stream: str) -> dict[str, Any]:
    return next(
        m["schema"] for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream
    )


# --- reference tables ------------------------------------------------------------------------


def test_reference_tables_equal_the_org_configuration(sim, tap_config):
    run = run_streams(tap_config, set(SIM_TABLES))
    assert run.error is None
    for stream, table in SIM_TABLES.items():
        got = rows(run, stream)
        assert got == sim.reference(table), stream
        assert len({r["id"] for r in got}) == len(got)
        validator = jsonschema.Draft7Validator(schema_of(run, stream))
        for row in got:
            validator.validate(row)
    states = Counter(u["state"] for u in rows(run, "users"))
    assert states["deleted"] and states["inactive"] and states["active"]


@pytest.mark.parametrize("max_page_size", [25, 500])
def test_a_refused_page_size_is_halved_and_the_table_is_still_complete(
    sim, tap_config, max_page_size
):
    sim.configure(list_max_page_size=max_page_size, list_default_page_size=10)
    run = run_streams(tap_config, {"users", "flows"})
    assert run.error is None
    assert rows(run, "users") == sim.reference("users")
    assert rows(run, "flows") == sim.reference("flows")


def test_every_id_in_conversations_resolves_to_a_reference_row(sim, tap_config):
    run = run_streams(tap_config, {"conversation_details", *SIM_TABLES})
    assert run.error is None
    known = {stream: {r["id"] for r in rows(run, stream)} for stream in SIM_TABLES}
    missing: Counter[str] = Counter()
    for conversation in rows(run, "conversation_details"):
        missing.update(
            f"division {d}"
            for d in conversation.get("divisionIds", [])
            if d not in known["divisions"]
        )
        for participant in conversation["participants"]:
            if participant.get("userId") and participant["userId"] not in known["users"]:
                missing[f"user {participant['userId']}"] += 1
            for session in participant.get("sessions", []):
                flow = (session.get("flow") or {}).get("flowId")
                if flow and flow not in known["flows"]:
                    missing[f"flow {flow}"] += 1
                for segment in session.get("segments", []):
                    if segment.get("queueId") and segment["queueId"] not in known["routing_queues"]:
                        missing[f"queue {segment['queueId']}"] += 1
                    code = segment.get("wrapUpCode")
                    if (
                        code
                        and not code.startswith("ININ-")
                        and (code not in known["routing_wrapup_codes"])
                    ):
                        missing[f"wrap-up {code}"] += 1
                    for skill in segment.get("requestedRoutingSkillIds", []):
                        if skill not in known["routing_skills"]:
                            missing[f"skill {skill}"] += 1
                    language = segment.get("requestedLanguageId")
                    if language and language not in known["routing_languages"]:
                        missing[f"language {language}"] += 1
    assert not missing, missing.most_common(5)


def test_a_missing_permission_stops_with_one_line_naming_stream_and_permission(sim, tap_config):
    sim.configure(forbidden_endpoints=["queues"])
    run = run_streams(tap_config, {"users", "routing_queues"})
    assert isinstance(run.error, GenesysAPIError)
    message = str(run.error)
    assert "\n" not in message
    assert message.startswith("routing_queues page 1: HTTP 403")
    assert "routing:queue:view" in message
    synced = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    if "users" in synced[: synced.index("routing_queues")]:  # a stream before it is whole
        assert rows(run, "users") == sim.reference("users")


# --- agent status history --------------------------------------------------------------------


def truth_periods(sim: Any, start: str, end: str, key: str) -> list[tuple[str, str]]:
    out = set()
    for user in sim.ground_truth_users_details(start, end):
        for period in user.get(key, []):
            if start[:10] <= period["startTime"][:10] and period["startTime"] < end:
                out.add((user["userId"], period["startTime"]))
    return sorted(out)


def test_status_periods_equal_the_ground_truth_once_per_key(sim, tap_config):
    run = run_streams(tap_config, set(STATUS))
    assert run.error is None
    start, end = "2024-05-01T00:00:00.000Z", "2024-05-04T00:00:00.000Z"
    for stream, key in (
        ("user_presence", "primaryPresence"),
        ("user_routing_status", "routingStatus"),
    ):
        got = [(r["userId"], r["startTime"]) for r in rows(run, stream)]
        assert len(got) == len(set(got)), f"{stream}: a period twice"
        assert sorted(got) == truth_periods(sim, start, end, key), stream
        validator = jsonschema.Draft7Validator(schema_of(run, stream))
        for row in rows(run, stream)[:200]:
            validator.validate(row)
    bookmarks = [
        s["bookmarks"]["user_presence"]["replication_key_value"]
        for s in run.states
        if "replication_key_value" in s.get("bookmarks", {}).get("user_presence", {})
    ]
    assert bookmarks[-1].startswith("2024-05-0")


def test_routing_status_alone_writes_no_presence_row(sim, tap_config):
    run = run_streams(tap_config, {"user_routing_status"})
    assert run.error is None
    schemas = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    assert schemas == ["user_routing_status"]  # once, not once per user
    assert rows(run, "user_routing_status") and not rows(run, "user_presence")


def test_an_open_status_period_is_read_again_until_it_closes(sim, tap_config):
    config = {
        **tap_config,
        "start_date": "2024-05-07T00:00:00Z",
        "end_date": None,
        "lookback": "PT0S",
    }
    first = run_streams(config, set(STATUS))
    assert first.error is None
    open_periods = {
        (r["userId"], r["startTime"])
        for r in rows(first, "user_routing_status")
        if "endTime" not in r
    }
    assert open_periods, "scenario needs periods still open at the simulated now"
    sim.advance(3 * 86400)
    second = run_streams(config, set(STATUS), state=first.final_state)
    assert second.error is None
    closed = {
        (r["userId"], r["startTime"]) for r in rows(second, "user_routing_status") if "endTime" in r
    }
    assert open_periods <= closed
