"""A live index under a pager (docs/simulator.md "Faults"): totalHits wrong both ways with
short pages, a totalHits that moves between requests, rows shifting between pages (``shift``),
and latency that grows with page depth (``latency_per_page_s``)."""

from __future__ import annotations

import pytest
import requests

from genesys_sim import FaultRule
from tests.sim.helpers import DAY, Client

D2, D3 = "2024-05-02", "2024-05-03"


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0, prefetch_pages=0)


@pytest.fixture
def client(sim):
    return Client(sim)


def _pages(client, size=100, interval=DAY):
    """Every page until the first empty one: [(ids, totalHits)]."""
    out: list = []
    number = 1
    while True:
        body = client.query(interval, page_size=size, page_number=number).json()
        ids = [c["conversationId"] for c in body.get("conversations", [])]
        if not ids:
            return out
        out.append((ids, body["totalHits"]))
        number += 1


def test_undercounted_total_hits_with_short_deduplicated_pages(sim, client):
    truth = sim.ground_truth_ids(D2, D3)
    sim.faults.configure(FaultRule("duplicates", dup_rate=0.1), FaultRule("total_hits", factor=0.8))
    pages = _pages(client)
    seen = [i for ids, _ in pages for i in ids]
    assert any(len(ids) < 100 for ids, _ in pages[:-1]), "duplicates shorten inner pages"
    assert len(seen) > len(set(seen)), "some conversations appear on two pages"
    assert set(seen) == set(truth), "reading to the first empty page loses nothing"
    total = pages[0][1]
    assert total < len(truth), "totalHits under-counts the unique conversations"
    stop_at_total = [i for ids, _ in pages[: -(-total // 100)] for i in ids]
    assert set(truth) - set(stop_at_total), "a pager that stops at totalHits loses rows"


def test_overcounted_total_hits_with_short_pages(sim, client):
    truth = sim.ground_truth_ids(D2, D3)
    sim.faults.configure(FaultRule("duplicates", dup_rate=0.1), FaultRule("total_hits", factor=1.5))
    pages = _pages(client)
    assert pages[0][1] > len(truth)
    beyond = client.query(page_size=100, page_number=len(pages) + 1).json()
    assert "conversations" not in beyond and beyond["totalHits"] > len(truth)


def test_total_hits_moves_between_requests_of_the_same_interval(sim, client):
    truth = len(sim.ground_truth_ids(D2, D3))
    sim.faults.add("total_hits", factor=1.0, drift=7)
    totals = [client.query(page_size=10, page_number=1).json()["totalHits"] for _ in range(4)]
    assert totals == [truth, truth + 7, truth + 14, truth + 21]
    sim.faults.configure(FaultRule("total_hits", factor=0.9, drift=-5))
    totals = [client.query(page_size=10, page_number=n).json()["totalHits"] for n in (1, 2, 3)]
    base = round(truth * 0.9)
    assert totals == [base, base - 5, base - 10]


@pytest.mark.parametrize("size", [50, 100])
def test_shift_positive_a_late_early_row_is_missed_and_rows_repeat(sim, client, size):
    truth = sim.ground_truth_ids(D2, D3)
    sim.faults.add("shift", after_page=2, shift_rows=3)
    pages = _pages(client, size)
    seen = [i for ids, _ in pages for i in ids]
    assert truth[:3] and set(truth[:3]).isdisjoint(seen), "the 3 late rows are never seen"
    assert set(seen) == set(truth) - set(truth[:3])
    assert pages[2][0][:3] == pages[1][0][-3:], "page 3 starts with page 2's last 3 rows"
    assert [t for _, t in pages[:2]] == [len(truth) - 3] * 2
    assert pages[2][1] == len(truth), "totalHits grows by 3 once the rows appear"
    assert sim.stats["faults_injected"]["shift"] == 1
    # a second full pass (or a re-read of page 1) shows the moved rows
    again = [i for ids, _ in _pages(client, size) for i in ids]
    assert again == truth


def test_shift_negative_an_early_row_moves_away_and_a_row_is_skipped(sim, client):
    truth = sim.ground_truth_ids(D2, D3)
    sim.faults.add("shift", after_page=1, shift_rows=-2)
    pages = _pages(client, 100)
    seen = [i for ids, _ in pages for i in ids]
    assert set(truth[100:102]).isdisjoint(seen), "rows at the page boundary are skipped"
    assert seen.count(truth[0]) == 2 and seen.count(truth[1]) == 2, "moved rows come again"
    assert seen[-2:] == truth[:2]
    assert {t for _, t in pages} == {len(truth)}, "totalHits does not change"


def test_shift_is_per_query_and_counted_from_configuration(sim, client):
    truth_d2 = sim.ground_truth_ids(D2, D3)
    sim.faults.add("shift", after_page=1, shift_rows=5)
    other = "2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z"
    first_other = client.query(other, page_size=100).json()["conversations"][0]
    assert first_other["conversationId"] == sim.ground_truth_ids("2024-05-03", "2024-05-04")[5]
    assert client.query(page_size=100).json()["conversations"][0]["conversationId"] == truth_d2[5]
    assert client.query(page_size=100).json()["conversations"][0]["conversationId"] == truth_d2[0]
    sim.faults.clear()
    assert client.query(page_size=100).json()["conversations"][0]["conversationId"] == truth_d2[0]


def test_shift_from_cli_spec_and_control_endpoint(sim, client):
    rule = FaultRule.parse("shift:after_page=3,shift_rows=-4")
    assert (rule.kind, rule.after_page, rule.shift_rows, rule.target) == ("shift", 3, -4, "query")
    resp = requests.post(
        sim.base_url + "/_sim/faults",
        timeout=5,
        json={"rules": [{"kind": "shift", "after_page": 1, "shift_rows": 2}]},
    )
    assert resp.status_code == 200 and resp.json()["rules"][0]["shift_rows"] == 2
    assert "shifted" not in resp.json()["rules"][0]
    with pytest.raises(ValueError, match="shift_rows"):
        FaultRule("shift", shift_rows=0)


def test_latency_grows_with_page_depth(sim, client):
    delays: list[float] = []
    sim.app.sleep = delays.append
    sim.configure(latency_s=0.1, latency_per_page_s=0.25)
    for number in (1, 2, 5):
        assert client.query(page_size=10, page_number=number).status_code == 200
    assert delays == pytest.approx([0.1, 0.35, 1.1])
    resp = requests.post(sim.base_url + "/_sim/config", json={"latency_per_page_s": 0.5}, timeout=5)
    assert resp.status_code == 200
    delays.clear()
    client.query(page_size=10, page_number=3)
    assert delays == pytest.approx([1.1])


def test_latency_per_page_default_off_and_cli_flag(sim, client):
    from genesys_sim.cli import build_parser, config_from_args

    delays: list[float] = []
    sim.app.sleep = delays.append
    client.query(page_size=10, page_number=7)
    assert delays == []
    cfg = config_from_args(build_parser().parse_args(["serve", "--latency-per-page", "0.2"]))
    assert cfg.latency_per_page_s == 0.2
