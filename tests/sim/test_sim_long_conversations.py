"""Multi-day conversations (docs/simulator.md "Multi-day conversations"): message/email
conversations that stay open for days to weeks and end later on the simulated clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesys_sim import SimConfig, SimServer
from genesys_sim.config import parse_time
from tests.sim.helpers import DAY, JOBS, Client

D2, D3 = "2024-05-02", "2024-05-03"
ONE = "/api/v2/analytics/conversations/{}/details"


def _media(conv):
    return conv["participants"][0]["sessions"][0]["mediaType"]


def _last_agent_segment(conv):
    agent = [p for p in conv["participants"] if p["purpose"] == "agent"]
    return agent[0]["sessions"][0]["segments"][-1] if agent else None


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(
        rate_limit_per_minute=0,
        token_lifetime_s=10**8,
        now="2024-05-04T00:00:00Z",
        long_conversation_fraction=0.5,
        long_conversation_max_days=21,
    )


def test_default_off_leaves_every_conversation_unchanged(genesys_sim):
    plain = genesys_sim(rate_limit_per_minute=0, now="2024-05-06T00:00:00Z")
    assert plain.config.long_conversation_fraction == 0.0
    assert plain.open_conversation_ids(D2, D3) == []  # nothing lasts longer than 3 days
    stretched = genesys_sim(
        rate_limit_per_minute=0, now="2024-05-06T00:00:00Z", long_conversation_fraction=0.5
    )
    assert stretched.open_conversation_ids(D2, D3)
    assert plain.ground_truth_ids(D2, D3) == stretched.ground_truth_ids(D2, D3)
    changed = [
        (a, b)
        for a, b in zip(plain.ground_truth(D2, D3), stretched.ground_truth(D2, D3), strict=True)
        if a != b
    ]
    assert changed
    for before, after in changed:  # only message/email conversations got longer
        assert _media(before) in ("message", "email")
        start = parse_time(after["conversationStart"])
        end = parse_time(after["conversationEnd"]) if "conversationEnd" in after else None
        assert end is None or end - start >= timedelta(days=1)
        assert parse_time(before["conversationEnd"]) - start < timedelta(days=2)
    assert set(stretched.open_conversation_ids(D2, D3)) <= {
        b["conversationId"] for _a, b in changed
    }


def test_open_conversations_are_message_or_email_without_end_or_wrapup(sim):
    open_ids = sim.open_conversation_ids(D2, D3)
    records = {c["conversationId"]: c for c in sim.ground_truth(D2, D3)}
    agent_handled = [
        c
        for c in records.values()
        if _media(c) in ("message", "email")
        and any(p["purpose"] == "agent" for p in c["participants"])
    ]
    # about half of the agent-handled message/email conversations of the day are still open
    assert 0.3 * len(agent_handled) < len(open_ids) < 0.7 * len(agent_handled)
    for cid in open_ids:
        conv = records[cid]
        assert _media(conv) in ("message", "email")
        assert "conversationEnd" not in conv
        last = _last_agent_segment(conv)
        assert last["segmentType"] == "interact" and "segmentEnd" not in last
        assert "disconnectType" not in last
        segs = [s for p in conv["participants"] for s in p["sessions"][0]["segments"]]
        assert all(s["segmentType"] != "wrapup" for s in segs)


def test_they_end_later_on_the_clock_with_wrapup_and_final_metrics(sim):
    open_ids = sim.open_conversation_ids(D2, D3)
    assert open_ids
    sim.clock.advance(timedelta(days=10))
    still = set(sim.open_conversation_ids(D2, D3))
    assert 0 < len(still) < len(open_ids), "some end within 10 days, some stay open longer"
    sim.clock.set("2024-05-27T00:00:00Z")  # past the longest span (21 days) and any late wrap-up
    assert sim.open_conversation_ids(D2, D3) == []
    now = sim.clock.now()
    for conv in sim.conversations_by_id(open_ids):
        end = parse_time(conv["conversationEnd"])
        assert end - parse_time(conv["conversationStart"]) >= timedelta(days=1)
        assert end <= now
        last = _last_agent_segment(conv)
        assert last["segmentType"] == "wrapup" and "wrapUpCode" in last
        names = {
            m["name"]
            for p in conv["participants"]
            if p["purpose"] == "agent"
            for m in p["sessions"][0]["metrics"]
        }
        assert {"tTalkComplete", "tAcw", "tHandle"} <= names


def test_start_day_matching_indexes_them_by_their_start_day_only(sim):
    client = Client(sim)
    open_ids = set(sim.open_conversation_ids(D2, D3))
    later = client.all_pages("2024-05-03T00:00:00Z/2024-05-04T00:00:00Z")
    assert open_ids.isdisjoint(c["conversationId"] for c in later)
    day = {c["conversationId"]: c for c in client.all_pages(DAY)}
    assert open_ids <= set(day)
    assert all("conversationEnd" not in day[i] for i in open_ids)


def test_ground_truth_reflects_the_current_clock(sim):
    cid = sim.open_conversation_ids(D2, D3)[0]
    before = next(c for c in sim.ground_truth(D2, D3) if c["conversationId"] == cid)
    sim.clock.set("2024-05-27T00:00:00Z")
    after = next(c for c in sim.ground_truth(D2, D3) if c["conversationId"] == cid)
    assert "conversationEnd" not in before and "conversationEnd" in after


def test_jobs_see_open_conversations_active_in_a_later_interval(sim):
    sim.clock.set("2024-05-10T00:00:00Z")
    open_ids = set(sim.open_conversation_ids(D2, D3))
    assert open_ids
    client = Client(sim)
    job = client.post(JOBS, {"interval": "2024-05-08T00:00:00Z/2024-05-09T00:00:00Z"}).json()
    for _ in range(10):
        if client.get(f"{JOBS}/{job['jobId']}").json()["state"] == "FULFILLED":
            break
        sim.clock.advance(60)
    body = client.get(f"{JOBS}/{job['jobId']}/results", params={"pageSize": 1000}).json()
    ids = {c["conversationId"] for c in body.get("conversations", [])}
    assert open_ids <= ids, "activity-overlap matching reaches back over the long span"


def test_cli_and_settings_validation():
    from genesys_sim.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        ["serve", "--long-conversation-fraction", "0.2", "--long-conversation-max-days", "14"]
    )
    cfg = config_from_args(args)
    assert (cfg.long_conversation_fraction, cfg.long_conversation_max_days) == (0.2, 14)
    with pytest.raises(ValueError, match="long_conversation_fraction"):
        SimConfig(long_conversation_fraction=1.5)
    with pytest.raises(ValueError, match="long_conversation_max_days"):
        SimConfig(long_conversation_max_days=0)


def test_control_endpoint_lists_open_conversations(sim):
    import requests

    resp = requests.post(
        sim.base_url + "/_sim/open_conversations", json={"start": D2, "end": D3}, timeout=10
    )
    assert resp.status_code == 200
    assert resp.json()["conversationIds"] == sim.open_conversation_ids(D2, D3)
    assert resp.json()["count"] > 0


def test_single_get_renders_open_then_ended(sim):
    client = Client(sim)
    cid = sim.open_conversation_ids(D2, D3)[0]
    first = client.get(ONE.format(cid)).json()
    assert "conversationEnd" not in first and first == sim.conversation(cid)
    sim.clock.set("2024-05-27T00:00:00Z")
    second = client.get(ONE.format(cid)).json()
    assert "conversationEnd" in second and second == sim.conversation(cid)


def test_sim_server_accepts_the_settings_in_python():
    with SimServer(
        SimConfig(
            long_conversation_fraction=1.0, long_conversation_max_days=2, now="2024-05-03T00:00:00Z"
        )
    ) as sim:
        ids = sim.open_conversation_ids(D2, D3)
        assert ids
        sim.clock.set("2024-05-06T00:00:00Z")
        assert sim.open_conversation_ids(D2, D3) == []
