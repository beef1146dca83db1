"""Simulated clock: visibility, ongoing conversations, late wrap-up.

See docs/genesys-api.md §8.4-§8.5.
"""

from __future__ import annotations

from datetime import timedelta

from genesys_sim.config import parse_time
from genesys_sim.data import to_ms
from genesys_sim.query import segment_dims_from_record
from tests.sim.helpers import Client

TODAY = "2024-05-07T00:00:00.000Z/2024-05-08T00:00:00.000Z"


def _wrapups(conv):
    return [s for s in segment_dims_from_record(conv) if s["segmentType"] == "wrapup"]


def test_only_started_conversations_are_visible_and_clock_reveals_more(genesys_sim):
    sim = genesys_sim(now="2024-05-07T12:00:00Z", rate_limit_per_minute=0)
    client = Client(sim)
    noon = client.all_pages(TODAY)
    assert noon and max(c["conversationStart"] for c in noon) <= "2024-05-07T12:00:00.000Z"
    sim.clock.advance(timedelta(hours=6))
    evening = client.all_pages(TODAY)
    assert len(evening) > len(noon)


def test_ongoing_conversation_has_no_end_and_an_open_last_segment_then_ends(genesys_sim):
    sim = genesys_sim(now="2024-05-07T12:00:00Z", rate_limit_per_minute=0)
    client = Client(sim)
    ongoing = [c for c in client.all_pages(TODAY) if "conversationEnd" not in c]
    assert ongoing, "some conversations must still be running at noon"
    conv = ongoing[0]
    segments = segment_dims_from_record(conv)
    assert any("segmentEnd" not in s for s in segments)
    assert not _wrapups(conv)
    sim.clock.set("2024-05-10T12:00:00Z")
    later = sim.ground_truth("2024-05-07T00:00:00Z", "2024-05-08T00:00:00Z")
    same = next(c for c in later if c["conversationId"] == conv["conversationId"])
    assert "conversationEnd" in same
    assert all("segmentEnd" in s for s in segment_dims_from_record(same))


def test_late_wrapup_segment_appears_on_a_later_read(genesys_sim):
    sim = genesys_sim(
        now="2024-05-07T00:00:00Z",
        late_wrapup_fraction=0.3,
        late_wrapup_delay_s=4 * 3600,
        rate_limit_per_minute=0,
    )
    data = sim.app.data
    rows = data.day(parse_time("2024-05-06").date())
    late = [
        r
        for r in rows
        if r.user >= 0
        and data.wrap_visible_ms(r) - data.end_ms(r) > 3600_000
        and data.end_ms(r) < to_ms(parse_time("2024-05-06T20:00:00Z"))
    ]
    assert late
    row = late[0]
    sim.clock.set(
        parse_time("2024-05-06T00:00:00Z")
        + timedelta(
            milliseconds=data.end_ms(row) + 1000 - to_ms(parse_time("2024-05-06T00:00:00Z"))
        )
    )
    first = next(
        c
        for c in sim.ground_truth("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
        if c["conversationId"] == row.conversation_id
    )
    assert "conversationEnd" in first and not _wrapups(first)
    sim.clock.advance(timedelta(hours=7))
    second = next(
        c
        for c in sim.ground_truth("2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
        if c["conversationId"] == row.conversation_id
    )
    assert len(_wrapups(second)) == 1 and _wrapups(second)[0]["wrapUpCode"]
    agent = next(p for p in second["participants"] if p["purpose"] == "agent")
    assert "tAcw" in {m["name"] for m in agent["sessions"][0]["metrics"]}


def test_served_records_follow_the_clock_not_a_stale_cache(genesys_sim):
    sim = genesys_sim(now="2024-05-07T12:00:00Z", rate_limit_per_minute=0)
    client = Client(sim)
    before = client.query(TODAY).json()
    sim.clock.set("2024-05-09T00:00:00Z")
    assert client.query(TODAY).status_code == 401  # a 24 h token expired on the sim clock
    client.token = client.fetch_token()
    after = client.query(TODAY).json()
    assert after["totalHits"] > before["totalHits"]
    assert all("conversationEnd" in c for c in after["conversations"])
