"""The simulator's route table (routes.py) and its one table of fault effects (effects.py)."""

from __future__ import annotations

import base64
import json

from genesys_sim import effects, faults, routes
from genesys_sim.api import SimApp
from genesys_sim.config import SimConfig
from genesys_sim.effects import EFFECTS, Stage

JOB = routes.JOBS_PATH + "/0a1b-2c"
BASIC = "Basic " + base64.b64encode(b"sim-client:sim-secret").decode()
GRANT = b"grant_type=client_credentials"


def _app() -> SimApp:
    app = SimApp(SimConfig(conversations_per_day=40, rate_limit_per_minute=0))
    app.sleep = lambda _s: None
    return app


def _bearer(app: SimApp) -> dict[str, str]:
    token = json.loads(app.handle("POST", "/oauth/token", {"Authorization": BASIC}, GRANT).body)
    return {"Authorization": "Bearer " + token["access_token"]}


def test_every_fault_kind_has_one_effect_in_its_stage():
    assert list(EFFECTS) == [k for k in EFFECTS if k in faults.KINDS]
    assert set(EFFECTS) == set(faults.KINDS)
    before = {Stage.CONNECTION, Stage.CREDENTIALS, Stage.REFUSAL}
    for kind, effect in EFFECTS.items():
        if kind in faults.PRE_KINDS:
            assert effect.stage in before and effect.apply is not None, kind
        elif kind in faults.POST_KINDS:
            assert effect.stage is Stage.BODY and effect.apply is not None, kind
        else:
            assert kind in faults.DATA_KINDS, kind
            assert effect.stage is Stage.INDEX and effect.reindex is not None, kind
            assert effect.apply is None, kind
    on_token = {k for k, e in EFFECTS.items() if e.stage is Stage.BODY and e.on_token}
    assert on_token == {"trickle"}


def test_every_route_is_answered_and_targets_only_known_fault_targets():
    app = _app()
    assert set(app._endpoints) == routes.ENDPOINTS
    templates = [r.template for r in routes.ROUTES]
    assert len(templates) == len(set(templates))
    for route in routes.ROUTES:
        assert route.targets <= set(faults.TARGETS), route.template
        assert set(route.method_targets) <= set(route.methods), route.template
    app.close()


def test_match_names_template_endpoint_and_fault_targets_by_method():
    deleted = routes.match("DELETE", JOB)
    polled = routes.match("GET", JOB)
    put = routes.match("PUT", JOB)
    assert deleted.template == polled.template == routes.JOBS_PATH + "/{jobId}"
    assert (deleted.endpoint, deleted.groups) == ("job_delete", ("0a1b-2c",))
    assert deleted.targets == {"jobs", "jobs_delete", "api"}
    assert polled.endpoint == "job_status" and polled.targets == {"jobs", "jobs_status", "api"}
    assert put.route is not None and put.endpoint is None and put.targets == polled.targets
    results = routes.match("GET", JOB + "/results")
    assert (results.endpoint, results.targets) == ("job_results", {"jobs", "jobs_results", "api"})
    assert routes.match("GET", routes.JOBS_PATH + "/availability").endpoint == "availability"
    assert routes.match("POST", "/oauth/token").public
    assert not routes.match("POST", routes.QUERY_PATH).public
    other = routes.match("GET", "/api/v2/nothing/here")
    assert (other.route, other.template, other.targets) == (None, "other", {"api"})


def test_only_trickle_alters_the_token_answer():
    app = _app()
    app.faults.configure(
        {"kind": "truncated", "target": "any"},
        {"kind": "html", "target": "token"},
        {"kind": "trickle", "target": "token", "trickle_interval_s": 0.5},
    )
    resp = app.handle("POST", "/oauth/token", {"Authorization": BASIC}, GRANT)
    assert resp.status == 200 and resp.content_type == "application/json"
    assert json.loads(resp.body)["token_type"] == "bearer"
    assert resp.trickle_s == 0.5
    assert app.stats.snapshot()["faults_injected"] == {"trickle": 1}
    app.close()


def test_a_body_fault_counts_only_when_it_alters_the_answer():
    app = _app()
    auth = _bearer(app)
    app.faults.configure({"kind": "empty_page", "target": "api"})
    avail = app.handle("GET", routes.JOBS_PATH + "/availability", auth, b"")
    assert avail.status == 200 and "dataAvailabilityDate" in json.loads(avail.body)
    assert app.stats.snapshot()["faults_injected"] == {}
    body = {"interval": "2024-05-02T00:00:00Z/2024-05-03T00:00:00Z"}
    page = app.handle("POST", routes.QUERY_PATH, auth, json.dumps(body).encode())
    assert json.loads(page.body).keys() == {"totalHits"}
    assert app.stats.snapshot()["faults_injected"] == {"empty_page": 1}
    app.close()


def test_the_first_answering_connection_fault_ends_the_request_after_earlier_ones():
    app = _app()
    slept: list[float] = []
    app.sleep = slept.append
    auth = _bearer(app)
    app.faults.configure(
        {"kind": "latency", "latency_s": 0.25, "target": "any"},
        {"kind": "reset", "target": "any"},
        {"kind": "hang", "target": "any"},
    )
    resp = app.handle("GET", routes.JOBS_PATH + "/availability", auth, b"")
    assert (resp.status, resp.action) == (0, "reset")
    assert slept == [0.25]  # the hang after the reset never ran
    assert app.stats.snapshot()["faults_injected"] == {"latency": 1, "reset": 1}
    app.close()


def test_index_state_follows_the_shift_of_each_query():
    app = _app()
    assert effects.index_state(app.faults, "q1") is None
    assert not effects.index_is_live(app.faults)
    app.faults.configure({"kind": "duplicates"}, {"kind": "shift", "after_page": 2})
    assert effects.index_state(app.faults, "q1") == (None, False)
    assert effects.index_is_live(app.faults)
    effects.page_served(app.faults, app.stats, "q1", 1)
    assert effects.index_state(app.faults, "q1") == (None, False)
    effects.page_served(app.faults, app.stats, "q1", 2)
    effects.page_served(app.faults, app.stats, "q1", 2)
    assert effects.index_state(app.faults, "q1") == (None, True)
    assert effects.index_state(app.faults, "q2") == (None, False)
    assert app.stats.snapshot()["faults_injected"] == {"shift": 1}
    app.close()
