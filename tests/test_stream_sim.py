"""conversation_details against the simulator: ground truth, STATE, restart, ongoing, faults."""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import timedelta

import pytest

from tap_genesys_analytics import pagination, streams
from tap_genesys_analytics.details_query import parse_instant
from tap_genesys_analytics.streams import base as stream_base
from tests.conftest import SIM_CLIENT_SECRET, run_tap, tap_config_for, use_clock

pytestmark = pytest.mark.integration

START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"
DAY_ENDS = ["2024-05-02T00:00:00+00:00", "2024-05-03T00:00:00+00:00", "2024-05-04T00:00:00+00:00"]


def query_stats(sim):
    return sim.stats["requests"].get("/api/v2/analytics/conversations/details/query", {})


def test_full_extraction_equals_ground_truth(sim, tap_config):
    run = run_tap(tap_config)
    assert run.error is None
    truth = sim.ground_truth(START, END)
    assert len(truth) > 300
    assert Counter(run.ids) == Counter(c["conversationId"] for c in truth)  # same ids, no dups
    assert run.records == truth  # same content, same (start) order


def test_sdk_periodic_state_writes_never_move_the_bookmark(sim, tap_config, monkeypatch):
    monkeypatch.setattr(streams.ConversationDetailsStream, "STATE_MSG_FREQUENCY", 7)
    run = run_tap(tap_config)
    assert len(run.states) > 3
    # periodic SDK states only repeat the last window bookmark (none before the first)
    assert [b for i, b in enumerate(run.bookmarks) if b and b not in run.bookmarks[:i]] == DAY_ENDS
    assert (
        run.final_state["bookmarks"]["conversation_details"]["replication_key_value"]
        == (DAY_ENDS[-1])
    )


def test_state_follows_every_window_with_its_end_as_bookmark(sim, tap_config):
    run = run_tap(tap_config)
    assert run.bookmarks == DAY_ENDS  # exactly one STATE per window
    bookmark = None
    for message in run.messages:
        if message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["conversation_details"].get(
                "replication_key_value"
            )
        elif message["type"] == "RECORD" and bookmark is not None:
            # no record emitted after a STATE belongs before that STATE's bookmark
            start = parse_instant(message["record"]["conversationStart"])
            assert start >= parse_instant(bookmark)
    assert run.final_state["bookmarks"]["conversation_details"] == {
        "replication_key": "conversationStart",
        "replication_key_value": DAY_ENDS[-1],
    }


def test_restart_from_an_emitted_state_resumes_at_the_next_window(sim, tap_config):
    first = run_tap(tap_config)
    after_day_one = first.states[0]
    resumed = run_tap({**tap_config, "lookback": "PT0S"}, state=after_day_one)
    assert resumed.error is None
    assert resumed.ids == [c["conversationId"] for c in sim.ground_truth(DAY_ENDS[0], END)]
    assert resumed.bookmarks == DAY_ENDS  # the SDK echoes the input state first
    # what the first run emitted before that STATE plus the resumed run is everything
    before = first.ids[: len([c for c in first.records if c["conversationStart"] < "2024-05-02"])]
    assert before + resumed.ids == first.ids


def test_restart_rereads_the_lookback_but_never_moves_the_bookmark_backwards(sim, tap_config):
    state = run_tap(tap_config).states[1]  # bookmark 2024-05-03
    resumed = run_tap({**tap_config, "lookback": "P1D"}, state=state)
    assert resumed.ids == [c["conversationId"] for c in sim.ground_truth(DAY_ENDS[0], END)]
    # input echoed by the SDK; the re-read day keeps the old bookmark (no STATE goes backwards)
    assert resumed.bookmarks == DAY_ENDS[1:]


def test_an_open_conversation_is_followed_by_id_until_it_arrives_ended(genesys_sim, fast_stream):
    sim = genesys_sim(
        seed=7, conversations_per_day=400, now="2024-05-07T14:00:00Z", rate_limit_per_minute=0
    )
    use_clock(sim.clock.now)
    config = tap_config_for(
        sim, start_date="2024-05-07T00:00:00Z", end_date=None, lookback="PT0S", window_size="PT6H"
    )
    first = run_tap(config)
    assert first.error is None
    ongoing = [r for r in first.records if "conversationEnd" not in r]
    assert ongoing, "scenario needs conversations still ongoing at the simulated now"
    assert parse_instant(str(first.bookmarks[-1])) == sim.clock.now() - timedelta(minutes=5)

    sim.advance(4 * 86400)  # no simulated conversation lasts longer than 3 days
    second = run_tap(config, state=first.final_state)
    assert second.error is None
    again = {r["conversationId"]: r for r in second.records}
    truth = {c["conversationId"]: c for c in sim.ground_truth("2024-05-07", "2024-05-08")}
    for record in ongoing:  # before the second run's range: they came from the multi-get
        assert "conversationEnd" in again[record["conversationId"]]
        assert again[record["conversationId"]] == truth[record["conversationId"]]
    assert len(second.ids) == len(set(second.ids))  # each once per run
    followed = second.final_state["bookmarks"]["conversation_details"]["open_conversations"]
    still = {cid for day in followed.values() for cid in day}
    assert still  # conversations open at the new now are followed in turn ...
    assert not still & {r["conversationId"] for r in ongoing}  # ... the ended ones no longer


