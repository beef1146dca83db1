"""The shared request budget: pacing, inin-ratelimit-* headers, 429 pauses, wait counters.

Everything runs on :class:`~tests.virtual_time.VirtualTime` (``tests/virtual_time.py``): a
fake clock whose ``sleep`` advances it (no test sleeps for real). With several worker threads it
advances only when every worker is asleep, to the earliest wake-up, and releases one sleeper at
a time, so concurrent schedules are exact and reproducible. It is bounded: a budget that loops
or sleeps without end fails fast.
"""

from __future__ import annotations

import logging

import pytest

from tap_genesys_analytics.ratebudget import (
    HEADER_ALLOWED,
    HEADER_COUNT,
    HEADER_RESET,
    LONG_WAIT_LOG_S,
    MAX_SERVER_WAIT_S,
    REASON_PACING,
    REASON_PAUSE,
    REASON_SERVER,
    RateBudget,
)
from tests.virtual_time import VirtualTime, VirtualTimeExceeded


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def budget_on(vt: VirtualTime, rpm: int, headroom: int = 2) -> RateBudget:
    return RateBudget(rpm, headroom=headroom, clock=vt.clock, sleep=vt.sleep)


def headers(allowed: object, count: object, reset: object) -> dict[str, str]:
    return {HEADER_ALLOWED: str(allowed), HEADER_COUNT: str(count), HEADER_RESET: str(reset)}


def starts_of(vt: VirtualTime, budget: RateBudget, n: int) -> list[float]:
    """Clock times at which ``n`` sequential acquires return."""
    out = []
    for _ in range(n):
        budget.acquire()
        out.append(vt.now)
    return out


# --- pacing ----------------------------------------------------------------------------------


def test_request_starts_are_paced_evenly(vt):
    budget = budget_on(vt, 300)
    assert budget.interval_s == pytest.approx(0.2)
    assert starts_of(vt, budget, 4) == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert budget.pacing_wait_s == pytest.approx(0.6)
    assert budget.pause_wait_s == 0.0
    assert budget.waiting_wall_s == pytest.approx(0.6)


def test_acquire_returns_what_it_waited(vt):
    budget = budget_on(vt, 300)
    assert budget.acquire() == (0.0, 0.0)
    paced, paused = budget.acquire()
    assert (paced, paused) == (pytest.approx(0.2), 0.0)


def test_one_request_per_minute_waits_a_minute_between_starts(vt):
    budget = budget_on(vt, 1)
    assert budget.interval_s == 60.0
    assert starts_of(vt, budget, 3) == [0.0, 60.0, 120.0]


def test_zero_requests_per_minute_means_no_pacing(vt):
    budget = budget_on(vt, 0)
    assert budget.interval_s == 0.0
    assert starts_of(vt, budget, 5) == [0.0] * 5
    assert vt.sleeps == []


def test_idle_time_is_not_banked_as_a_burst(vt):
    budget = budget_on(vt, 300)
    budget.acquire()
    vt.now = 10.0  # long idle
    assert starts_of(vt, budget, 3) == pytest.approx([10.0, 10.2, 10.4])


def test_concurrent_workers_share_one_pace(vt):
    budget = budget_on(vt, 300)
    starts: list[float] = []

    def worker() -> None:
        budget.acquire()
        starts.append(vt.now)

    vt.run_workers(*[worker] * 8)
    assert sorted(starts) == pytest.approx([0.2 * i for i in range(8)])
    assert budget.pacing_wait_s == pytest.approx(0.2 * sum(range(8)))  # 5.6: summed
    assert budget.waiting_wall_s == pytest.approx(1.4)  # wall clock: last start


