"""Open conversations followed by id until they end (pure): bookkeeping and the state form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tap_genesys_analytics.open_conversations import OpenConversations, OpenConversationsError

UTC = timezone.utc


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, ms * 1000, tzinfo=UTC)


def test_follow_end_and_lookup():
    open_ = OpenConversations({"a": at(1, 9)})
    assert len(open_) == 1 and "a" in open_ and "b" not in open_
    open_.follow("b", at(2, 10))
    assert (len(open_), open_.start_of("b"), open_.start_of("zz")) == (2, at(2, 10), None)
    open_.follow("b", at(2, 11))  # seen again: the latest start wins
    assert open_.start_of("b") == at(2, 11)
    open_.end("a")
    open_.end("never-followed")  # no-op
    assert ("a" in open_, len(open_)) == (False, 1)
    assert len(OpenConversations()) == 0
    assert len(OpenConversations(None)) == 0


def test_entries_are_copied_not_shared():
    entries = {"a": at(1)}
    open_ = OpenConversations(entries)
    open_.end("a")
    assert entries == {"a": at(1)}


def test_due_lists_those_started_before_oldest_first_ties_by_id():
    open_ = OpenConversations({"c": at(3), "b": at(1, 5), "a": at(1, 5), "d": at(2)})
    assert open_.due(at(3)) == ["a", "b", "d"]  # at(3) itself is not before at(3)
    assert open_.due(at(3) + timedelta(milliseconds=1)) == ["a", "b", "d", "c"]
    assert open_.due(at(1, 5)) == []
    assert len(open_) == 4  # due() only reads


def test_abandon_started_before_removes_and_returns_them():
    open_ = OpenConversations({"old": at(1), "edge": at(2), "new": at(3)})
    assert open_.abandon_started_before(at(2)) == ["old"]
    assert ("old" in open_, "edge" in open_, len(open_)) == (False, True, 2)
    assert open_.abandon_started_before(at(1)) == []
    assert sorted(open_.abandon_started_before(at(4))) == ["edge", "new"]
    assert len(open_) == 0


def test_forget_stops_following_the_given_ids():
    open_ = OpenConversations({"a": at(1), "b": at(2), "c": at(3)})
    open_.forget(iter(["a", "c", "unknown"]))
    assert (len(open_), "b" in open_) == (1, True)


def test_state_is_compact_sorted_and_round_trips():
    open_ = OpenConversations(
        {"z": at(1, 0, 0, 0, 1), "y": at(2, 23, 59, 59, 999), "x": at(1), "w": at(1)}
    )
    state = open_.to_state()
    assert state == {"2024-05-01": {"w": 0, "x": 0, "z": 1}, "2024-05-02": {"y": 86_399_999}}
    assert list(state) == ["2024-05-01", "2024-05-02"]
    assert list(state["2024-05-01"]) == ["w", "x", "z"]
    back = OpenConversations.from_state(state)
    assert back.to_state() == state
    assert back.start_of("y") == at(2, 23, 59, 59, 999)
    assert back.start_of("y").tzinfo == UTC  # type: ignore[union-attr]
    assert OpenConversations().to_state() == {}


def test_state_orders_by_start_then_id():
    open_ = OpenConversations({"b": at(1, 1), "a": at(1, 2), "c": at(1, 1)})
    assert list(open_.to_state()["2024-05-01"]) == ["b", "c", "a"]


def test_missing_state_is_empty():
    assert len(OpenConversations.from_state(None)) == 0
    assert len(OpenConversations.from_state({})) == 0


def test_day_bounds_are_accepted_inclusive_of_zero_exclusive_of_a_day():
    open_ = OpenConversations.from_state({"2024-05-01": {"a": 0, "b": 86_399_999}})
    assert (open_.start_of("a"), open_.start_of("b")) == (at(1), at(1, 23, 59, 59, 999))
    ids = OpenConversations.from_state({"2024-05-01": {7: 5}})
    assert ids.start_of("7") == at(1, 0, 0, 0, 5)  # ids are strings


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([1, 2], r"^must be an object, got list$"),
        ("x", r"^must be an object, got str$"),
        ({"May 1": {}}, r"^'May 1' is not a YYYY-MM-DD day$"),
        ({"2024-05-01": [1]}, r"^2024-05-01: must be an object of id -> ms$"),
        ({"2024-05-01": {"a": "5"}}, r"^2024-05-01\.a: must be an integer$"),
        ({"2024-05-01": {"a": 5.0}}, r"^2024-05-01\.a: must be an integer$"),
        ({"2024-05-01": {"a": True}}, r"^2024-05-01\.a: must be an integer$"),
        ({"2024-05-01": {"a": -1}}, r"^2024-05-01\.a: -1 is not within a day$"),
        ({"2024-05-01": {"a": 86_400_000}}, r"^2024-05-01\.a: 86400000 is not within a day$"),
    ],
)
def test_malformed_state_is_refused_with_one_line_naming_the_place(state, message):
    with pytest.raises(OpenConversationsError, match=message):
        OpenConversations.from_state(state)


def test_malformed_state_errors_are_value_errors():
    assert issubclass(OpenConversationsError, ValueError)
