"""Interval matching, filters, ordering and ground truth (docs/genesys-api.md §1.1-§1.3, §8)."""

from __future__ import annotations

import random

import pytest

from genesys_sim.config import parse_time
from genesys_sim.data import to_ms
from genesys_sim.query import conversation_dims_from_record, segment_dims_from_record
from tests.sim.helpers import DAY, Client


def _ms(text: str) -> int:
    return to_ms(parse_time(text))


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0, conversations_per_day=300)


@pytest.fixture
def client(sim):
    return Client(sim)


def test_paging_a_day_returns_exactly_the_ground_truth(sim, client):
    paged = client.all_pages(DAY, page_size=37)
    truth = sim.ground_truth("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z")
    assert paged == truth
    assert client.query(DAY).json()["totalHits"] == len(truth) > 200


def test_start_day_rule_returns_whole_day_starts_only_if_overlap_disabled(sim, client):
    hour = "2024-05-02T10:00:00.000Z/2024-05-02T11:00:00.000Z"
    sim.configure(overlap_check=False)
    day_ids = [c["conversationId"] for c in client.all_pages(hour)]
    assert day_ids == sim.ground_truth_ids("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z")


def test_overlap_rule_keeps_same_day_conversations_active_in_the_interval(sim, client):
    hour = "2024-05-02T10:00:00.000Z/2024-05-02T11:00:00.000Z"
    got = client.all_pages(hour)
    lo, hi = _ms("2024-05-02T10:00:00Z"), _ms("2024-05-02T11:00:00Z")
    for conv in got:
        start = _ms(conv["conversationStart"])
        end = _ms(conv["conversationEnd"])
        assert start < hi and end >= lo
        assert conv["conversationStart"].startswith("2024-05-02")
    started_before = [c for c in got if _ms(c["conversationStart"]) < lo]
    assert started_before, "long conversations that started earlier that day must match"
    inside = sim.ground_truth_ids("2024-05-02T10:00:00Z", "2024-05-02T11:00:00Z")
    assert set(inside) <= {c["conversationId"] for c in got}


def test_conversation_started_the_day_before_is_never_returned(sim, client):
    got = client.all_pages("2024-05-03T00:00:00.000Z/2024-05-03T01:00:00.000Z")
    assert got and all(c["conversationStart"].startswith("2024-05-03") for c in got)


def test_no_conversations_before_data_start_or_after_now(genesys_sim):
    sim = genesys_sim(
        data_start="2024-05-02T12:00:00Z", now="2024-05-02T18:00:00Z", rate_limit_per_minute=0
    )
    got = Client(sim).all_pages(DAY)
    starts = [c["conversationStart"] for c in got]
    assert got and min(starts) >= "2024-05-02T12:00:00" and max(starts) <= "2024-05-02T18:00:00"


def _segment_filter(kind, *preds):
    return {
        "segmentFilters": [
            {"type": kind, "predicates": [{"dimension": d, "value": v} for d, v in preds]}
        ]
    }


def _segments(conv):
    return segment_dims_from_record(conv)


def test_media_type_filter(client):
    got = client.all_pages(DAY, **_segment_filter("or", ("mediaType", "email")))
    assert got
    assert all(s["mediaType"] == "email" for c in got for s in _segments(c))


def test_or_filter_purpose_customer_or_direction_outbound(client):
    everything = client.all_pages(DAY)
    got = client.all_pages(
        DAY, **_segment_filter("or", ("purpose", "customer"), ("direction", "outbound"))
    )
    assert len(got) == len(everything)  # every conversation has a customer


def test_and_filter_agent_with_wrapup_code_on_same_segment(sim, client):
    conv = next(c for c in client.all_pages(DAY) if any(s.get("wrapUpCode") for s in _segments(c)))
    code = next(s["wrapUpCode"] for s in _segments(conv) if s.get("wrapUpCode"))
    got = client.all_pages(
        DAY, **_segment_filter("and", ("purpose", "agent"), ("wrapUpCode", code))
    )
    assert conv["conversationId"] in {c["conversationId"] for c in got}
    assert all(any(s.get("wrapUpCode") == code for s in _segments(c)) for c in got)
    none = client.all_pages(
        DAY, **_segment_filter("and", ("purpose", "customer"), ("wrapUpCode", code))
    )
    assert none == []