# --- inin-ratelimit-* headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "count", "reset", "headroom", "expected_wait"),
    [
        (300, 290, 45, 2, 45 / 9),  # 8 left: spread over the 45 s until the reset
        (300, 290, 45, 0, 45 / 11),
        (1, 0, 10, 0, 10 / 2),
        (300, 298, 30, 2, 30.0),  # none left: the whole reset
        (300, 299, 30, 2, 30.0),  # over: still the whole reset (never less)
        (300, 400, 12, 2, 12.0),
    ],
)
def test_headers_slow_the_pace_down_as_the_server_limit_nears(  # noqa: PLR0917
    vt, allowed, count, reset, headroom, expected_wait
):
    """Above the configured pace (here: none), so only the headers' formula sets the wait."""
    budget = budget_on(vt, 0, headroom=headroom)
    vt.now = 100.0
    budget.acquire()
    budget.observe(headers(allowed, count, reset))
    budget.acquire()
    assert vt.now - 100.0 == pytest.approx(expected_wait)
    assert budget.pacing_wait_s == pytest.approx(expected_wait)


def test_default_headroom_keeps_two_requests_spare(vt):
    budget = RateBudget(0, clock=vt.clock, sleep=vt.sleep)
    assert budget.headroom == 2
    budget.acquire()
    budget.observe(headers(300, 289, 50))  # 11 left, 2 kept spare: 9 spread over 50 s
    budget.acquire()
    assert vt.now == pytest.approx(5.0)


def test_headers_never_speed_up_the_configured_pace(vt):
    budget = budget_on(vt, 6)  # one every 10 s
    budget.acquire()
    budget.observe(headers(300, 10, 60))  # 288 left in 60 s: 0.2 s apart would be faster
    budget.acquire()
    assert vt.now == pytest.approx(10.0)


def test_headers_window_used_up_waits_for_the_reset_then_paces_again(vt):
    budget = budget_on(vt, 300)
    budget.acquire()
    budget.observe(headers(300, 299, 7))
    budget.acquire()
    assert vt.now == pytest.approx(7.0)
    budget.observe(headers(300, 10, 50))
    before = vt.now
    budget.acquire()
    assert vt.now - before == pytest.approx(0.2)  # back to the normal pace


def test_reset_header_is_capped_like_retry_after(vt):
    assert MAX_SERVER_WAIT_S == 300.0
    vt.max_seconds = 10_000
    budget = budget_on(vt, 0)
    budget.acquire()
    budget.observe(headers(300, 300, 3600))
    budget.acquire()
    assert vt.now == 300.0
    budget.observe(headers(300, 290, 3600))  # 8 left: 300 s (capped) spread over 9 slots
    before = vt.now
    budget.acquire()
    assert vt.now - before == pytest.approx(300.0 / 9)


@pytest.mark.parametrize(
    "partial",
    [
        {HEADER_COUNT: "299", HEADER_RESET: "60"},
        {HEADER_ALLOWED: "300", HEADER_RESET: "60"},
        {HEADER_ALLOWED: "300", HEADER_COUNT: "299"},
        {HEADER_ALLOWED: "300", HEADER_COUNT: "299", HEADER_RESET: "soon"},
        {HEADER_ALLOWED: "lots", HEADER_COUNT: "299", HEADER_RESET: "60"},
        {HEADER_ALLOWED: "300", HEADER_COUNT: "nan", HEADER_RESET: "60"},
        {HEADER_ALLOWED: "300", HEADER_COUNT: "299", HEADER_RESET: "inf"},
        {HEADER_ALLOWED: "0", HEADER_COUNT: "5", HEADER_RESET: "60"},  # 0: no limit announced
        {HEADER_ALLOWED: "-1", HEADER_COUNT: "5", HEADER_RESET: "60"},
        {},
    ],
    ids=lambda h: ",".join(f"{k.rsplit('-', 1)[-1]}={v}" for k, v in h.items()) or "none",
)
def test_incomplete_or_unusable_rate_limit_headers_change_nothing(vt, partial):
    budget = budget_on(vt, 600)
    budget.acquire()
    budget.observe(partial)
    budget.acquire()
    assert vt.now == pytest.approx(0.1)


