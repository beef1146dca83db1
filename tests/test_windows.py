"""Window math: UTC-day alignment, exact tiling, lookback resume, splitting, safe bookmarks."""

from __future__ import annotations

import dataclasses
import itertools
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tap_genesys_analytics import windows as windows_module
from tap_genesys_analytics.windows import (
    MAX_INTERVAL,
    MAX_INTERVAL_FILTERED,
    MIN_WINDOW,
    Window,
    WindowTooSmall,
    floor_day,
    format_instant,
    plan_windows,
    resume_point,
    safe_bookmark,
    split_window,
    to_millis,
)

UTC = timezone.utc
US = timedelta(microseconds=1)
MS = timedelta(milliseconds=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, ms * 1000, tzinfo=UTC)


def is_boundary(point: datetime, size: timedelta) -> bool:
    """A point where a planned window may end (other than the plan's own end)."""
    since_midnight = point - floor_day(point)
    if size >= D:
        return since_midnight == timedelta(0)
    return since_midnight % size == timedelta(0)


def assert_tiles(windows: list[Window], start: datetime, end: datetime) -> None:
    assert windows[0].start == start
    assert windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start  # no gap, no overlap
    assert windows == sorted(windows)


# --- planning -----------------------------------------------------------------------------


def test_whole_days_plan_one_window_per_utc_day() -> None:
    windows = plan_windows(at(1), at(4), D)
    assert [w.interval for w in windows] == [
        "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
        "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z",
        "2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z",
    ]


def test_mid_day_start_and_end_give_short_first_and_last_windows() -> None:
    windows = plan_windows(at(1, 13, 47, 12, 345), at(3, 6), D)
    assert [(w.start, w.end) for w in windows] == [
        (at(1, 13, 47, 12, 345), at(2)),
        (at(2), at(3)),
        (at(3), at(3, 6)),
    ]
    assert windows[0].interval == "2024-05-01T13:47:12.345Z/2024-05-02T00:00:00.000Z"


def test_sub_day_sizes_align_within_the_day_and_restart_at_midnight() -> None:
    windows = plan_windows(at(1, 2, 30), at(2, 6), timedelta(hours=5))
    assert [(w.start, w.end) for w in windows] == [
        (at(1, 2, 30), at(1, 5)),
        (at(1, 5), at(1, 10)),
        (at(1, 10), at(1, 15)),
        (at(1, 15), at(1, 20)),
        (at(1, 20), at(2)),  # a 5-hour grid does not divide the day: short slice at midnight
        (at(2), at(2, 5)),
        (at(2, 5), at(2, 6)),
    ]


def test_multi_day_windows_start_on_the_first_day_and_never_exceed_the_max_interval() -> None:
    windows = plan_windows(at(1, 12), at(20), timedelta(days=7))
    assert [(w.start, w.end) for w in windows] == [
        (at(1, 12), at(8)),
        (at(8), at(15)),
        (at(15), at(20)),
    ]
    capped = plan_windows(at(1), at(31), timedelta(days=30), max_interval=timedelta(days=7))
    assert max(w.duration for w in capped) == timedelta(days=7)
    assert_tiles(capped, at(1), at(31))


def test_empty_or_reversed_range_plans_nothing() -> None:
    assert plan_windows(at(2), at(2), D) == []
    assert plan_windows(at(3), at(2), D) == []


def test_planning_rejects_naive_datetimes_and_non_positive_sizes() -> None:
    with pytest.raises(ValueError, match="naive"):
        plan_windows(datetime(2024, 5, 1), at(2), D)
    with pytest.raises(ValueError, match="at least 1 ms"):
        plan_windows(at(1), at(2), timedelta(0))
    with pytest.raises(ValueError, match="at least 1 ms"):
        plan_windows(at(1), at(2), timedelta(microseconds=999))  # floors to 0 ms
    with pytest.raises(ValueError, match="at least 1 ms"):
        plan_windows(at(1), at(2), -D)


