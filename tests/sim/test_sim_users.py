"""``POST /api/v2/analytics/users/details/query``: validation like the conversation query, the
SDK response model, paging over users, periods overlapping the interval, open periods, filters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import PureCloudPlatformClientV2 as sdk
import pytest

from genesys_sim import SimConfig, SimServer
from tests.sdk_models import conformance_problems, deserialize, iter_model_fields
from tests.sim.helpers import Client, error_ok

PATH = "/api/v2/analytics/users/details/query"
NOON = "2024-05-07T12:00:00Z"
DAY6 = "2024-05-06T00:00:00.000Z/2024-05-07T00:00:00.000Z"
TODAY = "2024-05-07T00:00:00.000Z/2024-05-08T00:00:00.000Z"


@pytest.fixture(scope="module")
def sim():
    with SimServer(
        SimConfig(now=NOON, rate_limit_per_minute=0, conversations_per_day=300)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim):
    return Client(sim)


def query(
    client: Client, interval: str = DAY6, page_size: int = 100, page_number: int = 1, **extra: Any
) -> dict[str, Any]:
    resp = client.post(
        PATH,
        {
            "interval": interval,
            "paging": {"pageSize": page_size, "pageNumber": page_number},
            **extra,
        },
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def all_pages(
    client: Client, interval: str = DAY6, page_size: int = 100, **extra: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    number = 1
    while True:
        body = query(client, interval, page_size, number, **extra)
        if "userDetails" not in body:
            return out
        out += body["userDetails"]
        number += 1


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_pages_conform_to_the_sdk_response_model(client):
    for interval in (DAY6, TODAY):  # TODAY: open periods at the simulated noon
        for number in (1, 2):
            body = query(
                client,
                interval,
                50,
                number,
                presenceAggregations=[{"type": "termFrequency", "dimension": "systemPresence"}],
            )
            assert body["userDetails"]
            assert conformance_problems(body, "AnalyticsUserDetailsQueryResponse") == []
            assert deserialize(body, "AnalyticsUserDetailsQueryResponse") is not None


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        (
            {"interval": DAY6, "aggregations": []},
            "bad.request",
            'Unrecognized field "aggregations"',
        ),
        (
            {"interval": "2024-05-01T00:00:00Z/2024-05-09T00:00:00Z"},
            "bad.request",
            "does not exceed 7 days",
        ),
        (
            {
                "interval": "2024-04-01T00:00:00Z/2024-05-03T00:00:00Z",
                "userFilters": [
                    {"type": "or", "predicates": [{"dimension": "userId", "value": "x"}]}
                ],
            },
            "bad.request",
            "does not exceed 31 days",
        ),
        ({"interval": DAY6, "paging": {"pageSize": 101}}, "bad.request", "between 1 and 100"),
        (
            {"interval": DAY6, "paging": {"pageSize": 100, "pageNumber": 1001}},
            "bad.request",
            "Pagination may not exceed 100000 results",
        ),
        ({"interval": DAY6, "order": "sideways"}, "invalid.value", "asc, desc, unordered"),
        (
            {
                "interval": DAY6,
                "routingStatusFilters": [
                    {"type": "and", "predicates": [{"dimension": "queueId", "value": "x"}]}
                ],
            },
            "invalid.value",
            "RoutingStatusDetailQueryPredicate.dimension",
        ),
        (
            {
                "interval": DAY6,
                "presenceFilters": [
                    {
                        "type": "xor",
                        "predicates": [{"dimension": "systemPresence", "value": "BREAK"}],
                    }
                ],
            },
            "invalid.value",
            "and, or",
        ),
        (
            {
                "interval": DAY6,
                "routingStatusAggregations": [
                    {"type": "termFrequency", "dimension": "systemPresence"}
                ],
            },
            "invalid.value",
            "routingStatus",
        ),
        ({"interval": "yesterday"}, "invalid.date", "ISO-8601"),
        ({}, "bad.request", "interval"),
    ],
)
def test_invalid_queries_are_rejected_like_the_details_query(client, body, code, text):
    err = error_ok(client.post(PATH, body), 400, code)
    assert text in err["message"]


def test_filtered_interval_up_to_31_days_is_accepted(client):
    body = query(
        client,
        "2024-04-10T00:00:00Z/2024-05-10T00:00:00Z",
        routingStatusFilters=[
            {"type": "or", "predicates": [{"dimension": "routingStatus", "value": "IDLE"}]}
        ],
    )
    assert body["totalHits"] > 0


def test_default_page_size_is_25_and_paging_covers_the_ground_truth(sim, client):
    first = client.post(PATH, {"interval": DAY6}).json()
    assert len(first["userDetails"]) == 25
    pages = all_pages(client, DAY6, page_size=40)
    truth = sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    assert pages == truth
    assert first["totalHits"] == len(truth) > 100
    assert [d["userId"] for d in truth] == sorted(d["userId"] for d in truth)
    past = query(client, DAY6, 100, 10)
    assert "userDetails" not in past and past["totalHits"] == len(truth)


def test_desc_order_reverses_users(client):
    asc = all_pages(client, DAY6)
    desc = all_pages(client, DAY6, order="desc")
    assert [d["userId"] for d in desc] == [d["userId"] for d in reversed(asc)]


def test_periods_are_contiguous_and_overlap_the_interval(sim):
    start, end = _ms("2024-05-06T00:00:00Z"), _ms("2024-05-07T00:00:00Z")
    gone = {u["id"] for u in sim.reference("users") if u["state"] != "active"}
    ended = 0
    for detail in sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z"):
        for key in ("primaryPresence", "routingStatus"):
            periods = detail[key]
            assert _ms(periods[0]["startTime"]) <= start, "the day starts inside a period"
            if _ms(periods[-1]["endTime"]) < end:  # only an agent who left that day
                assert detail["userId"] in gone
                last = periods[-1].get("systemPresence") or periods[-1]["routingStatus"]
                assert last in ("OFFLINE", "OFF_QUEUE")
                ended += 1
            for a, b in pairwise(periods):
                assert a["endTime"] == b["startTime"], (detail["userId"], a, b)
            for p in periods:
                assert _ms(p["startTime"]) < end and _ms(p["endTime"]) > start
    assert ended in (0, 2, 4)  # presence and routing of each departure


def test_open_periods_have_no_end_time_and_history_is_stable(sim, client):
    before = {d["userId"]: d for d in all_pages(client, TODAY)}
    now = _ms(NOON)
    open_count = 0
    for detail in before.values():
        for key in ("primaryPresence", "routingStatus"):
            periods = detail[key]
            assert all(_ms(p["startTime"]) <= now for p in periods), "nothing after the clock"
            assert all("endTime" in p for p in periods[:-1])
            last = periods[-1]
            if "endTime" not in last:
                open_count += 1
            else:  # a departed agent: the history ended
                assert _ms(last["endTime"]) <= now
    assert open_count >= 2 * 140
    sim.advance(timedelta(hours=3))
    try:
        after = {d["userId"]: d for d in all_pages(client, TODAY)}
    finally:
        sim.clock.set(NOON)
    closed_later = 0
    for user, detail in before.items():
        for key in ("primaryPresence", "routingStatus"):
            old, new = detail[key], after[user][key]
            assert new[: len(old) - 1] == old[:-1], "closed periods never change"
            assert new[len(old) - 1]["startTime"] == old[-1]["startTime"]
            if "endTime" not in old[-1] and "endTime" in new[len(old) - 1]:
                closed_later += 1
    assert closed_later > 50


def test_periods_crossing_window_edges_appear_in_both_windows(sim, client):
    """Hourly windows de-duplicated by (userId, startTime) give the day's periods."""
    day = datetime(2024, 5, 6, tzinfo=timezone.utc)
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    repeated = 0
    for hour in range(24):
        a, b = day + timedelta(hours=hour), day + timedelta(hours=hour + 1)
        interval = f"{a:%Y-%m-%dT%H:%M:%SZ}/{b:%Y-%m-%dT%H:%M:%SZ}"
        for detail in all_pages(client, interval):
            for key in ("primaryPresence", "routingStatus"):
                for period in detail[key]:
                    ident = (detail["userId"], key, period["startTime"])
                    if ident in seen:
                        repeated += 1
                        assert seen[ident] == period
                    seen[ident] = period
    truth = {
        (d["userId"], key, p["startTime"]): p
        for d in sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
        for key in ("primaryPresence", "routingStatus")
        for p in d[key]
    }
    assert seen == truth
    assert repeated > 150