def test_a_later_lower_header_hint_does_not_pull_a_wait_forward(vt):
    budget = budget_on(vt, 0)
    budget.acquire()
    budget.observe(headers(300, 300, 20))
    budget.observe(headers(300, 10, 60))  # a response answered earlier, read later
    budget.acquire()
    assert vt.now == 20.0


# --- 429 pauses ----------------------------------------------------------------------------------


def test_pause_holds_every_other_request_until_it_ends(vt):
    budget = budget_on(vt, 0)
    vt.now = 3.0
    assert budget.pause(5.0) == 8.0
    assert budget.acquire() == (0.0, pytest.approx(5.0))
    assert vt.now == 8.0
    assert budget.pause_wait_s == pytest.approx(5.0)
    assert budget.pacing_wait_s == 0.0


def test_pause_is_capped_and_never_negative(vt):
    vt.max_seconds = 10_000
    budget = budget_on(vt, 0)
    assert budget.pause(3600.0) == 300.0
    assert budget.pause(-5.0) == 0.0
    budget.acquire()
    assert vt.now == 300.0


def test_a_shorter_later_pause_does_not_shorten_a_longer_one(vt):
    budget = budget_on(vt, 0)
    budget.pause(10.0)
    vt.now = 1.0
    assert budget.pause(2.0) == 3.0
    budget.acquire()
    assert vt.now == 10.0


def test_the_429_request_waits_exactly_its_own_retry_after(vt):
    budget = budget_on(vt, 0)
    resume_at = budget.pause(5.0)
    budget.pause(8.0)  # another worker's later, longer 429
    assert budget.acquire(resume_at) == (0.0, pytest.approx(5.0))
    assert vt.now == 5.0
    assert budget.pause_wait_s == 0.0  # its own wait is reported to the caller, not summed here
    assert budget.waiting_wall_s == pytest.approx(5.0)


def test_a_resume_time_already_passed_does_not_wait(vt):
    budget = budget_on(vt, 0)
    resume_at = budget.pause(1.0)
    vt.now = 4.0
    assert budget.acquire(resume_at) == (0.0, 0.0)
    assert vt.sleeps == []


def test_the_429_request_after_its_retry_after_still_takes_a_paced_slot(vt):
    budget = budget_on(vt, 0)
    budget.acquire()
    budget.observe(headers(300, 300, 6))  # next slot at 6
    resume_at = budget.pause(5.0)
    budget.pause(8.0)  # a later 429 elsewhere must not hold this request
    assert budget.acquire(resume_at) == (pytest.approx(1.0), pytest.approx(5.0))
    assert vt.now == 6.0


def test_a_pause_ends_without_a_burst_of_the_waiting_workers(vt):
    """One worker gets a 429 (Retry-After 10) while seven wait: after it, all eight start
    paced, one every 0.2 s, not all at once."""
    budget = budget_on(vt, 300)
    starts: list[float] = []
    resume_at = budget.pause(10.0)

    def the_429_worker() -> None:
        budget.acquire(resume_at)
        starts.append(vt.now)

    def worker() -> None:
        budget.acquire()
        starts.append(vt.now)

    vt.run_workers(the_429_worker, *[worker] * 7)
    assert sorted(starts) == pytest.approx([10.0 + 0.2 * i for i in range(8)])
    assert budget.pause_wait_s == pytest.approx(7 * 10.0)  # the seven others, summed
    assert budget.pacing_wait_s == pytest.approx(0.2 * sum(range(8)))
    assert budget.waiting_wall_s == pytest.approx(11.4)


def test_a_pause_that_starts_during_a_pacing_sleep_is_waited_out(vt):
    budget = budget_on(vt, 300)
    budget.acquire()  # slot 0; the next one is at 0.2

    def another_worker_gets_a_429(seconds: float) -> None:
        vt.now += 0.1
        budget.pause(5.0)  # until 5.1, begun while this worker sleeps towards 0.2
        vt.now -= 0.1

    vt.on_sleep = another_worker_gets_a_429
    paced, paused = budget.acquire()
    assert vt.now == pytest.approx(5.1)
    assert (paced, paused) == (pytest.approx(0.2), pytest.approx(4.9))
    assert (budget.pacing_wait_s, budget.pause_wait_s) == (pytest.approx(0.2), pytest.approx(4.9))
    before = vt.now
    budget.acquire()
    assert vt.now - before == pytest.approx(0.2)  # paced again after the pause


