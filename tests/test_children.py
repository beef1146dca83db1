"""The normalized conversation tables: derived from the parent's records, no extra request."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonschema
import pytest

from tap_genesys_analytics.streams import STREAM_CLASSES
from tap_genesys_analytics.tap import TapGenesysAnalytics
from tests.conftest import TapRun, run_tap
from tests.ground_truth import KEYS, child_rows

pytestmark = pytest.mark.integration

CHILDREN = {
    name: KEYS[name]
    for name in KEYS
    if name.startswith("conversation_") and (name != "conversation_details")
}
ALL = {"conversation_details", *CHILDREN}


def run_selected(config: dict[str, Any], selected: set[str], state: Any = None) -> TapRun:
    run = run_tap(config, state, streams=selected)
    assert run.error is None, run.error
    return run


def rows(run: TapRun, stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_discovery_lists_every_stream_with_keys_and_replication(sim, tap_config):
    catalog = TapGenesysAnalytics(config=tap_config).catalog_dict
    entries = {e["tap_stream_id"]: e for e in catalog["streams"]}
    assert set(CHILDREN) | {"conversation_details"} <= set(entries)
    for name, keys in CHILDREN.items():
        root = next(m["metadata"] for m in entries[name]["metadata"] if m["breadcrumb"] == [])
        assert entries[name]["key_properties"] == keys == root["table-key-properties"]
        assert entries[name]["replication_method"] == "INCREMENTAL"
        assert root["valid-replication-keys"] == ["conversationStart"]
    names = [e["tap_stream_id"] for e in catalog["streams"]]
    assert len(names) == len(set(names)) == len(STREAM_CLASSES)


def test_child_rows_equal_the_nested_data_of_their_parent(sim, tap_config):
    run = run_selected(tap_config, ALL)
    assert run.error is None
    parents = rows(run, "conversation_details")
    assert len(parents) > 300
    for name, keys in CHILDREN.items():
        got = rows(run, name)
        assert got == child_rows(parents, name), name
        assert len({tuple(r[k] for k in keys) for r in got}) == len(got), f"{name}: keys unique"
        schema = TapGenesysAnalytics(config=tap_config).streams[name].schema
        validator = jsonschema.Draft7Validator(schema)
        for row in got[:200]:
            validator.validate(row)
    requests = sum(sim.stats["requests"]["/api/v2/analytics/conversations/details/query"].values())
    plain = run_selected(tap_config, {"conversation_details"})
    assert plain.records == parents
    again = sum(sim.stats["requests"]["/api/v2/analytics/conversations/details/query"].values())
    assert again - requests == requests  # the children cost no request of their own


def test_rows_follow_their_parent_and_come_before_the_window_state(sim, tap_config):
    run = run_selected(tap_config, ALL)
    kinds = [(m["type"], m.get("stream")) for m in run.messages]
    for child in CHILDREN:  # one SCHEMA per table (the SDK's child syncs would send one a record)
        assert kinds.count(("SCHEMA", child)) == 1, child
    first_child_record = kinds.index(("RECORD", "conversation_segments"))
    assert kinds.index(("SCHEMA", "conversation_segments")) < first_child_record
    parent_at = max(
        i
        for i, k in enumerate(kinds[:first_child_record])
        if k == ("RECORD", "conversation_details")
    )
    assert all(
        k[1] != "conversation_details" or k[0] != "STATE"
        for k in kinds[parent_at:first_child_record]
    )
    # every child row of a window comes before that window's STATE
    states = [i for i, k in enumerate(kinds) if k[0] == "STATE"]
    last_child = max(i for i, k in enumerate(kinds) if k == ("RECORD", "conversation_segments"))
    assert last_child < states[-1]


@pytest.mark.parametrize("child", sorted(CHILDREN))
def test_selecting_only_a_child_writes_no_parent_record(sim, tap_config, child):
    run = run_selected(tap_config, {child})
    streams = Counter(m.get("stream") for m in run.messages if m["type"] == "RECORD")
    assert set(streams) == {child} and streams[child] > 0
    assert not [
        m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "conversation_details"
    ]
    assert run.states, "the parent's bookmark still moves"


def test_a_re_read_upserts_segments_instead_of_duplicating(sim, tap_config):
    """A late wrap-up segment arrives in a later read: same keys for the segments seen before."""
    config = {**tap_config, "start_date": "2024-05-07T00:00:00Z", "end_date": None}
    first = run_selected(config, ALL)
    sim.advance(2 * 86400)
    second = run_selected(config, ALL, first.final_state)
    keys = CHILDREN["conversation_segments"]
    before = {tuple(r[k] for k in keys) for r in rows(first, "conversation_segments")}
    after = {tuple(r[k] for k in keys) for r in rows(second, "conversation_segments")}
    re_read = {r["conversationId"] for r in rows(second, "conversation_details")}
    kept = {k for k in before if k[0] in re_read}
    assert kept and kept <= after  # a re-read keeps each earlier segment's key
    assert len(after) == len(rows(second, "conversation_segments"))
