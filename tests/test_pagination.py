"""Page-number paging rules (pure)."""

from __future__ import annotations

import pytest

from tap_genesys_analytics import pagination
from tap_genesys_analytics.pagination import (
    EMPTY_PAGE_DELAY_S,
    EMPTY_PAGE_RETRIES,
    MAX_RESULTS,
    PageDecision,
    PagePlan,
    is_too_deep,
    page_count,
)


@pytest.mark.parametrize(
    ("total_hits", "page_size", "expected"),
    [
        (0, 100, 0),
        (1, 100, 1),
        (100, 100, 1),
        (101, 100, 2),
        (114, 100, 2),
        (250, 25, 10),
        (-5, 100, 0),
    ],
)
def test_page_count_is_ceil_of_total_hits_over_page_size(total_hits, page_size, expected):
    assert page_count(total_hits, page_size) == expected


def test_last_page_is_announced_by_total_hits_or_unknown():
    assert PagePlan(page_size=100, total_hits=450).last_page == 5
    assert PagePlan(page_size=100, total_hits=400).last_page == 4
    assert PagePlan(page_size=100, total_hits=0).last_page == 0
    assert PagePlan(page_size=100, total_hits=None).last_page is None


def test_short_page_does_not_end_the_window_when_more_are_announced():
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(1, received=37) is PageDecision.NEXT
    assert plan.after_page(4, received=1) is PageDecision.NEXT


def test_short_page_at_or_after_the_announced_last_page_does_not_end_the_window():
    """totalHits may be low: a page holding records is always followed by the next one."""
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(5, received=50) is PageDecision.NEXT  # announced last page
    assert plan.after_page(6, received=30) is PageDecision.NEXT  # past it
    assert plan.after_page(7, received=1) is PageDecision.NEXT
    assert plan.after_page(8, received=0) is PageDecision.DONE  # first empty page ends it


def test_full_last_page_means_total_hits_was_low_so_paging_goes_on_until_empty():
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.after_page(5, received=100) is PageDecision.NEXT
    assert plan.after_page(6, received=100) is PageDecision.NEXT
    assert plan.after_page(7, received=0) is PageDecision.DONE  # past the announced end: no retry


def test_empty_page_past_the_announced_hits_ends_the_window():
    plan = PagePlan(page_size=100, total_hits=200)
    assert plan.after_page(3, received=0) is PageDecision.DONE
    assert PagePlan(page_size=100, total_hits=0).after_page(1, received=0) is PageDecision.DONE
    # an exact multiple: page 5 of 400 hits at 100 a page is announced empty
    assert PagePlan(page_size=100, total_hits=400).after_page(5, received=0) is PageDecision.DONE


def test_empty_page_at_the_announced_last_page_is_retried_not_taken_as_the_end():
    """totalHits=450 announces 50 records on page 5: an empty page 5 contradicts it."""
    plan = PagePlan(page_size=100, total_hits=450)
    assert plan.expects_more(5)
    assert not plan.expects_more(6)
    assert plan.after_page(5, received=0) is PageDecision.RETRY_EMPTY
    assert PagePlan(page_size=100, total_hits=401).after_page(5, 0) is PageDecision.RETRY_EMPTY


def test_expects_more_follows_total_hits_page_by_page():
    plan = PagePlan(page_size=25, total_hits=60)
    assert [plan.expects_more(n) for n in range(1, 6)] == [True, True, True, False, False]
    assert not PagePlan(page_size=25, total_hits=None).expects_more(1)


def test_missing_total_hits_pages_until_the_first_empty_page():
    plan = PagePlan(page_size=100, total_hits=None)
    assert plan.last_page is None
    assert plan.after_page(1, received=100) is PageDecision.NEXT
    assert plan.after_page(2, received=3) is PageDecision.NEXT  # short page: keep going
    assert plan.after_page(3, received=0) is PageDecision.DONE


def test_unexpected_empty_page_is_retried_a_bounded_number_of_times_then_skipped():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_retries=3)
    decisions = [plan.after_page(2, received=0, empty_retries_done=n) for n in range(5)]
    assert decisions[:3] == [PageDecision.RETRY_EMPTY] * 3
    assert decisions[3:] == [PageDecision.SKIP_EMPTY] * 2
    # a skipped page does not end the window: the next page is still read
    assert plan.after_page(3, received=100) is PageDecision.NEXT


def test_default_plan_retries_three_times_two_seconds_apart_growing():
    assert (EMPTY_PAGE_RETRIES, EMPTY_PAGE_DELAY_S) == (3, 2.0)
    plan = PagePlan(page_size=100, total_hits=450)
    assert (plan.empty_page_retries, plan.empty_page_delay_s) == (3, 2.0)
    assert plan.after_page(2, 0) is PageDecision.RETRY_EMPTY  # empty_retries_done defaults to 0
    assert plan.after_page(2, 0, 2) is PageDecision.RETRY_EMPTY
    assert plan.after_page(2, 0, 3) is PageDecision.SKIP_EMPTY


def test_a_page_not_yet_retried_is_retried_even_with_a_single_retry_allowed():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_retries=1)
    assert plan.after_page(2, received=0) is PageDecision.RETRY_EMPTY
    assert plan.after_page(2, received=0, empty_retries_done=1) is PageDecision.SKIP_EMPTY


def test_no_retries_configured_skips_at_once():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_retries=0)
    assert plan.after_page(2, received=0) is PageDecision.SKIP_EMPTY


def test_empty_page_retry_waits_a_growing_bounded_delay():
    plan = PagePlan(page_size=100, total_hits=450, empty_page_delay_s=2.0)
    assert [plan.empty_page_delay(n) for n in range(3)] == [2.0, 4.0, 6.0]
    assert PagePlan(100, 450, empty_page_delay_s=0.5).empty_page_delay(1) == 1.0


def test_too_deep_is_signalled_before_the_request_the_api_would_refuse():
    assert MAX_RESULTS == 100_000
    assert not is_too_deep(1000, 100)
    assert is_too_deep(1001, 100)
    assert not is_too_deep(1, 100_000)
    assert is_too_deep(2, 50_001)


def test_plan_that_would_pass_the_cap_does_not_fit():
    assert PagePlan(page_size=100, total_hits=100_000).fits
    assert not PagePlan(page_size=100, total_hits=100_001).fits
    # 100000 hits at 30 a page need page 3334, i.e. 100020 results: refused by the API
    assert not PagePlan(page_size=30, total_hits=100_000).fits
    assert PagePlan(page_size=100, total_hits=None).fits


def test_decisions_are_the_four_documented_ones():
    assert {d.value for d in PageDecision} == {"next", "done", "retry_empty", "skip_empty"}
    for removed in ("TooDeepError", "check_depth", "GIVE_UP_EMPTY"):
        assert not hasattr(pagination, removed) and not hasattr(PageDecision, removed)
    assert not hasattr(PagePlan, "remaining_pages")