def test_a_pause_extended_while_waiting_is_waited_out_and_summed(vt):
    budget = budget_on(vt, 0)
    budget.pause(5.0)

    def a_longer_429_elsewhere(seconds: float) -> None:
        vt.now += 1.0
        budget.pause(8.0)  # until 9
        vt.now -= 1.0

    vt.on_sleep = a_longer_429_elsewhere
    assert budget.acquire() == (0.0, pytest.approx(9.0))
    assert vt.now == 9.0
    assert vt.sleeps == [5.0, 4.0]
    assert budget.pause_wait_s == pytest.approx(9.0)


def test_pacing_before_and_after_an_interrupting_pause_is_summed(vt):
    budget = budget_on(vt, 300)
    budget.acquire()  # the next slot is at 0.2

    def a_429_and_a_used_up_window_elsewhere(seconds: float) -> None:
        vt.now += 0.1
        budget.pause(5.0)  # until 5.1
        budget.observe(headers(300, 300, 5.9))  # no slot before 6.0
        vt.now -= 0.1

    vt.on_sleep = a_429_and_a_used_up_window_elsewhere
    paced, paused = budget.acquire()
    assert vt.now == pytest.approx(6.0)
    assert (paced, paused) == (pytest.approx(0.2 + 0.9), pytest.approx(4.9))
    assert budget.pacing_wait_s == pytest.approx(1.1)


def test_a_pacing_sleep_ending_just_as_a_pause_ends_starts_at_once(vt):
    budget = budget_on(vt, 60)  # one a second
    budget.acquire()

    def a_short_429_elsewhere(seconds: float) -> None:
        vt.now += 0.5
        budget.pause(0.5)  # ends at 1.0, the very end of this worker's pacing sleep
        vt.now -= 0.5

    vt.on_sleep = a_short_429_elsewhere
    assert budget.acquire() == (1.0, 0.0)
    assert vt.now == 1.0


def test_wall_clock_waiting_counts_overlapping_waits_once(vt):
    budget = budget_on(vt, 60)  # one a second
    budget.pause(3.0)

    def worker() -> None:
        budget.acquire()

    vt.run_workers(*[worker] * 4)  # all wait the pause (3 s), then start at 3, 4, 5, 6
    assert vt.now == 6.0
    assert budget.pause_wait_s == pytest.approx(12.0)
    assert budget.pacing_wait_s == pytest.approx(6.0)
    assert budget.waiting_wall_s == pytest.approx(6.0)
    vt.now = 20.0
    budget.acquire()  # idle time in between is not waiting
    assert budget.waiting_wall_s == pytest.approx(6.0)
    budget.acquire()
    assert budget.waiting_wall_s == pytest.approx(7.0)


def test_wall_clock_waiting_includes_a_wait_in_progress(vt):
    budget = budget_on(vt, 0)
    budget.pause(4.0)
    seen: list[float] = []

    def look_while_blocked(seconds: float) -> None:
        vt.now += 1.5
        seen.append(budget.waiting_wall_s)
        vt.now -= 1.5

    vt.on_sleep = look_while_blocked
    budget.acquire()
    assert seen == [pytest.approx(1.5)]
    assert budget.waiting_wall_s == pytest.approx(4.0)


def test_a_wait_interrupted_by_an_error_is_still_accounted(vt):
    def stopping_sleep(seconds: float) -> None:
        vt.now += 1.0
        raise RuntimeError("run stopping")

    budget = RateBudget(0, clock=vt.clock, sleep=stopping_sleep)
    budget.pause(4.0)
    with pytest.raises(RuntimeError, match="stopping"):
        budget.acquire()
    assert budget.waiting_wall_s == pytest.approx(1.0)
    vt.now = 50.0
    assert budget.waiting_wall_s == pytest.approx(1.0)  # no worker counted as still blocked