def test_other_timezones_are_converted_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    windows = plan_windows(datetime(2024, 5, 1, 2, tzinfo=plus2), at(2), D)
    assert [(w.start, w.end) for w in windows] == [(at(1), at(2))]
    assert windows[0].start.tzinfo == UTC


SIZES = [H, 2 * H, 3 * H, 5 * H, 7 * H, 12 * H, D, 2 * D, 3 * D, 7 * D]
STARTS = [
    at(1),
    at(1, 0, 0, 0, 1),
    at(1, 0, 59, 59, 999),
    at(1, 11, 30),
    at(1, 23, 59, 59),
    at(2, 5, 0, 0, 500),
]
LENGTHS = [
    timedelta(milliseconds=1),
    timedelta(minutes=1),
    H,
    5 * H + timedelta(minutes=7),
    D,
    D + timedelta(seconds=1),
    3 * D + 7 * H,
    16 * D,
    31 * D,
]


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_every_plan_tiles_the_range_exactly_on_aligned_boundaries(size: timedelta) -> None:
    for start, length in itertools.product(STARTS, LENGTHS):
        end = start + length
        windows = plan_windows(start, end, size)
        assert_tiles(windows, start, end)
        for w in windows:
            assert w.duration <= size
            assert w.duration <= timedelta(days=7)
            assert w.start.tzinfo == UTC and w.end.tzinfo == UTC
        for w in windows[:-1]:
            assert is_boundary(w.end, size), (size, start, length, w)
        # every window except the first and last has the full size (or a day's remainder)
        for w in windows[1:-1]:
            assert w.duration == size or (size < D and w.end == floor_day(w.start) + D)
        if size <= D:  # never spans a UTC midnight: touches exactly one day index
            for w in windows:
                assert floor_day(w.start) == floor_day(w.end - timedelta(microseconds=1))


def test_each_instant_is_owned_by_exactly_one_window() -> None:
    windows = plan_windows(at(1, 3), at(4, 9), 6 * H)
    probe = at(1, 3)
    while probe < at(4, 9):
        assert sum(w.owns(probe) for w in windows) == 1
        probe += timedelta(minutes=37, milliseconds=1)
    assert not any(w.owns(at(4, 9)) for w in windows)
    assert not any(w.owns(at(1, 2, 59, 59, 999)) for w in windows)


# --- Window ---------------------------------------------------------------------------------


