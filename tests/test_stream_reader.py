"""WindowReader: concurrent page fetching, in-order delivery, splitting, empty pages."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tap_genesys_analytics import pagination
from tap_genesys_analytics.client import GenesysAPIError
from tap_genesys_analytics.details_query import WindowDone, WindowPage, parse_instant
from tap_genesys_analytics.window_reader import WindowReader
from tap_genesys_analytics.windows import plan_windows

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def make_conversations(days: int, per_day: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    convs = []
    for i in range(days * per_day):
        start = T0 + timedelta(seconds=rng.randrange(days * 86400))
        end = start + timedelta(seconds=rng.randrange(30, 1800))
        convs.append(
            {
                "conversationId": f"c{i:05d}",
                "conversationStart": iso(start),
                "conversationEnd": iso(end),
                "n": i,
            }
        )
    return sorted(convs, key=lambda c: c["conversationStart"])


class FakeAPI:
    """Answers details queries like the API: start day touched AND activity overlap, paged."""

    def __init__(self, conversations, *, latency=0.0, seed=7):
        self.conversations = conversations
        self.latency = latency
        self.rng = random.Random(seed)
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.omit_total = False
        self.empty_glitches: dict[tuple[str, int], int] = {}  # (interval, page) -> times empty
        self.fail_interval: str | None = None
        self.total_hits_bonus = 0
        self.total_hits_factor = 1.0

    def matching(self, interval):
        start, end = (parse_instant(x) for x in interval.split("/"))
        first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return [
            c
            for c in self.conversations
            if first_day <= parse_instant(c["conversationStart"]) < end
            and parse_instant(c["conversationEnd"]) >= start
        ]

    def post_query(self, body, *, what, on_send=None, **_):
        if on_send:
            on_send()
        interval = body["interval"]
        size, number = body["paging"]["pageSize"], body["paging"]["pageNumber"]
        assert number * size <= pagination.MAX_RESULTS, "request the API would refuse"
        with self.lock:
            self.calls.append((interval, number))
            delay = self.rng.uniform(0, self.latency)
            glitch = self.empty_glitches.get((interval, number), 0)
            if glitch:
                self.empty_glitches[(interval, number)] = glitch - 1
        if delay:
            time.sleep(delay)
        if interval == self.fail_interval:
            raise GenesysAPIError(f"{what}: giving up after 3 tries; last error: HTTP 503")
        rows = self.matching(interval)
        page = [] if glitch else rows[(number - 1) * size : number * size]
        total = int(len(rows) * self.total_hits_factor) + self.total_hits_bonus
        answer: dict[str, Any] = {} if self.omit_total else {"totalHits": total}
        if page:
            answer["conversations"] = [dict(c) for c in page]
        return answer


def read(api, windows, **kwargs):
    kwargs.setdefault("page_size", 10)
    kwargs.setdefault("base_body", {"order": "asc"})
    kwargs.setdefault("empty_page_delay_s", 0.001)
    reader = WindowReader(api, windows, **kwargs)
    return list(reader.events()), reader


def records_of(events):
    return [r for e in events if isinstance(e, WindowPage) for r in e.records]


def day_windows(days):
    return plan_windows(T0, T0 + timedelta(days=days), timedelta(days=1))


def test_every_owned_conversation_is_delivered_once_in_window_order():
    convs = make_conversations(days=4, per_day=57)
    events, _ = read(FakeAPI(convs, latency=0.005), day_windows(4), workers=4)
    got = records_of(events)
    assert [c["conversationId"] for c in got] == [c["conversationId"] for c in convs]


def test_concurrent_and_sequential_reads_deliver_identical_streams():
    convs = make_conversations(days=3, per_day=45)
    concurrent, _ = read(FakeAPI(convs, latency=0.01, seed=3), day_windows(3), workers=6)
    sequential, _ = read(FakeAPI(convs), day_windows(3), workers=1)
    assert records_of(concurrent) == records_of(sequential)


def test_window_done_comes_after_all_records_of_its_window():
    convs = make_conversations(days=3, per_day=33)
    events, _ = read(FakeAPI(convs, latency=0.005), day_windows(3), workers=4)
    done = [e for e in events if isinstance(e, WindowDone)]
    assert [d.window for d in done] == day_windows(3)
    for d in done:
        before = events[: events.index(d)]
        owned = [
            r for r in records_of(before) if d.window.owns(parse_instant(r["conversationStart"]))
        ]
        assert len(owned) == d.records
        later = records_of(events[events.index(d) :])
        assert not any(d.window.owns(parse_instant(r["conversationStart"])) for r in later)
        # the announced pages, then one empty page ends the window (totalHits is approximate)
        assert d.total_hits is not None
        assert d.pages == -(-d.total_hits // 10) + 1 and d.requests == d.pages


def test_conversations_outside_the_window_are_dropped():
    convs = make_conversations(days=1, per_day=50)
    # a half-day window: the API still returns the whole start day
    windows = plan_windows(T0 + timedelta(hours=12), T0 + timedelta(days=1), timedelta(hours=12))
    events, _ = read(FakeAPI(convs), windows)
    got = records_of(events)
    assert got and all(
        parse_instant(r["conversationStart"]) >= T0 + timedelta(hours=12) for r in got
    )
    assert len(got) == sum(
        1 for c in convs if c["conversationStart"] >= iso(T0 + timedelta(hours=12))
    )


def test_a_window_past_the_paging_cap_is_split_before_paging(monkeypatch):
    monkeypatch.setattr(pagination, "MAX_RESULTS", 100)  # a "day" of 240 does not fit
    convs = make_conversations(days=2, per_day=120)
    api = FakeAPI(convs)
    events, reader = read(api, day_windows(2), workers=3)
    assert [c["conversationId"] for c in records_of(events)] == [c["conversationId"] for c in convs]
    done = [e for e in events if isinstance(e, WindowDone)]
    assert len(done) > 2 and all(d.records <= 100 for d in done)
    assert reader.windows_total == len(done)
    # each window tiles the range in order, without gap
    assert all(a.window.end == b.window.start for a, b in itertools.pairwise(done))


def test_missing_total_hits_pages_until_the_first_empty_page():
    convs = make_conversations(days=1, per_day=35)
    api = FakeAPI(convs)
    api.omit_total = True
    events, _ = read(api, day_windows(1))
    assert len(records_of(events)) == 35
    assert [n for _, n in api.calls] == [1, 2, 3, 4, 5]  # 4 pages of data, then the empty one


def test_transient_empty_page_is_retried_and_nothing_is_lost():
    convs = make_conversations(days=1, per_day=35)
    api = FakeAPI(convs)
    window = day_windows(1)[0]
    api.empty_glitches[(window.interval, 2)] = 2
    events, _ = read(api, [window], empty_page_retries=3)
    assert len(records_of(events)) == 35
    assert api.calls.count((window.interval, 2)) == 3


def test_persistent_empty_page_is_skipped_and_the_later_pages_are_still_read(caplog):
    convs = make_conversations(days=1, per_day=35)
    api = FakeAPI(convs)
    window = day_windows(1)[0]
    api.empty_glitches[(window.interval, 3)] = 99
    with caplog.at_level(logging.WARNING):
        events, _ = read(api, [window], empty_page_retries=2)
    assert len(records_of(events)) == 25  # pages 1, 2 and 4: only page 3's ten are missing
    assert api.calls.count((window.interval, 3)) == 3
    done = events[-1]
    assert isinstance(done, WindowDone)
    assert (done.empty_pages, done.gap_confirmed) == ((3,), True)
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert window.interval in warning and "page 3" in warning and "35" in warning


def test_empty_pages_at_the_end_are_read_once_each_and_reported_unconfirmed():
    convs = make_conversations(days=1, per_day=20)
    api = FakeAPI(convs)
    api.total_hits_factor = 2.0  # 40 announced, 20 exist: pages 3 and 4 come back empty
    window = day_windows(1)[0]
    events, _ = read(api, [window], empty_page_retries=2)
    assert len(records_of(events)) == 20
    # pages 3 and 4 were prefetched; only the first empty one is retried
    assert sorted(n for _, n in api.calls) == [1, 2, 3, 3, 3, 4, 5]
    done = events[-1]
    assert isinstance(done, WindowDone)
    assert (done.empty_pages, done.gap_confirmed) == ((3, 4), False)


def test_short_pages_from_an_overcounted_total_do_not_end_the_window_early():
    convs = make_conversations(days=1, per_day=35)
    api = FakeAPI(convs)
    api.total_hits_bonus = 3  # approximate totalHits: 38 announced, 35 exist
    events, _ = read(api, day_windows(1), empty_page_retries=0)
    assert len(records_of(events)) == 35


def test_a_failing_later_window_does_not_stop_earlier_windows_from_completing():
    convs = make_conversations(days=4, per_day=30)
    api = FakeAPI(convs, latency=0.003)
    windows = day_windows(4)
    api.fail_interval = windows[2].interval
    reader = WindowReader(api, windows, page_size=10, base_body={}, workers=4)
    seen = []
    with pytest.raises(GenesysAPIError, match="page 1"):
        for event in reader.events():
            seen.append(event)
    assert [e.window for e in seen if isinstance(e, WindowDone)] == windows[:2]


def test_prefetch_is_bounded_while_the_consumer_is_slow():
    convs = make_conversations(days=6, per_day=60)
    api = FakeAPI(convs)
    reader = WindowReader(
        api, day_windows(6), page_size=10, base_body={}, workers=4, max_buffered_pages=5
    )
    consumed = 0
    worst = 0
    for event in reader.events():
        if isinstance(event, WindowPage):
            consumed += 1
            time.sleep(0.002)
            worst = max(worst, len(api.calls) - consumed)
    assert worst <= 5 + 4 + 1  # bound + the emitting window's workers + empty-page slack
    # every fetched page was used, except at most one empty probe per window (full last page)
    assert len(api.calls) - consumed <= 6


class ConcurrencyProbe(FakeAPI):
    """FakeAPI with a fixed latency that records the peak of requests in flight per interval."""

    def __init__(self, conversations, latency):
        super().__init__(conversations)
        self.fixed_latency = latency
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def post_query(self, body, *, what, on_send=None, **_):
        interval = body["interval"]
        with self.lock:
            self.active[interval] = self.active.get(interval, 0) + 1
            self.peak[interval] = max(self.peak.get(interval, 0), self.active[interval])
        time.sleep(self.fixed_latency)
        try:
            return super().post_query(body, what=what, on_send=on_send)
        finally:
            with self.lock:
                self.active[interval] -= 1


def test_the_emitting_window_keeps_every_worker_busy_while_later_windows_wait():
    # 10 windows: their page 1s fill the prefetch bound before window 1's totalHits is known
    windows = day_windows(10)
    api = ConcurrencyProbe(make_conversations(days=10, per_day=200), latency=0.01)
    events, _ = read(api, windows, workers=4)
    assert len(records_of(events)) == len(api.conversations)
    assert api.peak[windows[0].interval] == 4
    assert api.peak[windows[1].interval] == 4


def test_query_body_carries_interval_paging_order_and_filters():
    window = day_windows(1)[0]
    reader = WindowReader(
        FakeAPI([]),
        [window],
        page_size=100,
        base_body={"order": "asc", "segmentFilters": [{"type": "or"}]},
    )
    assert reader.body(window, 3) == {
        "order": "asc",
        "segmentFilters": [{"type": "or"}],
        "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
        "paging": {"pageSize": 100, "pageNumber": 3},
    }


def test_under_announced_total_hits_pages_on_past_the_announced_end():
    convs = make_conversations(days=1, per_day=95)
    api = FakeAPI(convs)
    api.total_hits_factor = 0.5  # 47 announced: 5 pages planned, 10 exist
    events, _ = read(api, day_windows(1))
    assert len(records_of(events)) == 95
    # the 10th page is short, the 11th empty: done (one request past the last records)
    assert [n for _, n in api.calls] == list(range(1, 12))
