"""Conversations by id (docs/simulator.md "Conversations by id"): the multi-get
``GET .../conversations/details?id=a,b,c`` and ``GET .../conversations/{id}/details``; 409
status faults on every details endpoint."""

from __future__ import annotations

import pytest
import requests

from genesys_sim import FaultRule
from tests.sim.helpers import DAY, JOBS, QUERY, Client, error_ok

MULTI = "/api/v2/analytics/conversations/details"
ONE = "/api/v2/analytics/conversations/{}/details"
NOON = "2024-05-02T12:00:00Z"
D2, D3 = "2024-05-02", "2024-05-03"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0, now=NOON)


@pytest.fixture
def client(sim):
    return Client(sim)


def _multi(client, ids, **kw):
    return client.get(MULTI, params={"id": ",".join(ids)}, **kw)


def test_records_are_exactly_what_the_query_serves_at_the_clock(sim, client):
    served = {c["conversationId"]: c for c in client.all_pages(DAY)}
    ids = list(served)[::7][:40]
    assert any("conversationEnd" not in served[i] for i in ids), "ongoing records covered"
    resp = _multi(client, ids)
    assert resp.status_code == 200
    got = resp.json()["conversations"]
    assert [c["conversationId"] for c in got] == ids
    assert got == [served[i] for i in ids]
    assert sim.conversations_by_id(ids) == got
    for cid in ids[:5]:
        one = client.get(ONE.format(cid))
        assert one.status_code == 200 and one.json() == served[cid] == sim.conversation(cid)


def test_records_change_with_the_clock(sim, client):
    ongoing = [c["conversationId"] for c in client.all_pages(DAY) if "conversationEnd" not in c]
    assert ongoing
    sim.clock.set("2024-05-06T00:00:00Z")
    client.token = client.fetch_token()
    got = _multi(client, ongoing[:20]).json()["conversations"]
    assert all("conversationEnd" in c for c in got)


def test_unknown_and_not_yet_started_ids_are_omitted(sim, client, genesys_sim):
    later = genesys_sim(rate_limit_per_minute=0, now="2024-05-02T23:00:00Z")
    future = later.ground_truth_ids("2024-05-02T20:00:00Z", "2024-05-02T23:00:00Z")[:3]
    known = sim.ground_truth_ids(D2, NOON)[:3]
    resp = _multi(client, [UNKNOWN, known[0], *future, known[1], known[0], known[2]])
    assert [c["conversationId"] for c in resp.json()["conversations"]] == known
    none = _multi(client, [UNKNOWN, *future])
    assert none.status_code == 200 and none.json() == {}, "no known id: key omitted"
    error_ok(client.get(ONE.format(UNKNOWN)), 404, "not.found")
    error_ok(client.get(ONE.format(future[0])), 404, "not.found")


@pytest.mark.parametrize("limit", [10, 100])
def test_id_limit(genesys_sim, limit):
    sim = genesys_sim(rate_limit_per_minute=0, now=NOON, multiget_max_ids=limit)
    client = Client(sim)
    ids = sim.ground_truth_ids(D2, NOON)[: limit + 1]
    assert len(ids) == limit + 1
    ok = _multi(client, ids[:limit])
    assert ok.status_code == 200 and len(ok.json()["conversations"]) == limit
    body = error_ok(_multi(client, ids), 400, "bad.request")
    assert f"at most {limit} ids" in body["message"]
    repeated = client.get(MULTI, params={"id": ids[:limit] + ids[:1]})  # repeated id= params
    assert repeated.status_code == 200, "the same id twice counts once"


def test_limit_is_runtime_changeable_and_a_cli_flag(sim, client):
    from genesys_sim.cli import build_parser, config_from_args

    ids = sim.ground_truth_ids(D2, NOON)[:11]
    sim.configure(multiget_max_ids=10)
    error_ok(_multi(client, ids), 400, "bad.request")
    requests.post(sim.base_url + "/_sim/config", json={"multiget_max_ids": 11}, timeout=5)
    assert _multi(client, ids).status_code == 200
    cfg = config_from_args(build_parser().parse_args(["serve", "--multiget-max-ids", "10"]))
    assert cfg.multiget_max_ids == 10


def test_missing_id_and_wrong_method(client):
    error_ok(client.get(MULTI), 400, "bad.request")
    error_ok(client.get(MULTI, params={"id": " , "}), 400, "bad.request")
    error_ok(
        client.session.post(
            client.sim.base_url + MULTI, headers=client.auth, params={"id": UNKNOWN}, timeout=5
        ),
        405,
    )


def test_auth_rate_limit_and_stats(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=3, now=NOON)
    client = Client(sim)
    ids = sim.ground_truth_ids(D2, NOON)[:4]
    error_ok(
        requests.get(sim.base_url + MULTI, params={"id": ids[0]}, timeout=5),
        401,
        "authentication.required",
    )
    first = _multi(client, ids)
    assert first.headers["inin-ratelimit-allowed"] == "3"
    assert first.headers["inin-ratelimit-count"] == "1"
    assert client.get(ONE.format(ids[0])).status_code == 200
    assert _multi(client, [UNKNOWN]).status_code == 200
    error_ok(_multi(client, ids), 429, "too.many.requests.retry.after")
    stats = sim.stats
    assert stats["requests"][MULTI] == {"401": 1, "200": 2, "429": 1}
    assert stats["requests"]["/api/v2/analytics/conversations/{conversationId}/details"] == {
        "200": 1
    }
    assert (
        stats["multiget_requests"],
        stats["multiget_ids_requested"],
        stats["multiget_records"],
    ) == (3, 6, 5)


def test_faults_target_multiget(sim, client):
    ids = sim.ground_truth_ids(D2, NOON)[:3]
    sim.faults.add("status", status=503, target="multiget")
    error_ok(_multi(client, ids), 503, "service.unavailable")
    error_ok(client.get(ONE.format(ids[0])), 503, "service.unavailable")
    assert client.query(page_size=1).status_code == 200, "the query is not targeted"
    sim.faults.configure(FaultRule("truncated", target="multiget", on=(1,)))
    with pytest.raises(ValueError):
        _multi(client, ids).json()
    assert len(_multi(client, ids).json()["conversations"]) == 3
    assert FaultRule.parse("reset:target=multiget").target == "multiget"


@pytest.mark.parametrize("target", ["query", "jobs", "multiget"])
def test_409_conflict_on_details_endpoints(sim, client, target):
    sim.faults.add("status", status=409, target=target, on=(1,))
    ids = sim.ground_truth_ids(D2, NOON)[:2]
    calls = {
        "query": lambda: client.post(QUERY, {"interval": DAY}),
        "jobs": lambda: client.post(JOBS, {"interval": DAY}),
        "multiget": lambda: _multi(client, ids),
    }
    body = error_ok(calls[target](), 409, "conflict")
    assert body["message"]
    assert calls[target]().status_code in (200, 202)
    assert FaultRule.parse(f"status:status=409,target={target}").status == 409


def test_control_endpoint_returns_records_by_id(sim, client):
    ids = sim.ground_truth_ids(D2, NOON)[:3]
    resp = requests.post(
        sim.base_url + "/_sim/conversations", json={"ids": [ids[0], UNKNOWN, ids[2]]}, timeout=5
    )
    assert resp.status_code == 200
    assert resp.json()["count"] == 2
    assert resp.json()["conversations"] == _multi(client, [ids[0], ids[2]]).json()["conversations"]