def test_window_interval_uses_millisecond_utc_instants() -> None:
    w = Window(at(1, 0, 0, 0, 5), at(1, 1))
    assert w.interval == "2024-05-01T00:00:00.005Z/2024-05-01T01:00:00.000Z"
    assert str(w) == w.interval
    assert format_instant(datetime(2024, 5, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == (
        "2024-05-01T00:00:00.000Z"
    )


def test_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="empty window"):
        Window(at(1), at(1))


# --- resume_point ----------------------------------------------------------------------------


def test_first_run_starts_at_start_date() -> None:
    assert resume_point(at(1), None, timedelta(days=3)) == at(1)


def test_restart_reads_from_bookmark_minus_lookback() -> None:
    assert resume_point(at(1), at(10), timedelta(days=3)) == at(7)
    assert resume_point(at(1), at(10, 13, 47), timedelta(0)) == at(10, 13, 47)


def test_lookback_never_reaches_before_start_date() -> None:
    assert resume_point(at(5), at(6), timedelta(days=3)) == at(5)
    assert resume_point(at(5), at(2), timedelta(days=3)) == at(5)  # start_date moved forward


# --- split_window ----------------------------------------------------------------------------


def test_split_halves_a_day_exactly() -> None:
    first, second = split_window(Window(at(1), at(2)))
    assert (first.start, first.end, second.start, second.end) == (
        at(1),
        at(1, 12),
        at(1, 12),
        at(2),
    )


def test_repeated_splits_tile_the_window_down_to_the_minimum() -> None:
    pending = [Window(at(1, 0, 0, 0, 7), at(2))]
    leaves: list[Window] = []
    while pending:
        w = pending.pop()
        try:
            a, b = split_window(w)
        except WindowTooSmall:
            leaves.append(w)
            continue
        assert a.end == b.start and a.start == w.start and b.end == w.end
        assert a.duration >= MIN_WINDOW and b.duration >= MIN_WINDOW
        assert abs(a.duration - b.duration) <= timedelta(seconds=2)  # whole-second midpoint
        assert a.end.microsecond == 0 or a.duration < 2 * MIN_WINDOW
        pending.extend([b, a])
    leaves.sort()
    assert_tiles(leaves, at(1, 0, 0, 0, 7), at(2))
    assert all(MIN_WINDOW <= w.duration < 2 * MIN_WINDOW for w in leaves)


def test_split_refuses_windows_whose_halves_would_be_below_one_minute() -> None:
    split_window(Window(at(1), at(1, 0, 2)))  # exactly two minutes: fine
    with pytest.raises(WindowTooSmall, match="cannot be split"):
        split_window(Window(at(1), at(1, 0, 1, 59, 999)))


def test_split_falls_back_to_the_exact_millisecond_midpoint_when_rounding_leaves_a_short_half() -> (
    None
):
    """Start at .500 s, 120.2 s long: the whole-second midpoint (00:01:00) would leave a first
    half of 59.5 s, under the one-minute minimum; the exact midpoint 00:01:00.600 is used."""
    window = Window(at(1, 0, 0, 0, 500), at(1, 0, 2, 0, 700))
    first, second = split_window(window)
    assert (first.start, first.end) == (at(1, 0, 0, 0, 500), at(1, 0, 1, 0, 600))
    assert (second.start, second.end) == (at(1, 0, 1, 0, 600), at(1, 0, 2, 0, 700))


def test_split_keeps_a_whole_second_midpoint_that_leaves_exactly_the_minimum() -> None:
    window = Window(at(1), at(1, 0, 2, 1))  # 121 s: midpoint 00:01:00.500 -> 00:01:00
    first, second = split_window(window)
    assert first.end == second.start == at(1, 0, 1)
    assert (first.duration, second.duration) == (MIN_WINDOW, timedelta(seconds=61))


def test_split_fallback_midpoint_is_floored_to_the_millisecond() -> None:
    window = Window(at(1, 0, 0, 0, 500), at(1, 0, 2, 0, 701))  # exact midpoint at .6005 s
    first, second = split_window(window)
    assert first.end == second.start == at(1, 0, 1, 0, 600)


def test_split_rounds_the_midpoint_down_to_a_whole_second_when_both_halves_stay_long() -> None:
    window = Window(at(1, 0, 0, 0, 250), at(1, 1, 0, 0, 950))  # midpoint 00:30:00.600
    first, second = split_window(window)
    assert first.end == second.start == at(1, 0, 30)
    # a custom minimum is honoured
    with pytest.raises(WindowTooSmall):
        split_window(Window(at(1), at(1, 1)), minimum=timedelta(minutes=31))
    a, _ = split_window(Window(at(1), at(1, 1)), minimum=timedelta(minutes=30))
    assert a.end == at(1, 0, 30)


# --- one precision: whole milliseconds --------------------------------------------------------


def test_to_millis_floors_to_a_whole_millisecond_in_utc() -> None:
    assert to_millis(at(1, 2, 3, 4, 5) + 999 * US) == at(1, 2, 3, 4, 5)
    assert to_millis(datetime(2024, 5, 1, 0, 0, 0, 999_999, tzinfo=UTC)) == at(1, 0, 0, 0, 999)
    assert to_millis(at(1, 0, 0, 0, 7)) == at(1, 0, 0, 0, 7)
    plus2 = datetime(2024, 5, 1, 2, 0, 0, 1_500, tzinfo=timezone(timedelta(hours=2)))
    result = to_millis(plus2)
    assert (result, result.tzinfo, result.microsecond) == (at(1, 0, 0, 0, 1), UTC, 1_000)
    with pytest.raises(ValueError, match="naive"):
        to_millis(datetime(2024, 5, 1))


def test_window_bounds_are_stored_exactly_as_the_interval_sends_them() -> None:
    w = Window(at(1, 0, 0, 0, 5) + 700 * US, at(1, 1) + 999 * US)
    assert (w.start, w.end) == (at(1, 0, 0, 0, 5), at(1, 1))
    assert w.interval == "2024-05-01T00:00:00.005Z/2024-05-01T01:00:00.000Z"
    assert w.start.tzinfo == UTC
    with pytest.raises(ValueError, match="empty window"):
        Window(at(1) + 100 * US, at(1) + 900 * US)  # the same millisecond
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.start = at(2)  # type: ignore[misc]


def test_plans_resume_points_and_bookmarks_are_whole_milliseconds() -> None:
    start, end = at(1, 3) + 400 * US, at(2, 5, 0, 0, 12) + 900 * US
    windows = plan_windows(start, end, 7 * H)
    assert windows[0].start == at(1, 3) and windows[-1].end == at(2, 5, 0, 0, 12)
    assert all(w.start.microsecond % 1000 == 0 == w.end.microsecond % 1000 for w in windows)
    assert plan_windows(at(1) + 100 * US, at(1) + 900 * US, D) == []  # within one millisecond
    assert resume_point(at(1) + 600 * US, None, D) == at(1)
    assert resume_point(at(1), at(9, 0, 0, 0, 3) + 999 * US, D) == at(8, 0, 0, 0, 3)
    now = at(20, 12, 0, 0, 250) + 750 * US
    assert safe_bookmark(at(21), [], now, timedelta(0)) == at(20, 12, 0, 0, 250)
    assert safe_bookmark(at(21), [at(19) + 5 * US], now, timedelta(0)) == at(19)


def test_a_conversation_in_the_boundary_millisecond_is_owned_by_the_next_run() -> None:
    """lookback PT0S: the bookmark ends one run's window and starts the next one's, both at the
    millisecond the API searched, so a conversation starting in that millisecond is read once."""
    now = at(10, 12, 0, 0, 345) + 678 * US  # a clock with microseconds
    bookmark = safe_bookmark(at(11), [], now, timedelta(0))
    first_run = plan_windows(at(10), bookmark, D)
    second_run = plan_windows(resume_point(at(1), bookmark, timedelta(0)), at(11), D)
    conversation = at(10, 12, 0, 0, 345)  # what the API returns for that millisecond
    assert first_run[-1].interval.endswith("/2024-05-10T12:00:00.345Z")
    assert not first_run[-1].owns(conversation)  # the API did not search it in run one ...
    assert second_run[0].owns(conversation)  # ... and run two does, and owns it
    assert second_run[0].interval.startswith("2024-05-10T12:00:00.345Z/")


def test_sizes_are_floored_to_whole_milliseconds() -> None:
    windows = plan_windows(at(1), at(1, 4), H + 999 * US)
    assert [w.end for w in windows] == [at(1, 1), at(1, 2), at(1, 3), at(1, 4)]
    tiny = plan_windows(at(1), at(1, 0, 0, 0, 5), MS)
    assert [w.end for w in tiny] == [at(1, 0, 0, 0, n) for n in range(1, 6)]


# --- non-whole-day sizes and interval limits ---------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (timedelta(hours=36), D),
        (timedelta(days=2, hours=12), 2 * D),
        (D + MS, D),
        (timedelta(days=6, hours=23), 6 * D),
        (timedelta(days=9), 7 * D),  # capped by the max interval first
    ],
    ids=str,
)
def test_sizes_above_a_day_are_rounded_down_to_whole_days(size, expected) -> None:
    windows = plan_windows(at(1, 6), at(25), size)
    assert windows[0] == Window(at(1, 6), at(1) + expected)
    assert all(w.duration == expected for w in windows[1:-1])
    assert all(floor_day(w.end) == w.end for w in windows)
    assert_tiles(windows, at(1, 6), at(25))


