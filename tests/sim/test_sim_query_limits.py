"""Sync query validation and limits (docs/genesys-api.md §1.1, §1.4, §6, §9)."""

from __future__ import annotations

import pytest

from tests.sim.helpers import DAY, QUERY, Client, error_ok


@pytest.fixture
def client(genesys_sim):
    return Client(genesys_sim(rate_limit_per_minute=0))


def test_default_page_size_is_25(client):
    resp = client.post(QUERY, {"interval": DAY})
    assert resp.status_code == 200
    assert len(resp.json()["conversations"]) == 25


@pytest.mark.parametrize("size", [1, 100])
def test_page_size_within_1_to_100_accepted(client, size):
    resp = client.query(page_size=size)
    assert resp.status_code == 200
    assert len(resp.json()["conversations"]) == size


@pytest.mark.parametrize("size", [0, 101, 1000])
def test_page_size_outside_1_to_100_rejected(client, size):
    body = error_ok(client.query(page_size=size), 400, "bad.request")
    assert body["details"][0]["fieldName"] == "paging.pageSize"


def test_page_number_zero_rejected(client):
    error_ok(client.query(page_number=0), 400, "bad.request")


def test_page_1000_of_100_allowed_1001_rejected_with_pagination_message(client):
    assert client.query(page_size=100, page_number=1000).status_code == 200
    body = error_ok(client.query(page_size=100, page_number=1001), 400)
    assert body["message"].startswith("Pagination may not exceed 100000 results.")
    assert "smaller intervals" in body["message"]
    assert client.query(page_size=25, page_number=4000).status_code == 200
    error_ok(client.query(page_size=25, page_number=4001), 400)


def test_interval_over_7_days_without_filters_rejected(client):
    ok = "2024-05-01T00:00:00.000Z/2024-05-08T00:00:00.000Z"
    assert client.query(ok).status_code == 200
    too_long = "2024-05-01T00:00:00.000Z/2024-05-08T00:00:00.001Z"
    body = error_ok(client.query(too_long), 400, "bad.request")
    assert body["message"] == (
        "You must specify a search interval as part of your query that does not exceed 7 days."
    )


def test_interval_up_to_31_days_with_filters(client):
    flt = {
        "segmentFilters": [
            {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
        ]
    }
    ok = "2024-04-20T00:00:00.000Z/2024-05-21T00:00:00.000Z"
    assert client.query(ok, **flt).status_code == 200
    too_long = "2024-04-20T00:00:00.000Z/2024-05-21T00:00:01.000Z"
    body = error_ok(client.query(too_long, **flt), 400)
    assert "does not exceed 31 days" in body["message"]


@pytest.mark.parametrize(
    "interval",
    [
        "2024-05-01",
        "2024-05-01T00:00:00Z",
        "yesterday/today",
        "2024-13-01T00:00:00Z/2024-05-02T00:00:00Z",
        "2024-05-01 00:00/2024-05-02 00:00",
        42,
    ],
)
def test_malformed_interval_is_invalid_date(client, interval):
    error_ok(client.post(QUERY, {"interval": interval}), 400, "invalid.date")


def test_missing_interval_rejected(client):
    error_ok(client.post(QUERY, {"paging": {"pageSize": 10, "pageNumber": 1}}), 400, "bad.request")


def test_interval_end_before_start_rejected(client):
    error_ok(client.query("2024-05-02T00:00:00Z/2024-05-01T00:00:00Z"), 400, "bad.request")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"order": "ascending"}, "order"),
        ({"orderBy": "conversationid"}, "orderBy"),
        (
            {
                "segmentFilters": [
                    {"type": "xor", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
                ]
            },
            "segmentFilters[0].type",
        ),
        (
            {
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "wrapupcode", "value": "x"}]}
                ]
            },
            "segmentFilters[0].predicates[0].dimension",
        ),
        (
            {
                "conversationFilters": [
                    {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
                ]
            },
            "conversationFilters[0].predicates[0].dimension",
        ),
        (
            {
                "segmentFilters": [
                    {
                        "type": "and",
                        "predicates": [
                            {"dimension": "purpose", "operator": "equals", "value": "agent"}
                        ],
                    }
                ]
            },
            "segmentFilters[0].predicates[0].operator",
        ),
    ],
)
def test_bad_enum_values_are_invalid_value(client, extra, field):
    body = error_ok(client.query(**extra), 400, "invalid.value")
    assert body["message"].startswith("Value [")
    assert "Allowable values are:" in body["message"]
    assert body["details"][0]["fieldName"] == field


@pytest.mark.parametrize("field", ["pageToken", "cursor", "dateFrom", "size", "query"])
def test_fields_that_do_not_exist_on_the_request_are_rejected(client, field):
    error_ok(client.post(QUERY, {"interval": DAY, field: "x"}), 400, "bad.request")


def test_unparseable_json_rejected(client):
    resp = client.session.post(
        client.sim.base_url + QUERY,
        data=b"{not json",
        headers={**client.auth, "Content-Type": "application/json"},
    )
    error_ok(resp, 400, "bad.request")


def test_unknown_path_is_404_and_wrong_method_405(client):
    error_ok(client.get("/api/v2/analytics/conversations/details/nothing"), 404, "not.found")
    error_ok(client.get(QUERY), 405)


def test_empty_result_omits_conversations_key(client):
    resp = client.query("2023-01-01T00:00:00Z/2023-01-02T00:00:00Z")
    assert resp.status_code == 200
    assert resp.json() == {"totalHits": 0}
    past_last = client.query(page_number=50)
    assert "conversations" not in past_last.json()
    assert past_last.json()["totalHits"] > 0


def test_aggregation_term_frequency_counts_conversations(client):
    resp = client.query(
        aggregations=[{"type": "termFrequency", "dimension": "mediaType", "size": 10}]
    )
    body = resp.json()
    agg = body["aggregations"][0]
    assert agg["dimension"] == "mediaType"
    assert sum(r["count"] for r in agg["results"]) == body["totalHits"]