def test_concurrent_and_sequential_runs_emit_identical_record_streams(
    genesys_sim, monkeypatch, fast_stream
):
    sim = genesys_sim(
        seed=3,
        conversations_per_day=200,
        now="2024-05-08T00:00:00Z",
        rate_limit_per_minute=0,
        latency_s=0.005,
    )
    use_clock(sim.clock.now)
    sequential = run_tap(tap_config_for(sim, max_concurrency=1, page_size=25))
    concurrent = run_tap(tap_config_for(sim, max_concurrency=8, page_size=25))
    assert sequential.error is None and concurrent.error is None
    assert concurrent.records == sequential.records
    assert concurrent.bookmarks == sequential.bookmarks == DAY_ENDS


def test_window_past_the_paging_cap_is_split_and_extracted_without_a_400(
    genesys_sim, monkeypatch, fast_stream
):
    sim = genesys_sim(
        seed=5,
        conversations_per_day=300,
        now="2024-05-08T00:00:00Z",
        rate_limit_per_minute=0,
        max_results=150,
    )
    use_clock(sim.clock.now)
    monkeypatch.setattr(pagination, "MAX_RESULTS", 150)
    run = run_tap(tap_config_for(sim, page_size=50, end_date="2024-05-03T00:00:00Z"))
    assert run.error is None
    assert run.ids == [c["conversationId"] for c in sim.ground_truth(START, "2024-05-03T00:00:00Z")]
    assert "400" not in query_stats(sim)
    assert len(run.states) > 2  # sub-windows each got their STATE


def test_server_faults_are_recovered_and_every_record_arrives(sim, tap_config):
    sim.faults.configure(
        {"kind": "status", "rate": 0.2, "status": 503},
        {"kind": "status", "on": (2,), "status": 500},
        {"kind": "reset", "on": (4,)},
        {"kind": "truncated", "on": (5,)},
        {"kind": "html", "on": (6,)},
        {"kind": "empty_page", "on": (7,)},
        {"kind": "hang", "on": (8,), "hang_s": 1.0},
        seed=11,
    )
    run = run_tap({**tap_config, "max_retries": 10, "request_timeout": 0.5})
    assert run.error is None
    assert run.records == sim.ground_truth(START, END)
    assert run.bookmarks == DAY_ENDS


def test_a_429_is_waited_out_for_its_retry_after(sim, tap_config):
    sim.faults.configure({"kind": "rate_limit", "on": (2,), "retry_after": 1})
    run = run_tap(tap_config)
    assert run.error is None
    assert run.records == sim.ground_truth(START, END)
    metrics = run.tap.streams["conversation_details"].client_metrics
    assert metrics["responses_429"] == 1
    assert metrics["retry_after_total_s"] == 1.0
    assert metrics["slept_for_429_s"] == pytest.approx(1.0, abs=0.15)


def test_persistent_fault_stops_with_one_line_naming_window_and_page_and_state_stays_behind(
    sim, tap_config
):
    # a window ends on an empty page: window 1 takes pages 1-3 (requests 1-5 interleave them
    # with the prefetched first pages of the next windows)
    sim.faults.configure({"kind": "status", "on": tuple(range(7, 60)), "status": 502})
    run = run_tap({**tap_config, "max_concurrency": 1, "max_retries": 2})
    assert run.error is not None
    message = str(run.error)
    assert "\n" not in message
    found = re.search(r"window (\S+)/\S+ page (\d+): giving up after 3 tries", message)
    assert found, message
    assert "HTTP 502" in message
    failed_start = parse_instant(found.group(1))
    assert failed_start > parse_instant(START)  # the first window did complete
    # STATE only for the windows fully emitted before the failing one
    assert run.bookmarks == [b for b in DAY_ENDS if parse_instant(b) <= failed_start]
    # every record the STATE covers was emitted (records of the failed window may have been
    # emitted too: no STATE covers them, the next run reads that window again)
    before = {c["conversationId"] for c in sim.ground_truth(START, found.group(1))}
    assert before <= set(run.ids)
    assert SIM_CLIENT_SECRET not in message


def test_revoked_token_is_replaced_once_and_the_run_continues(sim, tap_config):
    sim.faults.configure({"kind": "revoke", "on": (3,)})
    run = run_tap(tap_config)
    assert run.error is None
    assert run.records == sim.ground_truth(START, END)
    assert run.tap.streams["conversation_details"].client_metrics["token_refreshes"] >= 1
    assert sim.stats["tokens_issued"] == 2


