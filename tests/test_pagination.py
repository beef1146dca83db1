"""Page-number paging rules (pure)."""

from __future__ import annotations

import pytest

from tap_genesys_analytics.pagination import (
    MAX_RESULTS,
    PageDecision,
    PagePlan,
    TooDeepError,
    check_depth,
    is_too_deep,
    page_count,
)


@pytest.mark.parametrize(
    ("total_hits", "page_size", "expected"),
    [(0, 100, 0), (1, 100, 1), (100, 100, 1), (101, 100, 2), (114, 100, 2), (250, 25, 10)],
)
def test_page_count_is_ceil_of_total_hits_over_page_size(total_hits, page_size, expected):
    assert page_count(total_hits, page_size) == expected


def test_remaining_pages_are_known_after_page_one():
    plan = PagePlan(page_size=100, total_hits=450)
    assert list(plan.remaining_pages() or []) == [2, 3, 4, 5]
    assert PagePlan(page_size=100, total_hits=80).remaining_pages() == range(2, 2)


def test_short_page_does_not_end_the_window_when_more_are_announced():
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(1, received=37) is PageDecision.NEXT
    assert plan.after_page(4, received=1) is PageDecision.NEXT


def test_window_is_done_after_the_announced_last_page():
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(5, received=50) is PageDecision.DONE


def test_full_last_page_means_total_hits_was_low_so_paging_goes_on_until_empty():
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(5, received=100) is PageDecision.NEXT
    assert plan.after_page(6, received=100) is PageDecision.NEXT
    assert plan.after_page(7, received=30) is PageDecision.DONE
    assert plan.after_page(7, received=0) is PageDecision.DONE  # past the announced end: no retry


def test_empty_page_past_the_announced_hits_ends_the_window():
    plan = PagePlan(page_size=100, total_hits=200)
    assert plan.after_page(3, received=0) is PageDecision.DONE
    assert PagePlan(page_size=100, total_hits=0).after_page(1, received=0) is PageDecision.DONE


def test_missing_total_hits_pages_until_the_first_empty_page():
    plan = PagePlan(page_size=100, total_hits=None)
    assert plan.remaining_pages() is None
    assert plan.after_page(1, received=100) is PageDecision.NEXT
    assert plan.after_page(2, received=3) is PageDecision.NEXT  # short page: keep going
    assert plan.after_page(3, received=0) is PageDecision.DONE


def test_unexpected_empty_page_is_retried_a_bounded_number_of_times_then_given_up():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_retries=3)
    decisions = [plan.after_page(2, received=0, empty_retries_done=n) for n in range(5)]
    assert decisions[:3] == [PageDecision.RETRY_EMPTY] * 3
    assert decisions[3:] == [PageDecision.GIVE_UP_EMPTY] * 2


def test_empty_page_retry_waits_a_growing_bounded_delay():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_delay_s=2.0)
    assert [plan.empty_page_delay(n) for n in range(3)] == [2.0, 4.0, 6.0]


def test_too_deep_is_signalled_before_the_request_the_api_would_refuse():
    assert MAX_RESULTS == 100_000
    assert not is_too_deep(1000, 100)
    assert is_too_deep(1001, 100)
    check_depth(1000, 100)
    with pytest.raises(TooDeepError, match="100000"):
        check_depth(1001, 100)


def test_plan_that_would_pass_the_cap_does_not_fit():
    assert PagePlan(page_size=100, total_hits=100_000).fits
    assert not PagePlan(page_size=100, total_hits=100_001).fits
    # 100000 hits at 30 a page need page 3334, i.e. 100020 results: refused by the API
    assert not PagePlan(page_size=30, total_hits=100_000).fits
    assert PagePlan(page_size=100, total_hits=None).fits
