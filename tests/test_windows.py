"""Window math: UTC-day alignment, exact tiling, lookback resume, splitting, safe bookmarks."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from tap_genesys_analytics.windows import (
    MIN_WINDOW,
    Window,
    WindowTooSmall,
    floor_day,
    format_instant,
    plan_windows,
    resume_point,
    safe_bookmark,
    split_window,
)

UTC = timezone.utc
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
        (at(1, 12), at(8)), (at(8), at(15)), (at(15), at(20)),
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
    with pytest.raises(ValueError, match="positive"):
        plan_windows(at(1), at(2), timedelta(0))


def test_other_timezones_are_converted_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    windows = plan_windows(datetime(2024, 5, 1, 2, tzinfo=plus2), at(2), D)
    assert [(w.start, w.end) for w in windows] == [(at(1), at(2))]
    assert windows[0].start.tzinfo == UTC


SIZES = [H, 2 * H, 3 * H, 5 * H, 7 * H, 12 * H, D, 2 * D, 3 * D, 7 * D]
STARTS = [at(1), at(1, 0, 0, 0, 1), at(1, 0, 59, 59, 999), at(1, 11, 30), at(1, 23, 59, 59),
          at(2, 5, 0, 0, 500)]
LENGTHS = [timedelta(milliseconds=1), timedelta(minutes=1), H, 5 * H + timedelta(minutes=7), D,
           D + timedelta(seconds=1), 3 * D + 7 * H, 16 * D, 31 * D]


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
    assert (first.start, first.end, second.start, second.end) == (at(1), at(1, 12), at(1, 12),
                                                                    at(2))


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


# --- safe_bookmark ---------------------------------------------------------------------------

NOW = at(20, 12)
LAG = timedelta(minutes=5)
AGE = timedelta(days=2)


def test_bookmark_is_the_window_end_when_nothing_is_ongoing() -> None:
    assert safe_bookmark(at(10), [], NOW, LAG, AGE) == at(10)


def test_bookmark_stops_at_the_earliest_recent_ongoing_conversation() -> None:
    ongoing = [at(19, 15), at(19, 9, 30), at(20, 1)]
    assert safe_bookmark(at(20), ongoing, NOW, LAG, AGE) == at(19, 9, 30)


def test_ongoing_conversations_older_than_the_age_cap_do_not_pin_the_bookmark() -> None:
    stuck = at(17, 8)  # started 3.2 days before now: past the 2-day cap
    assert safe_bookmark(at(20), [stuck], NOW, LAG, AGE) == at(20)
    assert safe_bookmark(at(20), [stuck, at(19)], NOW, LAG, AGE) == at(19)
    just_inside = NOW - AGE
    assert safe_bookmark(at(20), [just_inside], NOW, LAG, AGE) == just_inside


def test_bookmark_never_passes_now_minus_settle_lag() -> None:
    assert safe_bookmark(at(21), [], NOW, LAG, AGE) == NOW - LAG
    assert safe_bookmark(NOW, [], NOW, timedelta(0), AGE) == NOW


def test_bookmark_never_passes_the_window_end() -> None:
    assert safe_bookmark(at(10), [at(15)], NOW, LAG, AGE) == at(10)


def test_bookmark_accepts_a_generator_of_starts() -> None:
    starts = (s for s in [at(19, 3), at(19, 2)])
    assert safe_bookmark(at(20), starts, NOW, LAG, AGE) == at(19, 2)


def test_bookmark_grid_is_the_minimum_of_its_three_bounds() -> None:
    ends = [at(18), at(19, 6), at(20), at(21)]
    ongoing_sets = [[], [at(18, 3)], [at(16)], [at(19, 23), at(18, 12, 0, 0, 1)]]
    for end, ongoing, lag, age in itertools.product(
        ends, ongoing_sets, [timedelta(0), LAG, D], [timedelta(0), AGE, 5 * D]
    ):
        result = safe_bookmark(end, ongoing, NOW, lag, age)
        assert result <= end
        assert result <= NOW - lag
        for s in ongoing:
            if s >= NOW - age:
                assert result <= s
        assert result in {end, NOW - lag, *ongoing}