def test_unknown_fields_are_logged_once_per_run(sim, tap_config, monkeypatch, caplog):
    original = stream_base.load_schema

    def schema_without_purpose(name):
        schema = original(name)
        if name != "conversation_details":
            return schema
        schema = {**schema, "properties": dict(schema["properties"])}
        schema["properties"].pop("originatingDirection")
        return schema

    monkeypatch.setattr(stream_base, "load_schema", schema_without_purpose)
    with caplog.at_level(logging.WARNING):
        run = run_tap(tap_config)
    assert run.error is None and len(run.records) > 300
    warnings = [r.getMessage() for r in caplog.records if "originatingDirection" in r.getMessage()]
    assert len(warnings) == 1
    assert all("originatingDirection" in r for r in run.records)  # passed on, not dropped


def test_progress_line_per_window(sim, tap_config, caplog):
    with caplog.at_level(logging.INFO):
        run_tap(tap_config)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Window ")]
    assert len(lines) == 3
    assert "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z done:" in lines[0]
    assert "records" in lines[0] and "pages" in lines[0] and "requests" in lines[0]
    assert "1/3 windows" in lines[0] and "3/3 windows" in lines[2]


def test_partitions_left_in_an_old_state_do_not_replay_the_extraction(sim, tap_config):
    state = {
        "bookmarks": {
            "conversation_details": {"partitions": [{"context": {"a": 1}}, {"context": {"a": 2}}]}
        }
    }
    run = run_tap(tap_config, state=state)
    assert run.error is None
    assert run.ids == [c["conversationId"] for c in sim.ground_truth(START, END)]


def test_open_conversations_do_not_hold_the_bookmark_and_are_followed_in_state(
    genesys_sim, fast_stream
):
    sim = genesys_sim(
        seed=7, conversations_per_day=400, now="2024-05-07T14:00:00Z", rate_limit_per_minute=0
    )
    use_clock(sim.clock.now)
    config = tap_config_for(sim, start_date="2024-05-07T00:00:00Z", end_date=None)
    run = run_tap(config)
    assert run.error is None
    now = sim.clock.now()
    open_ids = {r["conversationId"] for r in run.records if "conversationEnd" not in r}
    assert open_ids, "scenario needs conversations still open at the end of the run"
    # the bookmark is the last window's end (now - settle lag), not the oldest open start
    assert parse_instant(str(run.bookmarks[-1])) == now - timedelta(minutes=5)
    followed = run.final_state["bookmarks"]["conversation_details"]["open_conversations"]
    assert {cid for day in followed.values() for cid in day} == open_ids


def test_media_type_filter_is_sent_and_matches_the_ground_truth(sim, tap_config):
    run = run_tap({**tap_config, "media_types": ["voice", "callback"]})
    assert run.error is None
    media_filter = {
        "type": "or",
        "predicates": [
            {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": m}
            for m in ("voice", "callback")
        ],
    }
    truth = sim.ground_truth(START, END, segment_filters=[media_filter])
    assert 0 < len(truth) < len(sim.ground_truth(START, END))
    assert run.records == truth


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "total_hits", "factor": 1.5},  # approximate totalHits: over-announced
        {"kind": "total_hits", "factor": 0.7},  # ... and under-announced
        {"kind": "duplicates", "dup_rate": 0.05},  # duplicates filtered: short pages
    ],
    ids=["overcount", "undercount", "short-pages"],
)
def test_approximate_total_hits_and_short_pages_lose_nothing(sim, tap_config, fault, caplog):
    sim.faults.configure(fault)
    run = run_tap({**tap_config, "page_size": 25})
    assert run.error is None
    assert Counter(run.ids) == Counter(c["conversationId"] for c in sim.ground_truth(START, END))


def test_window_left_short_by_a_persistently_empty_page_holds_the_bookmark_for_a_reread(
    sim, tap_config
):
    # every answer after the first is empty for a while: window 1 gives up on its page 2
    sim.faults.configure({"kind": "empty_page", "on": tuple(range(2, 14))})
    config = {**tap_config, "max_concurrency": 1, "lookback": "PT0S"}
    first = run_tap(config)
    assert first.error is None
    truth = sim.ground_truth(START, END)
    assert len(first.records) < len(truth)  # window 1 lost its page 2
    assert first.bookmarks[-1] == "2024-05-01T00:00:00+00:00"  # held at window 1's start

    sim.faults.configure()
    second = run_tap(config, state=first.final_state)
    assert second.error is None
    assert {r["conversationId"] for r in first.records + second.records} == {
        c["conversationId"] for c in truth
    }
    assert second.bookmarks[-1] == DAY_ENDS[-1]


def test_a_window_with_an_empty_page_holds_the_bookmark_however_old_it_is(sim, tap_config):
    """No age cap: window 1 (a week before the simulator's now) still holds the bookmark."""
    sim.faults.configure({"kind": "empty_page", "on": tuple(range(2, 14))})
    run = run_tap({**tap_config, "max_concurrency": 1})
    assert run.error is None  # nothing after the empty page: totalHits may have over-counted
    assert run.bookmarks[-1] == "2024-05-01T00:00:00+00:00"