def test_interval_limits_of_the_api() -> None:
    assert (timedelta(days=7), timedelta(days=31)) == (MAX_INTERVAL, MAX_INTERVAL_FILTERED)
    filtered = plan_windows(at(1), datetime(2024, 7, 1, tzinfo=UTC), 40 * D, MAX_INTERVAL_FILTERED)
    assert [w.duration for w in filtered] == [31 * D, 30 * D]
    assert max(w.duration for w in plan_windows(at(1), at(30), 40 * D)) == 7 * D


def test_removed_names_are_gone() -> None:
    assert not hasattr(windows_module, "next_bookmark")


# --- host time zone independence -------------------------------------------------------------


def test_the_suite_runs_in_a_non_utc_local_zone() -> None:
    """tests/conftest.py pins TZ=America/New_York: a slip into local time shows up here."""
    assert time.localtime(0).tm_hour == 19
    assert datetime.fromtimestamp(0).hour == 19


def test_day_alignment_and_intervals_ignore_the_host_and_input_zones() -> None:
    new_york = ZoneInfo("America/New_York")
    late_evening = datetime(2024, 5, 1, 22, 30, tzinfo=new_york)  # 2024-05-02T02:30Z
    assert floor_day(late_evening) == at(2)
    assert floor_day(late_evening).tzinfo == UTC
    assert format_instant(late_evening) == "2024-05-02T02:30:00.000Z"
    windows = plan_windows(late_evening, datetime(2024, 5, 2, 22, 30, tzinfo=new_york), D)
    assert [w.interval for w in windows] == [
        "2024-05-02T02:30:00.000Z/2024-05-03T00:00:00.000Z",
        "2024-05-03T00:00:00.000Z/2024-05-03T02:30:00.000Z",
    ]
    assert resume_point(at(1), late_evening, H).tzinfo == UTC
    assert safe_bookmark(late_evening, [], at(20), timedelta(0)).tzinfo == UTC
    assert to_millis(late_evening).tzinfo == UTC


