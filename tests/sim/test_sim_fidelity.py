"""Every response kind conforms to the official SDK models (PureCloudPlatformClientV2).

Uses tests/sdk_models.py (conformance_problems, deserialize, iter_model_fields) and, as the
final proof, the official SDK client itself talking to the simulator.
"""

from __future__ import annotations

from typing import Any

import PureCloudPlatformClientV2 as sdk
import pytest

from tests.sdk_models import conformance_problems, deserialize, iter_model_fields
from tests.sim.helpers import JOBS, QUERY, Client

NOON = "2024-05-07T12:00:00Z"
WEEK = "2024-05-01T00:00:00.000Z/2024-05-08T00:00:00.000Z"


@pytest.fixture(scope="module")
def sim():
    from genesys_sim import SimConfig, SimServer

    server = SimServer(
        SimConfig(
            now=NOON,
            rate_limit_per_minute=0,
            conversations_per_day=200,
            late_wrapup_fraction=0.2,
            late_wrapup_delay_s=12 * 3600,
        )
    )
    with server:
        yield server


@pytest.fixture(scope="module")
def client(sim):
    return Client(sim)


@pytest.fixture(scope="module")
def sync_pages(client) -> list[dict[str, Any]]:
    """A week of pages at noon: ended, ongoing and late-wrap-up records of every media type."""
    pages, number = [], 1
    while True:
        body = client.query(WEEK, page_size=100, page_number=number).json()
        pages.append(body)
        if "conversations" not in body:
            return pages
        number += 1


