"""Referential integrity: every id a conversation or a status period carries resolves in the
reference lists (deleted users and inactive queues included), and agents' status periods agree
with the conversations they handled."""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

import pytest

from genesys_sim import SimConfig, SimServer
from genesys_sim.data import SYSTEM_WRAPUP
from tests.sim.helpers import Client

NOON = "2024-05-07T12:00:00Z"


@pytest.fixture(scope="module")
def sim():
    with SimServer(
        SimConfig(now=NOON, rate_limit_per_minute=0, conversations_per_day=300)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def week(sim) -> list[dict[str, Any]]:
    return sim.ground_truth("2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _references(conversations: list[dict[str, Any]]) -> dict[str, set[str]]:
    refs: dict[str, set[str]] = {
        k: set()
        for k in ("users", "queues", "wrapupcodes", "divisions", "skills", "languages", "flows")
    }
    for conv in conversations:
        refs["divisions"].update(conv["divisionIds"])
        for part in conv["participants"]:
            if "userId" in part:
                refs["users"].add(part["userId"])
            for sess in part["sessions"]:
                if "selectedAgentId" in sess:
                    refs["users"].add(sess["selectedAgentId"])
                if "flow" in sess:
                    refs["flows"].add(sess["flow"]["flowId"])
                for seg in sess["segments"]:
                    if "queueId" in seg:
                        refs["queues"].add(seg["queueId"])
                    if "wrapUpCode" in seg:
                        refs["wrapupcodes"].add(seg["wrapUpCode"])
                    refs["skills"].update(seg.get("requestedRoutingSkillIds", []))
                    if "requestedLanguageId" in seg:
                        refs["languages"].add(seg["requestedLanguageId"])
    return refs


def test_every_id_in_conversations_resolves_through_the_lists(sim, week):
    refs = _references(week)
    assert SYSTEM_WRAPUP in refs["wrapupcodes"], "system wrap-up value covered"
    refs["wrapupcodes"].discard(SYSTEM_WRAPUP)  # a system value, not a wrap-up code entity
    client = Client(sim)
    for table, ids in refs.items():
        assert ids, table
        path = {
            "users": "/api/v2/users",
            "divisions": "/api/v2/authorization/divisions",
            "flows": "/api/v2/flows",
        }.get(table, f"/api/v2/routing/{table}")
        params = {"pageSize": 100, **({"state": "any"} if table == "users" else {})}
        listed: set[str] = set()
        number = 1
        while True:
            body = client.get(path, params={**params, "pageNumber": number}).json()
            listed |= {e["id"] for e in body["entities"]}
            if "nextUri" not in body:
                break
            number += 1
        assert ids <= listed, (table, sorted(ids - listed)[:3])


def test_old_conversations_reference_deleted_users_and_inactive_queues(sim, week):
    refs = _references(week)
    users = {u["id"]: u for u in sim.reference("users")}
    queues = {q["id"]: q for q in sim.reference("queues")}
    skills = {s["id"]: s for s in sim.reference("skills")}
    languages = {lang["id"]: lang for lang in sim.reference("languages")}
    assert {users[u]["state"] for u in refs["users"]} == {"active", "inactive", "deleted"}
    closed = {q for q in refs["queues"] if queues[q]["memberCount"] == 0}
    assert closed, "conversations reference closed (inactive) queues"
    assert all("inactive since" in queues[q]["description"] for q in closed)
    assert {skills[s]["state"] for s in refs["skills"]} == {"active", "deleted"}
    assert {languages[lang]["state"] for lang in refs["languages"]} == {"active", "deleted"}


def test_departed_agents_and_closed_queues_take_no_later_conversations(sim, week):
    org, ents = sim.app.data.org, sim.app.data.entities
    last_start: dict[str, int] = {}
    queue_last: dict[str, int] = {}
    for conv in week:
        start = _ms(conv["conversationStart"])
        for part in conv["participants"]:
            if "userId" in part:
                last_start[part["userId"]] = max(last_start.get(part["userId"], 0), start)
            for seg in part["sessions"][0]["segments"]:
                if "queueId" in seg:
                    queue_last[seg["queueId"]] = max(queue_last.get(seg["queueId"], 0), start)
    for index, dep in org.users_gone.items():
        user = ents.users[index].id
        assert user in last_start, "the agent worked before leaving"
        assert last_start[user] < dep.at_ms - org.margin_ms
    for index, dep in org.queues_closed.items():
        queue = ents.queues[index].id
        assert queue in queue_last and queue_last[queue] < dep.at_ms


def _status_index(sim, start: str, end: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {d["userId"]: d for d in sim.ground_truth_users_details(start, end)}


def _at(periods: list[dict[str, Any]], t: int) -> dict[str, Any]:
    starts = [_ms(p["startTime"]) for p in periods]
    i = bisect.bisect_right(starts, t) - 1
    assert i >= 0, t
    period = periods[i]
    assert "endTime" not in period or _ms(period["endTime"]) > t
    return period


def test_agents_are_on_queue_and_interacting_while_handling_conversations(sim):
    convs = sim.ground_truth("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    status = _status_index(sim, "2024-05-05T00:00:00Z", "2024-05-08T00:00:00Z")
    checked = 0
    for conv in convs:
        for part in conv["participants"]:
            if part["purpose"] != "agent":
                continue
            detail = status[part["userId"]]
            for seg in part["sessions"][0]["segments"]:
                if "segmentEnd" not in seg:
                    continue
                s, e = _ms(seg["segmentStart"]), _ms(seg["segmentEnd"])
                for t in (s, (s + e) // 2, e - 1):
                    assert _at(detail["routingStatus"], t)["routingStatus"] == "INTERACTING"
                    assert _at(detail["primaryPresence"], t)["systemPresence"] == "ON_QUEUE"
                    checked += 1
    assert checked > 1000


def test_off_queue_agents_handle_nothing(sim):
    """The converse: outside INTERACTING no conversation of the agent is in an agent segment."""
    convs = sim.ground_truth("2024-05-04T00:00:00Z", "2024-05-07T00:00:00Z")
    status = _status_index(sim, "2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    busy: dict[str, list[tuple[int, int]]] = {}
    for conv in convs:
        for part in conv["participants"]:
            if part["purpose"] == "agent":
                segs = part["sessions"][0]["segments"]
                end = max(_ms(s.get("segmentEnd", conv.get("conversationEnd", NOON))) for s in segs)
                busy.setdefault(part["userId"], []).append((_ms(segs[0]["segmentStart"]), end))
    off = 0
    for user, detail in status.items():
        for period in detail["routingStatus"]:
            if period["routingStatus"] in ("OFF_QUEUE", "IDLE"):
                a, b = _ms(period["startTime"]), _ms(period["endTime"])
                for s, e in busy.get(user, []):
                    assert not (s < b and e > a), (user, period)
                off += 1
    assert off > 300


def test_status_ids_resolve(sim):
    status = sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-08T00:00:00Z")
    users = {u["id"] for u in sim.reference("users")}
    presences = {p["id"]: p for p in sim.reference("presence_definitions")}
    assert {d["userId"] for d in status} <= users
    seen = set()
    for detail in status:
        for p in detail["primaryPresence"]:
            definition = presences[p["organizationPresenceId"]]
            assert (
                definition["systemPresence"].upper().replace("ONQUEUE", "ON_QUEUE")
                == p["systemPresence"]
            )
            seen.add(definition["type"])
    assert seen == {"System", "User"}, "org-defined presences (Lunch, Coaching) are used"


def test_no_status_before_data_start_or_after_departure(sim):
    assert sim.ground_truth_users_details("2024-04-29T00:00:00Z", "2024-04-30T23:00:00Z") == []
    org, ents = sim.app.data.org, sim.app.data.entities
    status = {
        d["userId"]: d
        for d in sim.ground_truth_users_details("2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z")
    }
    now, departed = _ms(NOON), 0
    for index, dep in org.users_gone.items():
        detail = status[ents.users[index].id]
        for key in ("primaryPresence", "routingStatus"):
            if dep.at_ms <= now:
                assert _ms(detail[key][-1]["endTime"]) == dep.at_ms
                departed += 1
            else:  # still employed at the clock: the last period is open
                assert "endTime" not in detail[key][-1]
    assert departed >= 2