# --- logging long waits ---------------------------------------------------------------------


def long_wait_logs(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tap_genesys_analytics.ratebudget" and r.levelno == logging.WARNING
    ]


def test_waits_over_ten_seconds_are_logged_with_their_reason(vt, caplog):
    caplog.set_level(logging.WARNING, logger="tap_genesys_analytics.ratebudget")
    assert LONG_WAIT_LOG_S == 10.0
    budget = budget_on(vt, 1)  # pacing: 60 s apart
    budget.acquire()
    budget.acquire()
    assert long_wait_logs(caplog) == [f"rate budget: next request waits 60.0 s ({REASON_PACING})"]
    caplog.clear()

    budget = budget_on(vt, 0)
    budget.acquire()
    budget.observe(headers(300, 300, 42))
    budget.acquire()
    assert long_wait_logs(caplog) == [f"rate budget: next request waits 42.0 s ({REASON_SERVER})"]
    caplog.clear()

    budget = budget_on(vt, 0)
    resume_at = budget.pause(30.0)
    budget.acquire()
    budget.pause(12.5)
    budget.acquire(vt.now + 12.5)
    assert long_wait_logs(caplog) == [
        f"rate budget: next request waits 30.0 s ({REASON_PAUSE})",
        f"rate budget: next request waits 12.5 s ({REASON_PAUSE} (this request's Retry-After))",
    ]
    assert resume_at == vt.now - 12.5  # the first pause ended where it was asked to


def test_only_the_slot_the_headers_set_is_blamed_on_them(vt, caplog):
    caplog.set_level(logging.WARNING, logger="tap_genesys_analytics.ratebudget")
    budget = budget_on(vt, 4)  # 15 s apart
    budget.acquire()
    budget.observe(headers(300, 300, 40))
    budget.acquire()  # waits 40 s: the headers
    budget.acquire()  # waits 15 s more: pacing
    assert long_wait_logs(caplog) == [
        f"rate budget: next request waits 40.0 s ({REASON_SERVER})",
        f"rate budget: next request waits 15.0 s ({REASON_PACING})",
    ]


def test_headers_that_only_confirm_the_pace_do_not_take_the_blame(vt, caplog):
    caplog.set_level(logging.WARNING, logger="tap_genesys_analytics.ratebudget")
    budget = budget_on(vt, 4)  # 15 s apart
    budget.acquire()
    budget.observe(headers(300, 300, 15))  # asks for the slot pacing already set
    budget.acquire()
    assert long_wait_logs(caplog) == [f"rate budget: next request waits 15.0 s ({REASON_PACING})"]


def test_waits_of_ten_seconds_or_less_are_not_logged(vt, caplog):
    caplog.set_level(logging.DEBUG, logger="tap_genesys_analytics.ratebudget")
    budget = budget_on(vt, 6)  # exactly 10 s apart
    starts_of(vt, budget, 3)
    budget.pause(10.0)
    budget.acquire()
    assert vt.sleeps == [10.0, 10.0, 10.0]
    assert caplog.records == []
    budget = budget_on(vt, 0)
    budget.pause(10.5)
    budget.acquire()
    assert len(long_wait_logs(caplog)) == 1


# --- the fake clock itself ------------------------------------------------------------------


def test_virtual_time_stops_a_budget_that_would_wait_forever():
    vt = VirtualTime(max_sleeps=5, max_seconds=100.0)
    with pytest.raises(VirtualTimeExceeded):
        vt.sleep(101.0)
    vt = VirtualTime(max_sleeps=2)
    vt.sleep(1.0)
    vt.sleep(1.0)
    with pytest.raises(VirtualTimeExceeded):
        vt.sleep(1.0)