def _job_pages(client, interval=WEEK):
    job = client.post(JOBS, {"interval": interval}).json()["jobId"]
    statuses = [client.get(f"{JOBS}/{job}").json() for _ in range(3)]
    pages, cursor = [], None
    while True:
        params = {"pageSize": 500, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{JOBS}/{job}/results", params=params).json()
        pages.append(body)
        cursor = body.get("cursor")
        if not cursor:
            return job, statuses, pages


def _assert_conforms(obj: Any, model: str, *, sdk_too: bool = True) -> None:
    """``obj`` passes the strict walk (types, exact enums, no unknown fields, no nulls); with
    ``sdk_too`` the SDK's own deserializer takes it as well. The SDK is the more lenient of the
    two (enums compared case-insensitively), so a sample of each kind is run through it: it
    takes most of the time (~0.6 s per 100 records)."""
    problems = conformance_problems(obj, model)
    assert problems == [], problems[:10]
    if sdk_too:
        assert deserialize(obj, model) is not None


def test_sync_query_pages_conform_to_query_response_model(sync_pages):
    records = [c for p in sync_pages for c in p.get("conversations", [])]
    assert len(records) > 1000
    assert any("conversationEnd" not in c for c in records), "ongoing records are covered"
    for number, page in enumerate(sync_pages):
        _assert_conforms(page, "AnalyticsConversationQueryResponse", sdk_too=number % 5 == 0)
    assert all("attributes" not in p for c in records for p in c["participants"])


def test_aggregation_response_conforms(client):
    body = client.query(
        WEEK, aggregations=[{"type": "termFrequency", "dimension": "wrapUpCode", "size": 5}]
    ).json()
    _assert_conforms(body, "AnalyticsConversationQueryResponse")


def test_job_responses_conform(client, sim):
    resp = client.post(JOBS, {"interval": WEEK})
    _assert_conforms(resp.json(), "AsyncQueryResponse")
    _job, statuses, pages = _job_pages(client)
    for status in statuses:
        _assert_conforms(status, "AsyncQueryStatus")
    for number, page in enumerate(pages):
        _assert_conforms(page, "AnalyticsConversationAsyncQueryResponse", sdk_too=number == 0)
    assert any(
        "attributes" in p
        for page in pages
        for c in page.get("conversations", [])
        for p in c["participants"]
    )
    for state in ("FAILED", "CANCELLED", "EXPIRED"):
        sim.jobs.script([state])
        other = client.post(JOBS, {"interval": WEEK}).json()["jobId"]
        for _ in range(3):
            _assert_conforms(client.get(f"{JOBS}/{other}").json(), "AsyncQueryStatus")
    _assert_conforms(client.get(f"{JOBS}/availability").json(), "DataAvailabilityResponse")


def test_error_bodies_conform_to_error_body_model(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=1)
    client = Client(sim)
    sim.faults.add("status", status=503, on=(1,), target="jobs")
    bodies = [
        client.post(QUERY, {"interval": "nope"}),  # 400 invalid.date (uses the 1 allowed call)
        client.post(QUERY, {"interval": WEEK}),  # 429
        client.session.post(sim.base_url + QUERY, json={}),  # 401 authentication.required
    ]
    sim.configure(rate_limit_per_minute=0)
    bodies += [
        client.post(QUERY, {"interval": WEEK, "order": "sideways"}),  # 400 invalid.value
        client.get(f"{JOBS}/availability"),  # 503 fault
        client.get(f"{JOBS}/00000000-0000-4000-8000-000000000000"),  # 404
        client.get(QUERY),  # 405
    ]
    assert [b.status_code for b in bodies] == [400, 429, 401, 400, 503, 404, 405]
    for resp in bodies:
        _assert_conforms(resp.json(), "ErrorBody")


def test_walk_of_sdk_attribute_maps_covers_every_emitted_field_and_enum(sync_pages, client):
    """Walk AnalyticsConversation's swagger_types/attribute_map recursively and check every
    emitted JSON path exists there and every emitted enum value is an allowed value."""
    fields = {f.path: f for f in iter_model_fields("AnalyticsConversation")}
    _, _, job_pages = _job_pages(client, "2024-05-06T00:00:00Z/2024-05-07T00:00:00Z")
    records = [c for p in sync_pages for c in p.get("conversations", [])]
    records += [c for p in job_pages for c in p.get("conversations", [])]
    emitted: dict[str, set[str]] = {}

    def walk(obj: Any, prefix: str) -> None:
        for key, value in obj.items():
            path = f"{prefix}{key}"
            items = value if isinstance(value, list) else [value]
            for item in items:
                field = fields.get(path)
                if isinstance(item, dict) and field and not field.swagger_type.startswith("dict("):
                    walk(item, path + ".")
                elif not isinstance(item, dict):
                    emitted.setdefault(path, set()).add(str(item))

    for record in records:
        walk(record, "")
    unknown = sorted(set(emitted) - set(fields))
    assert unknown == []
    enum_fields = {p: f.allowed_values for p, f in fields.items() if f.allowed_values}
    bad = {
        p: sorted(v - set(enum_fields[p]))
        for p, v in emitted.items()
        if p in enum_fields and v - set(enum_fields[p])
    }
    assert bad == {}
    used_enums = sorted(p for p in emitted if p in enum_fields)
    assert {
        "participants.purpose",
        "participants.sessions.mediaType",
        "participants.sessions.direction",
        "participants.sessions.segments.segmentType",
        "participants.sessions.segments.disconnectType",
        "participants.sessions.flow.flowType",
        "originatingDirection",
    } <= set(used_enums)
    assert len(emitted) >= 60  # realistic breadth of fields


def test_official_sdk_client_works_against_the_simulator(sim):
    api_client = sdk.ApiClient()
    api_client.host = sim.base_url
    api_client = api_client.get_client_credentials_token("sim-client", "sim-secret")
    api = sdk.AnalyticsApi(api_client)
    body = sdk.ConversationQuery()
    body.interval = "2024-05-06T00:00:00.000Z/2024-05-07T00:00:00.000Z"
    paging = sdk.PagingSpec()
    paging.page_size, paging.page_number = 100, 1
    body.paging = paging
    page = api.post_analytics_conversations_details_query(body)
    assert page.total_hits > 100 and len(page.conversations) == 100
    assert page.conversations[0].participants[0].purpose in ("customer", "ivr", "acd", "agent")
    job_body = sdk.AsyncConversationQuery()
    job_body.interval = body.interval
    job = api.post_analytics_conversations_details_jobs(job_body)
    states = [api.get_analytics_conversations_details_job(job.job_id).state for _ in range(3)]
    assert states == ["QUEUED", "PENDING", "FULFILLED"]
    results = api.get_analytics_conversations_details_job_results(job.job_id, page_size=50)
    assert len(results.conversations) == 50 and results.cursor
    assert api.get_analytics_conversations_details_jobs_availability().data_availability_date


MULTI = "/api/v2/analytics/conversations/details"


def test_conversations_by_id_conform(client, sim, sync_pages):
    records = [c for p in sync_pages for c in p.get("conversations", [])]
    ids = [c["conversationId"] for c in records[::40]][:100]
    assert any("conversationEnd" not in c for c in records[::40][:100])
    multi = client.get(MULTI, params={"id": ",".join(ids)})
    _assert_conforms(multi.json(), "AnalyticsConversationWithoutAttributesMultiGetResponse")
    assert len(multi.json()["conversations"]) == len(ids)
    none = client.get(MULTI, params={"id": "00000000-0000-4000-8000-000000000000"})
    _assert_conforms(none.json(), "AnalyticsConversationWithoutAttributesMultiGetResponse")
    for cid in ids[:10]:
        one = client.get(f"/api/v2/analytics/conversations/{cid}/details")
        _assert_conforms(one.json(), "AnalyticsConversationWithoutAttributes")
    sim.faults.add("status", status=409, target="multiget", on=(1,))
    errors = [
        client.get(MULTI, params={"id": ids[0]}),  # 409 fault
        client.get(MULTI),  # 400 no id
        client.get(MULTI, params={"id": ",".join(ids + [f"x{i}" for i in range(101)])}),
        client.get("/api/v2/analytics/conversations/nope/details"),
    ]  # 404
    sim.faults.clear()
    assert [e.status_code for e in errors] == [409, 400, 400, 404]
    for resp in errors:
        _assert_conforms(resp.json(), "ErrorBody")


def test_multi_day_conversation_records_conform(genesys_sim):
    sim = genesys_sim(
        rate_limit_per_minute=0,
        now="2024-05-10T00:00:00Z",
        long_conversation_fraction=1.0,
        conversations_per_day=100,  # ~900 records, ~170 of them still open: every shape
    )
    open_ids = set(sim.open_conversation_ids("2024-05-01", "2024-05-10"))
    records = sim.ground_truth("2024-05-01", "2024-05-10")
    assert len(open_ids) > 50
    assert any(c["conversationId"] in open_ids for c in records)
    for number, conv in enumerate(records):
        sdk_too = number % 10 == 0 or (conv["conversationId"] in open_ids and number % 3 == 0)
        _assert_conforms(conv, "AnalyticsConversationWithoutAttributes", sdk_too=sdk_too)


def test_official_sdk_client_reads_conversations_by_id(sim, sync_pages):
    ids = [c["conversationId"] for c in sync_pages[0]["conversations"][:5]]
    api_client = sdk.ApiClient()
    api_client.host = sim.base_url
    api = sdk.AnalyticsApi(api_client.get_client_credentials_token("sim-client", "sim-secret"))
    multi = api.get_analytics_conversations_details(id=ids)
    assert [c.conversation_id for c in multi.conversations] == ids
    one = api.get_analytics_conversation_details(ids[0])
    assert one.conversation_id == ids[0] and one.participants
