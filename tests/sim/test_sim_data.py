"""Deterministic, lazy, realistic data (docs/simulator.md "Data"; docs/genesys-api.md §3)."""

from __future__ import annotations

import collections

from genesys_sim.config import parse_time
from tests.sim.helpers import DAY, Client

HOT = "2024-05-03"
HOT_INTERVAL = "2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z"


def _page_bytes(sim, **kw):
    return Client(sim).query(DAY, page_size=100, **kw).content


def test_same_seed_same_bytes_different_seed_different_data(genesys_sim):
    a = genesys_sim(seed=11, rate_limit_per_minute=0)
    b = genesys_sim(seed=11, rate_limit_per_minute=0)
    c = genesys_sim(seed=12, rate_limit_per_minute=0)
    assert _page_bytes(a) == _page_bytes(b)
    assert _page_bytes(a, order="desc") == _page_bytes(b, order="desc")
    assert _page_bytes(a) != _page_bytes(c)


def test_records_are_several_kb_with_realistic_shape(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0)
    convs = Client(sim).all_pages(DAY)
    raw = Client(sim).query(DAY, page_size=100).content
    assert 2_000 < len(raw) / 100 < 12_000
    media = collections.Counter(c["participants"][0]["sessions"][0]["mediaType"] for c in convs)
    assert set(media) == {"voice", "chat", "message", "email", "callback"}
    assert media["voice"] > media["callback"]
    purposes = {p["purpose"] for c in convs for p in c["participants"]}
    assert purposes == {"customer", "ivr", "acd", "agent"}
    metrics = {
        m["name"]
        for c in convs
        for p in c["participants"]
        for s in p["sessions"]
        for m in s.get("metrics", [])
    }
    assert {"tHandle", "tTalk", "tAcw", "nConnected", "tAcd", "nOffered", "tIvr"} <= metrics
    wrapups = [
        seg
        for c in convs
        for p in c["participants"]
        for s in p["sessions"]
        for seg in s["segments"]
        if seg["segmentType"] == "wrapup"
    ]
    assert wrapups and all("wrapUpCode" in w for w in wrapups)
    voice = next(c for c in convs if c["participants"][0]["sessions"][0]["mediaType"] == "voice")
    assert "mediaEndpointStats" in voice["participants"][0]["sessions"][0]
    ivr = next(p for c in convs for p in c["participants"] if p["purpose"] == "ivr")
    assert ivr["sessions"][0]["flow"]["flowType"] == "INBOUNDCALL"
    hours = collections.Counter(c["conversationStart"][11:13] for c in convs)
    assert hours["10"] > 3 * hours["03"]  # daily volume curve


def test_timestamps_are_utc_with_milliseconds(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0)
    conv = Client(sim).query(DAY).json()["conversations"][0]
    stamps = [conv["conversationStart"], conv["conversationEnd"]] + [
        seg["segmentStart"]
        for p in conv["participants"]
        for s in p["sessions"]
        for seg in s["segments"]
    ]
    for stamp in stamps:
        assert len(stamp) == 24 and stamp.endswith("Z") and stamp[19] == "."


def test_hot_day_over_100000_conversations_supports_deep_paging(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0, hot_days={HOT: 120_000})
    client = Client(sim)
    first = client.query(HOT_INTERVAL, page_size=100).json()
    assert first["totalHits"] > 100_000
    last_allowed = client.query(HOT_INTERVAL, page_size=100, page_number=1000)
    assert last_allowed.status_code == 200 and len(last_allowed.json()["conversations"]) == 100
    too_deep = client.query(HOT_INTERVAL, page_size=100, page_number=1001)
    assert too_deep.status_code == 400
    hour = client.query("2024-05-03T10:00:00Z/2024-05-03T11:00:00Z", page_size=100).json()
    assert 0 < hour["totalHits"] < 100_000  # the way out: smaller intervals


def test_lazy_generation_keeps_only_touched_days(genesys_sim):
    """~31 million conversations exist (20k/day since 2020); one query builds one day."""
    sim = genesys_sim(
        rate_limit_per_minute=0,
        conversations_per_day=20_000,
        data_start="2020-01-01T00:00:00Z",
        now="2024-05-08T00:00:00Z",
    )
    page = Client(sim).query("2022-02-02T09:00:00Z/2022-02-02T09:01:00Z", page_size=5).json()
    assert page["totalHits"] > 100
    assert list(sim.app.data._days) == [parse_time("2022-02-02").date()]


def test_warm_prerenders_records_without_changing_what_is_served(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0)
    client = Client(sim)
    before = client.all_pages(DAY)
    other = genesys_sim(rate_limit_per_minute=0)
    assert other.warm("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z") == len(before)
    assert len(other.app._records) >= len(before)
    assert Client(other).all_pages(DAY) == before


def test_latency_and_limits_set_after_warm_keep_the_warmed_records(genesys_sim):
    """Benchmarks warm, then set latency and the rate limit: the warmed records must still be
    what is served; a change of what is served (late wrap-ups) drops them."""
    sim = genesys_sim(rate_limit_per_minute=0)
    count = sim.warm("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z")
    version = sim.app.pages.version
    sim.configure(latency_s=0.0, latency_per_page_s=0.0, rate_limit_per_minute=100000)
    sim.configure(job_run_s=1.0, job_clock="wall", prefetch_pages=1)
    assert sim.app.pages.version == version
    Client(sim).all_pages(DAY)
    assert len(sim.app._records) == count  # every record served came from the warm
    sim.configure(late_wrapup_fraction=0.5)
    assert sim.app.pages.version == version + 1


def test_next_pages_are_prebuilt_in_the_background_and_identical(genesys_sim):
    sim = genesys_sim(rate_limit_per_minute=0, prefetch_pages=2)
    plain = genesys_sim(rate_limit_per_minute=0, prefetch_pages=0)
    client, other = Client(sim), Client(plain)
    assert client.query(DAY, page_number=1).content == other.query(DAY, page_number=1).content
    sim.app._prefetch.submit(lambda: None).result()  # single worker: earlier tasks are done
    hits = sim.stats["page_cache_hits"]
    assert client.query(DAY, page_number=2).content == other.query(DAY, page_number=2).content
    assert client.query(DAY, page_number=3).content == other.query(DAY, page_number=3).content
    assert sim.stats["page_cache_hits"] == hits + 2
    assert plain.stats["page_cache_hits"] == 0