def test_queue_and_user_filters(client):
    sample = client.query(DAY).json()["conversations"]
    agent = next(s for c in sample for s in _segments(c) if s["purpose"] == "agent")
    by_queue = client.all_pages(DAY, **_segment_filter("and", ("queueId", agent["queueId"])))
    by_user = client.all_pages(DAY, **_segment_filter("and", ("userId", agent["userId"])))
    assert by_queue and all(
        any(s.get("queueId") == agent["queueId"] for s in _segments(c)) for c in by_queue
    )
    assert by_user and all(
        any(s.get("userId") == agent["userId"] for s in _segments(c)) for c in by_user
    )


def test_conversation_filters_id_direction_division_with_clauses(client):
    sample = client.query(DAY).json()["conversations"]
    a, b = sample[0], sample[5]
    flt = {
        "conversationFilters": [
            {
                "type": "or",
                "clauses": [
                    {
                        "type": "and",
                        "predicates": [
                            {"dimension": "conversationId", "value": a["conversationId"]},
                            {
                                "dimension": "originatingDirection",
                                "value": a["originatingDirection"],
                            },
                        ],
                    },
                    {
                        "type": "and",
                        "predicates": [
                            {"dimension": "conversationId", "value": b["conversationId"]},
                            {"dimension": "divisionId", "value": b["divisionIds"][0]},
                        ],
                    },
                ],
            }
        ]
    }
    got = client.all_pages(DAY, **flt)
    assert [c["conversationId"] for c in got] == [a["conversationId"], b["conversationId"]]
    outbound = client.all_pages(
        DAY,
        conversationFilters=[
            {
                "type": "and",
                "predicates": [{"dimension": "originatingDirection", "value": "outbound"}],
            }
        ],
    )
    assert outbound and all(c["originatingDirection"] == "outbound" for c in outbound)


def test_metric_range_and_exists_filters_use_rendered_records(client):
    flt = {
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [{"type": "metric", "metric": "tHandle", "range": {"gte": 600000}}],
            }
        ]
    }
    got = client.all_pages(DAY, **flt)
    assert got
    for conv in got:
        assert max(conversation_dims_from_record(conv)["tHandle"]) >= 600000
    ended = client.all_pages(
        DAY,
        conversationFilters=[
            {"type": "and", "predicates": [{"dimension": "conversationEnd", "operator": "exists"}]}
        ],
    )
    assert len(ended) == len(client.all_pages(DAY))


def test_fast_filter_view_equals_rendered_records(sim):
    """The skeleton filter view must agree with the JSON the API serves, at any clock."""
    data = sim.app.data
    rows = data.day(parse_time("2024-05-02").date())
    keys = (
        "purpose",
        "mediaType",
        "direction",
        "segmentType",
        "queueId",
        "userId",
        "wrapUpCode",
        "disconnectType",
    )
    rng = random.Random(1)
    for row in rng.sample(rows, 80):
        for now in (
            row.start,
            data.end_ms(row) - 1,
            data.end_ms(row),
            data.final_ms(row),
            data.final_ms(row) + 10**7,
        ):
            fast = [tuple(d[k] for k in keys) for d in data.segment_dims(row, now)]
            slow = [
                tuple(d.get(k) for k in keys)
                for d in segment_dims_from_record(data.render(row, now))
            ]
            assert sorted(fast, key=str) == sorted(slow, key=str)


@pytest.mark.parametrize("order_by", ["conversationStart", "conversationEnd"])
def test_order_asc_and_desc(client, order_by):
    asc = client.all_pages(DAY, orderBy=order_by, order="asc")
    desc = client.all_pages(DAY, orderBy=order_by, order="desc")
    keys = [c[order_by] for c in asc]
    assert keys == sorted(keys)
    assert [c["conversationId"] for c in desc] == [c["conversationId"] for c in reversed(asc)]


def test_ground_truth_with_filters_equals_filtered_paging(sim, client):
    seg = [{"type": "or", "predicates": [{"dimension": "mediaType", "value": "chat"}]}]
    paged = client.all_pages("2024-05-02T06:00:00Z/2024-05-02T12:00:00Z", segmentFilters=seg)
    truth = sim.ground_truth("2024-05-02T06:00:00Z", "2024-05-02T12:00:00Z", segment_filters=seg)
    truth_ids = {c["conversationId"] for c in truth}
    assert truth_ids <= {c["conversationId"] for c in paged}
    assert all(c in paged for c in truth)
