"""job_plan: which windows go through jobs, job grouping/body, depth split, the window cutter."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.job_plan import OutOfOrder, WindowCutter
from tap_genesys_analytics.windows import Window, plan_windows

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def days(n: int, start: datetime = T0) -> list[Window]:
    return plan_windows(start, start + n * DAY, DAY)


# -- plan_paths ---------------------------------------------------------------------------------


def test_query_mode_reads_everything_with_the_query():
    windows = days(30)
    segments = job_plan.plan_paths(
        windows, mode="query", availability=T0 + 40 * DAY, settle=timedelta(0)
    )
    assert [(s.path, len(s.windows)) for s in segments] == [("query", 30)]


@pytest.mark.parametrize("mode", ["jobs", "auto"])
def test_jobs_read_the_windows_ending_by_availability_minus_settle(mode):
    windows = days(30)
    availability = T0 + 20 * DAY + timedelta(hours=21)
    segments = job_plan.plan_paths(windows, mode=mode, availability=availability, settle=DAY)
    assert [s.path for s in segments] == ["jobs", "query"]
    jobs, query = segments
    assert jobs.windows == tuple(windows[:19])  # ends 05-20 <= 05-20T21:00
    assert max(w.end for w in jobs.windows) <= availability - DAY
    assert jobs.windows + query.windows == tuple(windows)  # nothing lost, nothing twice


def test_a_window_ending_exactly_at_the_boundary_goes_to_jobs():
    windows = days(3)
    segments = job_plan.plan_paths(
        windows, mode="jobs", availability=T0 + 2 * DAY, settle=timedelta(0)
    )
    assert [(s.path, len(s.windows)) for s in segments] == [("jobs", 2), ("query", 1)]


def test_auto_needs_a_week_of_history_jobs_mode_does_not():
    windows = days(10)
    availability = T0 + 7 * DAY  # 6 windows end by 05-07 minus a day
    auto = job_plan.plan_paths(windows, mode="auto", availability=availability, settle=DAY)
    forced = job_plan.plan_paths(windows, mode="jobs", availability=availability, settle=DAY)
    assert [s.path for s in auto] == ["query"]
    assert [(s.path, len(s.windows)) for s in forced] == [("jobs", 6), ("query", 4)]
    longer = job_plan.plan_paths(windows, mode="auto", availability=availability + DAY, settle=DAY)
    assert [(s.path, len(s.windows)) for s in longer] == [("jobs", 7), ("query", 3)]


def test_unknown_availability_or_all_recent_means_query_only():
    windows = days(10)
    assert [
        s.path for s in job_plan.plan_paths(windows, mode="jobs", availability=None, settle=DAY)
    ] == ["query"]
    assert [
        s.path for s in job_plan.plan_paths(windows, mode="jobs", availability=T0, settle=DAY)
    ] == ["query"]
    everything = job_plan.plan_paths(windows, mode="jobs", availability=T0 + 90 * DAY, settle=DAY)
    assert [(s.path, len(s.windows)) for s in everything] == [("jobs", 10)]
    assert job_plan.plan_paths([], mode="jobs", availability=T0, settle=DAY) == []


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError) as refused:
        job_plan.plan_paths(days(1), mode="fast", availability=None, settle=DAY)
    assert str(refused.value) == "extraction_mode: 'fast' is not one of auto, query, jobs"


# -- grouping and body --------------------------------------------------------------------------


@pytest.mark.parametrize("max_windows", [1, 2, 3, 7, 31])
def test_groups_are_consecutive_bounded_and_cover_every_window(max_windows):
    windows = days(20)
    groups = job_plan.group_windows(windows, max_windows)
    assert [w for g in groups for w in g] == windows
    assert all(len(g) <= max_windows for g in groups)
    assert all(job_plan.group_interval(g).duration <= job_plan.MAX_JOB_INTERVAL for g in groups)
    assert all(a.end == b.start for g in groups for a, b in itertools.pairwise(g))


def test_groups_break_at_gaps_and_hourly_windows_group_within_a_week():
    windows = [*days(2), *days(2, T0 + 5 * DAY)]
    assert [len(g) for g in job_plan.group_windows(windows, 7)] == [2, 2]
    hourly = plan_windows(T0, T0 + 10 * DAY, timedelta(hours=1))
    groups = job_plan.group_windows(hourly, 31)
    assert [len(g) for g in groups] == [31] * 7 + [23]
    with pytest.raises(ValueError) as refused:
        job_plan.group_windows(hourly, 0)
    assert str(refused.value) == "max_windows must be at least 1 (got 0)"


def test_a_group_may_span_exactly_the_maximum_interval():
    assert [len(g) for g in job_plan.group_windows(days(20), 31)] == [7, 7, 6]
    assert [len(g) for g in job_plan.group_windows(days(4), 31, 2 * DAY)] == [2, 2]


def test_job_body_carries_filters_order_interval_and_start_of_day_matching():
    base = {
        "order": "asc",
        "orderBy": "conversationStart",
        "segmentFilters": [{"type": "or"}],
        "conversationFilters": [{"type": "and"}],
        "paging": {"pageSize": 100},
    }
    body = job_plan.job_body(base, days(3))
    assert body == {
        "order": "asc",
        "orderBy": "conversationStart",
        "segmentFilters": [{"type": "or"}],
        "conversationFilters": [{"type": "and"}],
        "interval": "2024-05-01T00:00:00.000Z/2024-05-04T00:00:00.000Z",
        "startOfDayIntervalMatching": True,
    }
    assert job_plan.job_body({}, days(1)) == {
        "order": "asc",
        "orderBy": "conversationStart",
        "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
        "startOfDayIntervalMatching": True,
    }


def test_job_body_drops_paging_and_aggregations_and_keeps_an_explicit_order():
    base = {
        "order": "desc",
        "paging": {"pageSize": 100},
        "aggregations": [{"type": "termFrequency"}],
    }
    assert job_plan.job_body(base, days(1)) == {
        "order": "desc",
        "orderBy": "conversationStart",
        "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
        "startOfDayIntervalMatching": True,
    }
    assert base == {
        "order": "desc",
        "paging": {"pageSize": 100},
        "aggregations": [{"type": "termFrequency"}],
    }


def test_poll_delays_back_off_to_a_cap():
    delays = list(itertools.islice(job_plan.poll_delays(2.0, 1.5, 5.0), 5))
    assert delays == [2.0, 3.0, 4.5, 5.0, 5.0]


# -- record rules ---------------------------------------------------------------------------------


def test_records_not_final_before_the_view_are_refreshed():
    view = T0 + 10 * DAY
    assert job_plan.needs_refresh(None, view, DAY)
    assert job_plan.needs_refresh(view - DAY + timedelta(milliseconds=1), view, DAY)
    assert not job_plan.needs_refresh(view - DAY, view, DAY)
    assert not job_plan.needs_refresh(view, view, timedelta(0))


def test_attributes_are_dropped_from_participants_only():
    record = {
        "conversationId": "c",
        "attributes": {"keep": "1"},
        "participants": [
            {"purpose": "customer", "attributes": {"tier": "gold"}},
            {"purpose": "agent"},
            "x",
        ],
    }
    assert job_plan.strip_attributes(record) == {
        "conversationId": "c",
        "attributes": {"keep": "1"},
        "participants": [{"purpose": "customer"}, {"purpose": "agent"}, "x"],
    }
    assert job_plan.strip_attributes({"conversationId": "d"}) == {"conversationId": "d"}


# -- depth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hits", "size", "depth", "parts"),
    [
        (None, 100, 50, 1),
        (0, 100, 50, 1),
        (5000, 100, 50, 1),
        (5001, 100, 50, 2),
        (150_000, 100, 50, 30),
        (150_000, 100, None, 1),
        (99, 10, 1, 10),
    ],
)
def test_depth_parts(hits, size, depth, parts):
    assert job_plan.depth_parts(hits, size, depth) == parts


@pytest.mark.parametrize("parts", [2, 3, 7, 30, 1440])
def test_split_even_tiles_the_window_on_whole_seconds(parts):
    window = Window(T0, T0 + DAY)
    pieces = job_plan.split_even(window, parts)
    assert len(pieces) == parts
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    assert all(p.start.microsecond == 0 for p in pieces)
    assert max(p.duration for p in pieces) - min(p.duration for p in pieces) <= timedelta(seconds=1)


def test_split_even_respects_the_minimum():
    window = Window(T0, T0 + timedelta(minutes=3))
    assert len(job_plan.split_even(window, 10)) == 3
    assert job_plan.split_even(Window(T0, T0 + timedelta(seconds=90)), 5) == [
        Window(T0, T0 + timedelta(seconds=90))
    ]


def test_split_even_drops_a_whole_second_boundary_that_would_leave_a_short_first_part():
    # two parts of 60.3 s; the midpoint T0+60.8 s rounds down to T0+60 s, 59.5 s after the
    # start: no part may be under a minute, so the window stays whole
    start = T0 + timedelta(milliseconds=500)
    window = Window(start, start + timedelta(seconds=120, milliseconds=600))
    assert job_plan.split_even(window, 2) == [window]
    # a start on a whole second: the same cut is kept
    whole = Window(T0, T0 + timedelta(seconds=120, milliseconds=600))
    assert job_plan.split_even(whole, 2) == [
        Window(T0, T0 + timedelta(seconds=60)),
        Window(T0 + timedelta(seconds=60), whole.end),
    ]


# -- the cutter ---------------------------------------------------------------------------------


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def test_cutter_closes_windows_as_ordered_pages_pass_them():
    cutter = WindowCutter(tuple(days(3)))
    indexes, closed = cutter.cut([at(-0.5), at(0.1), at(0.9)])
    assert indexes == [None, 0, 0] and closed == 0
    indexes, closed = cutter.cut([at(1.2), at(2.5)])
    assert indexes == [1, 2] and closed == 2
    assert cutter.cut([at(3.1)]) == ([None], 3)
    assert cutter.finish() == 3


def test_cutter_refuses_disorder_before_using_the_page():
    cutter = WindowCutter(tuple(days(3)))
    cutter.cut([at(0.1), at(1.5)])
    with pytest.raises(OutOfOrder) as open_window:
        cutter.cut([at(1.7), at(1.6)])
    assert not open_window.value.closed
    assert str(open_window.value) == (
        "a conversation starting 2024-05-02T14:24:00+00:00 came after one starting "
        "2024-05-02T16:48:00+00:00"
    )
    with pytest.raises(OutOfOrder) as closed_window:
        cutter.cut([at(0.5)])
    assert closed_window.value.closed
    assert cutter.closed == 1


def test_a_single_window_needs_no_order():
    cutter = WindowCutter(tuple(days(1)))
    indexes, closed = cutter.cut([at(0.9), at(0.1), at(1.5), at(0.5)])
    assert indexes == [0, 0, None, 0] and closed == 0
    assert cutter.finish() == 1


def test_cutter_owns_the_group_start_and_not_its_end():
    cutter = WindowCutter(tuple(days(2)))
    assert cutter.index(T0) == 0
    assert cutter.index(T0 + DAY) == 1
    assert cutter.index(T0 + 2 * DAY) is None
    assert cutter.index(T0 - timedelta(milliseconds=1)) is None


def test_two_windows_close_in_order():
    cutter = WindowCutter(tuple(days(2)))
    assert cutter.cut([at(0.2), at(1.1)]) == ([0, 1], 1)
    with pytest.raises(OutOfOrder):
        cutter.cut([at(0.5)])


def test_the_latest_owned_record_closes_every_window_before_it():
    cutter = WindowCutter(tuple(days(4)))
    assert cutter.cut([at(0.5), at(1.5), at(2.5)]) == ([0, 1, 2], 2)


def test_records_starting_at_the_same_instant_are_in_order():
    cutter = WindowCutter(tuple(days(3)))
    assert cutter.cut([at(0.5), at(0.5)]) == ([0, 0], 0)
    assert cutter.cut([at(0.5), at(1.5)]) == ([0, 1], 1)


def test_a_record_starting_exactly_at_the_group_end_closes_every_window():
    cutter = WindowCutter(tuple(days(3)))
    assert cutter.cut([at(0.5)]) == ([0], 0)
    assert cutter.cut([at(3)]) == ([None], 3)