def test_filters_select_users_and_periods(sim, client):
    interacting = all_pages(
        client,
        DAY6,
        routingStatusFilters=[
            {"type": "or", "predicates": [{"dimension": "routingStatus", "value": "INTERACTING"}]}
        ],
    )
    assert interacting
    assert {r["routingStatus"] for d in interacting for r in d["routingStatus"]} == {"INTERACTING"}
    truth = sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    busy = {
        d["userId"]
        for d in truth
        if any(r["routingStatus"] == "INTERACTING" for r in d["routingStatus"])
    }
    assert {d["userId"] for d in interacting} == busy
    assert len(busy) < len(truth)
    breaks = all_pages(
        client,
        DAY6,
        presenceFilters=[
            {
                "type": "or",
                "predicates": [
                    {"dimension": "systemPresence", "value": "BREAK"},
                    {"dimension": "systemPresence", "value": "MEAL"},
                ],
            }
        ],
    )
    assert breaks
    assert {p["systemPresence"] for d in breaks for p in d["primaryPresence"]} <= {"BREAK", "MEAL"}
    one = truth[7]["userId"]
    only = all_pages(
        client,
        DAY6,
        userFilters=[{"type": "and", "predicates": [{"dimension": "userId", "value": one}]}],
    )
    assert only == [truth[7]]