# --- safe_bookmark ---------------------------------------------------------------------------

NOW = at(20, 12)
LAG = timedelta(minutes=5)


def test_bookmark_is_the_window_end_when_nothing_holds_it() -> None:
    assert safe_bookmark(at(10), [], NOW, LAG) == at(10)


def test_bookmark_stops_at_the_earliest_hold() -> None:
    holds = [at(19, 15), at(19, 9, 30), at(20, 1)]
    assert safe_bookmark(at(20), holds, NOW, LAG) == at(19, 9, 30)


def test_old_holds_still_hold_the_bookmark_there_is_no_age_cap() -> None:
    old = at(1, 8)  # weeks before now: still holds (a gap is read again, however old)
    assert safe_bookmark(at(20), [old], NOW, LAG) == at(1, 8)


def test_bookmark_never_passes_now_minus_settle_lag() -> None:
    assert safe_bookmark(at(21), [], NOW, LAG) == NOW - LAG
    assert safe_bookmark(NOW, [], NOW, timedelta(0)) == NOW


def test_bookmark_never_passes_the_window_end() -> None:
    assert safe_bookmark(at(10), [at(15)], NOW, LAG) == at(10)


def test_bookmark_accepts_a_generator_of_holds() -> None:
    holds = (s for s in [at(19, 3), at(19, 2)])
    assert safe_bookmark(at(20), holds, NOW, LAG) == at(19, 2)


def test_bookmark_rejects_naive_instants() -> None:
    with pytest.raises(ValueError, match="naive"):
        safe_bookmark(at(20), [datetime(2024, 5, 19)], NOW, LAG)


def test_bookmark_grid_is_the_minimum_of_its_bounds() -> None:
    ends = [at(18), at(19, 6), at(20), at(21)]
    hold_sets = [[], [at(18, 3)], [at(16)], [at(19, 23), at(18, 12, 0, 0, 1)]]
    for end, holds, lag in itertools.product(ends, hold_sets, [timedelta(0), LAG, D]):
        result = safe_bookmark(end, holds, NOW, lag)
        assert result == min([end, NOW - lag, *holds])
