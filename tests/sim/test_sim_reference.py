"""Reference lists (``GET /api/v2/users``, ``/routing/queues``, ...): SDK listing models, paging,
the [U] switches (page-size maximum, deep-paging limit, users ``state=any``), the 403 switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import PureCloudPlatformClientV2 as sdk
import pytest

from genesys_sim import SimConfig, SimServer
from genesys_sim.analyst import ENDPOINTS
from tests.sdk_models import conformance_problems, deserialize
from tests.sim.helpers import DAY, JOBS, QUERY, Client, error_ok

USER_QUERY = "/api/v2/analytics/users/details/query"
LISTS = {
    "/api/v2/users": "UserEntityListing",
    "/api/v2/routing/queues": "QueueEntityListing",
    "/api/v2/routing/wrapupcodes": "WrapupCodeEntityListing",
    "/api/v2/routing/skills": "SkillEntityListing",
    "/api/v2/routing/languages": "LanguageEntityListing",
    "/api/v2/authorization/divisions": "AuthzDivisionEntityListing",
    "/api/v2/groups": "GroupEntityListing",
    "/api/v2/presence/definitions": "OrganizationPresenceDefinitionEntityListing",
    "/api/v2/flows": "FlowEntityListing",
}
TABLE_OF = {
    "/api/v2/users": "users",
    "/api/v2/routing/queues": "queues",
    "/api/v2/routing/wrapupcodes": "wrapupcodes",
    "/api/v2/routing/skills": "skills",
    "/api/v2/routing/languages": "languages",
    "/api/v2/authorization/divisions": "divisions",
    "/api/v2/groups": "groups",
    "/api/v2/presence/definitions": "presence_definitions",
    "/api/v2/flows": "flows",
}


@pytest.fixture(scope="module")
def sim():
    with SimServer(SimConfig(rate_limit_per_minute=0, conversations_per_day=50)) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim):
    return Client(sim)


def _walk(client: Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict]]:
    """Follow nextUri from page 1; (entities, envelopes)."""
    envelopes = []
    resp = client.get(path, params=params)
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        envelopes.append(body)
        if "nextUri" not in body:
            return [e for b in envelopes for e in b["entities"]], envelopes
        resp = client.get(body["nextUri"])


@pytest.mark.parametrize(("path", "model"), LISTS.items())
def test_each_list_conforms_to_its_sdk_listing_model(client, path, model):
    for params in ({}, {"state": "any"}) if path.endswith("/users") else ({},):
        body = client.get(path, params=params).json()
        assert body["entities"], path
        assert conformance_problems(body, model) == []
        assert deserialize(body, model) is not None


@pytest.mark.parametrize("path", [p for p in LISTS if not p.endswith("/definitions")])
def test_next_uri_walk_returns_the_full_table_once(sim, client, path):
    params = {"pageSize": 4, **({"state": "any"} if path.endswith("/users") else {})}
    entities, envelopes = _walk(client, path, **params)
    table = sim.reference(TABLE_OF[path])
    assert [e["id"] for e in entities] == [e["id"] for e in table]
    assert len({e["id"] for e in entities}) == len(entities)
    first, last = envelopes[0], envelopes[-1]
    assert "previousUri" not in first and "nextUri" not in last
    assert first["total"] == len(table) and first["pageCount"] == len(envelopes)
    assert first["pageCount"] == -(-len(table) // 4)
    assert first["lastUri"] == last["selfUri"] and last["firstUri"] == first["selfUri"]
    for number, env in enumerate(envelopes, start=1):
        assert env["pageNumber"] == number and env["pageSize"] == 4
        query = parse_qs(urlsplit(env["selfUri"]).query)
        assert query["pageNumber"] == [str(number)]
        if path.endswith("/users"):
            assert query["state"] == ["any"]


def test_presence_definitions_are_not_paged(sim, client):
    body = client.get("/api/v2/presence/definitions", params={"pageSize": 1}).json()
    assert set(body) == {"total", "entities", "selfUri"}
    assert body["total"] == len(body["entities"]) == len(sim.reference("presence_definitions"))
    systems = {d["systemPresence"] for d in body["entities"] if d["type"] == "System"}
    assert systems == {
        "Available",
        "Away",
        "Busy",
        "Offline",
        "Idle",
        "OnQueue",
        "Meal",
        "Training",
        "Meeting",
        "Break",
    }


def test_default_page_size_is_25_and_page_past_the_end_is_empty(client):
    body = client.get("/api/v2/users").json()
    assert body["pageSize"] == 25 and len(body["entities"]) == 25
    past = client.get("/api/v2/users", params={"pageNumber": body["pageCount"] + 1}).json()
    assert past["entities"] == [] and "nextUri" not in past and past["total"] == body["total"]


@pytest.mark.parametrize("maximum", [100, 500])
def test_page_size_maximum_is_a_switch(genesys_sim, maximum):
    client = Client(genesys_sim(list_max_page_size=maximum, conversations_per_day=10))
    ok = client.get("/api/v2/users", params={"pageSize": maximum, "state": "any"})
    assert ok.status_code == 200 and ok.json()["pageSize"] == maximum
    body = error_ok(
        client.get("/api/v2/users", params={"pageSize": maximum + 1}), 400, "bad.request"
    )
    assert str(maximum) in body["message"]
    error_ok(client.get("/api/v2/routing/queues", params={"pageSize": 0}), 400, "bad.request")
    error_ok(client.get("/api/v2/routing/queues", params={"pageSize": "ten"}), 400)
    error_ok(client.get("/api/v2/routing/queues", params={"pageNumber": 0}), 400)


@pytest.mark.parametrize(("limit", "deep_ok"), [(10_000, False), (0, True)])
def test_deep_paging_limit_is_a_switch(genesys_sim, limit, deep_ok):
    client = Client(genesys_sim(list_max_results=limit, conversations_per_day=10))
    at_limit = client.get(
        "/api/v2/routing/wrapupcodes", params={"pageSize": 100, "pageNumber": 100}
    )
    assert at_limit.status_code == 200 and at_limit.json()["entities"] == []
    deep = client.get("/api/v2/routing/wrapupcodes", params={"pageSize": 100, "pageNumber": 101})
    if deep_ok:
        assert deep.status_code == 200, deep.text
    else:
        assert "10000" in error_ok(deep, 400, "bad.request")["message"]


def _states(client: Client, **params: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for user in _walk(client, "/api/v2/users", pageSize=100, **params)[0]:
        counts[user["state"]] = counts.get(user["state"], 0) + 1
    return counts


@pytest.mark.parametrize("any_includes_deleted", [True, False])
def test_users_state_filter(genesys_sim, any_includes_deleted):
    sim = genesys_sim(users_any_includes_deleted=any_includes_deleted, conversations_per_day=10)
    client = Client(sim)
    table = {
        s: sum(u["state"] == s for u in sim.reference("users"))
        for s in ("active", "inactive", "deleted")
    }
    assert table["deleted"] >= 1 and table["inactive"] >= 1
    assert _states(client) == {"active": table["active"]}  # default: active only
    assert _states(client, state="deleted") == {"deleted": table["deleted"]}
    assert _states(client, state="inactive") == {"inactive": table["inactive"]}
    expected = {"active": table["active"], "inactive": table["inactive"]}
    if any_includes_deleted:
        expected["deleted"] = table["deleted"]
    assert _states(client, state="any") == expected
    body = error_ok(client.get("/api/v2/users", params={"state": "gone"}), 400, "invalid.value")
    assert "active, inactive, deleted, any" in body["message"]


def test_departed_users_and_closed_queues_follow_the_clock(sim, client):
    """Before their departure the agents are active and the queues have members."""
    deleted = [u["id"] for u in sim.reference("users") if u["state"] == "deleted"]
    closed = [q["id"] for q in sim.reference("queues") if q["memberCount"] == 0]
    assert deleted and closed
    now = sim.clock.now()
    try:
        sim.clock.set("2024-05-01T12:00:00Z")
        assert _states(client, state="deleted") == {}
        early = {u["id"]: u["state"] for u in sim.reference("users")}
        assert all(early[u] == "active" for u in deleted)
        queues = {q["id"]: q for q in sim.reference("queues")}
        assert all(queues[q]["memberCount"] > 0 for q in closed)
    finally:
        sim.clock.set(now)


def test_filters_of_flows_queues_and_skills(sim, client):
    flows = client.get("/api/v2/flows", params={"type": "INBOUNDCALL,INQUEUECALL"}).json()
    assert {f["type"] for f in flows["entities"]} == {"INBOUNDCALL", "INQUEUECALL"}
    assert "type=INBOUNDCALL%2CINQUEUECALL" in flows["selfUri"]
    assert client.get("/api/v2/flows", params={"deleted": "true"}).json()["entities"] == []
    division = sim.reference("divisions")[1]["id"]
    queues = _walk(client, "/api/v2/routing/queues", divisionId=division)[0]
    assert queues and all(q["division"]["id"] == division for q in queues)
    assert len(queues) < len(sim.reference("queues"))
    skills = client.get("/api/v2/routing/skills", params={"name": "bill*"}).json()["entities"]
    assert [s["name"] for s in skills] == ["Billing"]
    desc = client.get("/api/v2/routing/queues", params={"sortOrder": "desc", "pageSize": 100})
    names = [q["name"] for q in desc.json()["entities"]]
    assert names == sorted(names, reverse=True)


def test_lists_need_a_token_and_carry_rate_limit_headers(sim, client):
    resp = client.session.get(sim.base_url + "/api/v2/routing/queues")
    error_ok(resp, 401, "authentication.required")
    ok = client.get("/api/v2/routing/queues")
    assert "inin-ratelimit-allowed" in ok.headers and "ININ-Correlation-Id" in ok.headers
    error_ok(client.session.post(sim.base_url + "/api/v2/routing/queues", headers=client.auth), 405)


_REQUESTS = {
    "conversation_details": ("POST", QUERY, {"interval": DAY}),
    "conversation_jobs": ("POST", JOBS, {"interval": DAY}),
    "user_details": ("POST", USER_QUERY, {"interval": DAY}),
    **{table: ("GET", path, None) for path, table in TABLE_OF.items()},
}


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_forbidden_endpoint_answers_403_missing_any_permissions(genesys_sim, name):
    assert set(_REQUESTS) == set(ENDPOINTS)
    client = Client(genesys_sim(forbidden_endpoints=(name,), conversations_per_day=10))
    for other, (method, path, body) in _REQUESTS.items():
        resp = client.session.request(
            method, client.sim.base_url + path, json=body, headers=client.auth, timeout=10
        )
        if other != name:
            assert resp.status_code in (200, 202), (other, resp.text)
            continue
        err = error_ok(resp, 403, "missing.any.permissions")
        perms = ENDPOINTS[name][1]
        assert err["message"] == (
            "Unable to perform the requested action. You must have at "
            "least one of the following permissions assigned: " + ", ".join(perms)
        )


def test_forbidden_endpoints_change_at_runtime_and_unknown_names_are_rejected(sim, client):
    sim.configure(forbidden_endpoints=["users", "user_details"])
    try:
        error_ok(client.get("/api/v2/users"), 403, "missing.any.permissions")
        assert client.get("/api/v2/routing/queues").status_code == 200
    finally:
        sim.configure(forbidden_endpoints=[])
    assert client.get("/api/v2/users").status_code == 200
    with pytest.raises(ValueError, match="forbidden_endpoints: unknown nope"):
        SimServer(SimConfig(forbidden_endpoints=("nope",)))


def test_control_endpoint_serves_the_full_tables(sim, client):
    resp = client.session.get(sim.base_url + "/_sim/analyst/reference/users")
    assert resp.status_code == 200
    assert resp.json()["entities"] == sim.reference("users")
    assert resp.json()["count"] == 150
    bad = client.session.get(sim.base_url + "/_sim/analyst/reference/teams")
    assert bad.status_code == 400 and "teams" in bad.json()["message"]


def test_official_sdk_client_reads_every_list(sim):
    """The SDK's own API classes page the lists and deserialize them without loss."""
    api_client = sdk.ApiClient()
    api_client.host = sim.base_url
    api_client = api_client.get_client_credentials_token("sim-client", "sim-secret")
    users = sdk.UsersApi(api_client).get_users(page_size=100, page_number=2, state="any")
    assert users.page_number == 2 and users.total == 150 and len(users.entities) == 50
    assert {u.state for u in users.entities} <= {"active", "inactive", "deleted"}
    routing = sdk.RoutingApi(api_client)
    queues = routing.get_routing_queues(page_size=100)
    assert [q.id for q in queues.entities] == [q["id"] for q in sim.reference("queues")]
    assert queues.entities[0].division.id in {d["id"] for d in sim.reference("divisions")}
    assert len(routing.get_routing_wrapupcodes(page_size=100).entities) == 24
    assert routing.get_routing_skills(page_size=100).entities[0].state in ("active", "deleted")
    assert routing.get_routing_languages(page_size=100).total == len(sim.reference("languages"))
    divisions = sdk.AuthorizationApi(api_client).get_authorization_divisions(page_size=100)
    assert sum(d.home_division for d in divisions.entities) == 1
    assert sdk.GroupsApi(api_client).get_groups(page_size=100).entities[0].type == "official"
    presences = sdk.PresenceApi(api_client).get_presence_definitions()
    assert presences.total == len(presences.entities) == 12
    flows = sdk.ArchitectApi(api_client).get_flows(type=["INBOUNDCALL"])
    assert [f.type for f in flows.entities] == ["INBOUNDCALL"]


def test_permission_error_conforms_to_error_body(genesys_sim):
    client = Client(genesys_sim(forbidden_endpoints=("queues",), conversations_per_day=10))
    body = error_ok(client.get("/api/v2/routing/queues"), 403)
    assert conformance_problems(body, "ErrorBody") == []


def test_fault_targets_user_details_and_lists(genesys_sim):
    sim = genesys_sim(conversations_per_day=10)
    client = Client(sim)
    sim.faults.add("status", status=503, on=(1,), target="user_details")
    sim.faults.add("status", status=502, on=(1,), target="lists")
    error_ok(client.get("/api/v2/routing/queues"), 502, "bad.gateway")
    assert client.get("/api/v2/users").status_code == 200  # the rule fired on its request 1
    assert client.post(QUERY, {"interval": DAY}).status_code == 200
    error_ok(client.post(USER_QUERY, {"interval": DAY}), 503, "service.unavailable")
    assert client.post(USER_QUERY, {"interval": DAY}).status_code == 200
    stats = sim.stats["requests"]
    assert stats[USER_QUERY] == {"503": 1, "200": 1}  # per-endpoint stats
    assert stats["/api/v2/routing/queues"] == {"502": 1}