def test_routing_status_aggregation_counts_periods(sim, client):
    body = query(
        client,
        DAY6,
        routingStatusAggregations=[{"type": "termFrequency", "dimension": "routingStatus"}],
    )
    truth = sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    counts: dict[str, int] = {}
    for detail in truth:
        for r in detail["routingStatus"]:
            counts[r["routingStatus"]] = counts.get(r["routingStatus"], 0) + 1
    (agg,) = body["aggregations"]
    assert agg["dimension"] == "routingStatus"
    assert {e["value"]: e["count"] for e in agg["results"]} == counts


def test_same_seed_same_answers(genesys_sim):
    bodies = []
    for _ in range(2):
        client = Client(genesys_sim(now=NOON, conversations_per_day=100))
        bodies.append(client.post(PATH, {"interval": TODAY, "paging": {"pageSize": 100}}).content)
    assert bodies[0] == bodies[1]


def test_control_endpoint_serves_the_ground_truth(sim, client):
    resp = client.session.post(
        sim.base_url + "/_sim/analyst/users_details",
        json={"start": "2024-05-06T00:00:00Z", "end": "2024-05-07T00:00:00Z"},
    )
    assert resp.status_code == 200
    body = resp.json()
    truth = sim.ground_truth_users_details("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
    assert body == {"count": len(truth), "userDetails": truth}
    bad = client.session.post(sim.base_url + "/_sim/analyst/users_details", json={"start": "x"})
    assert bad.status_code == 400


def test_walk_of_sdk_attribute_maps_covers_every_emitted_field_and_enum(client):
    fields = {f.path: f for f in iter_model_fields("AnalyticsUserDetailsQueryResponse")}
    emitted: dict[str, set[str]] = {}

    def walk(obj: Any, prefix: str) -> None:
        for key, value in obj.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    walk(item, f"{prefix}{key}.")
                else:
                    emitted.setdefault(f"{prefix}{key}", set()).add(str(item))

    for interval in (DAY6, TODAY):
        walk(
            query(
                client,
                interval,
                routingStatusAggregations=[{"type": "termFrequency", "dimension": "routingStatus"}],
            ),
            "",
        )
    assert sorted(set(emitted) - set(fields)) == []
    assert {
        "userDetails.userId",
        "userDetails.primaryPresence.startTime",
        "userDetails.primaryPresence.endTime",
        "userDetails.primaryPresence.systemPresence",
        "userDetails.primaryPresence.organizationPresenceId",
        "userDetails.routingStatus.startTime",
        "userDetails.routingStatus.endTime",
        "userDetails.routingStatus.routingStatus",
        "totalHits",
    } <= set(emitted)
    presence = fields["userDetails.primaryPresence.systemPresence"].allowed_values
    routing = fields["userDetails.routingStatus.routingStatus"].allowed_values
    assert (
        emitted["userDetails.primaryPresence.systemPresence"]
        == {"OFFLINE", "AVAILABLE", "ON_QUEUE", "BREAK", "MEAL", "TRAINING"}
        <= set(presence)
    )
    assert (
        emitted["userDetails.routingStatus.routingStatus"]
        == {"OFF_QUEUE", "IDLE", "INTERACTING", "NOT_RESPONDING"}
        <= set(routing)
    )


def test_official_sdk_client_reads_user_details(sim):
    api_client = sdk.ApiClient()
    api_client.host = sim.base_url
    api_client = api_client.get_client_credentials_token("sim-client", "sim-secret")
    body = sdk.UserDetailsQuery()
    body.interval = TODAY
    paging = sdk.PagingSpec()
    paging.page_size, paging.page_number = 100, 2
    body.paging = paging
    page = sdk.AnalyticsApi(api_client).post_analytics_users_details_query(body)
    assert page.total_hits > 100 and len(page.user_details) == page.total_hits - 100
    assert page.user_details[0].routing_status[0].routing_status in (
        "OFF_QUEUE",
        "IDLE",
        "INTERACTING",
        "NOT_RESPONDING",
    )
    assert any(p.end_time is None for d in page.user_details for p in d.primary_presence)
