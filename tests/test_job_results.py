"""Async jobs' results read ahead for several jobs at once, emitted strictly in window order.

``ResultsReader`` against a scripted client (which pages it asks for, how many it holds, what
a failure does), then the whole tap against the simulator: several jobs' results requests in
flight at the same time, yet the same records in the same order and the same STATE as a
query-only run, with the pages held ahead never above the cap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tap_genesys_analytics import job_plan, job_reader
from tap_genesys_analytics.errors import GenesysAPIError
from tap_genesys_analytics.job_results import ResultsReader
from tests.conftest import run_tap, tap_config_for

WAIT_S = 10.0  # a bound on waits for other threads, never reached when the code is right


@dataclass(eq=False)
class Job:
    job_id: str | None
    requests: int = 0
    pages: int = 0

    @property
    def interval(self) -> str:
        return f"interval-{self.job_id}"

    def count(self) -> None:
        self.requests += 1

    def add_page(self) -> None:
        self.pages += 1


class ScriptedResults:
    """Answers results requests: ``pages[job]`` pages a job, cursor = the next page's number.

    ``fail``: the page of a job whose request fails (500 for good); ``meet``: jobs whose first
    results requests each wait (bounded) until the others' are in flight too."""

    def __init__(
        self, pages: dict[str, int], fail: dict[str, int] | None = None, meet: tuple[str, ...] = ()
    ) -> None:
        self.pages, self.fail = pages, fail or {}
        self.sent: list[tuple[str, int]] = []
        self.met = threading.Barrier(len(meet)) if meet else None
        self.meet = set(meet)
        self._lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        job_id = path.split("/")[-2 if path.endswith("/results") else -1]
        if kwargs.get("on_send"):
            kwargs["on_send"]()
        if not path.endswith("/results"):
            return {"state": "FULFILLED"}  # the status asked after a failure: not expired
        number = int(kwargs["params"].get("cursor", "0"))
        with self._lock:
            self.sent.append((job_id, number))
        if self.met is not None and job_id in self.meet and number == 0:
            self.met.wait(WAIT_S)  # BrokenBarrierError unless the others come meanwhile
        if self.fail.get(job_id) == number:
            raise GenesysAPIError(f"results of {job_id} page {number}: HTTP 500")
        page: dict[str, Any] = {"conversations": [{"job": job_id, "page": number}]}
        if number + 1 < self.pages[job_id]:
            page["cursor"] = str(number + 1)
        return page


def settle(reader: ResultsReader) -> None:
    """Wait until no results request is in flight."""
    with reader._cond:
        assert reader._cond.wait_for(lambda: reader._in_flight == 0, WAIT_S)


def read_all(reader: ResultsReader, job: Job, held: list[int]) -> list[tuple[str, int]]:
    taken = []
    while True:
        page = reader.take(job, WAIT_S)
        assert page is not None
        held.append(reader.held)
        taken.append((page["conversations"][0]["job"], page["conversations"][0]["page"]))
        if not reader.more(page):
            reader.drop(job)
            return taken


def test_several_jobs_are_fetched_at_once_taken_in_order_and_held_pages_are_capped():
    client = ScriptedResults({"a": 6, "b": 6, "c": 6}, meet=("a", "b", "c"))
    reader = ResultsReader(client, workers=3, max_pages=4)  # type: ignore[arg-type]
    jobs = [Job("a"), Job("b"), Job("c")]
    try:
        for job in jobs:
            reader.start(job)
        settle(reader)  # the three first pages were in flight together (the barrier)
        # nobody takes yet: jobs that are not being emitted hold max_pages - 1 at most
        assert len(client.sent) == 3 and reader.held == 3
        held: list[int] = []
        taken = [page for job in jobs for page in read_all(reader, job, held)]
    finally:
        reader.close()
    assert taken == [(j, n) for j in "abc" for n in range(6)]  # job by job, in cursor order
    assert sorted(client.sent) == taken  # every page asked once
    assert max(held) <= 4 and reader.peak == 4  # the cap, reached and never passed
    assert [(j.requests, j.pages) for j in jobs] == [(6, 6)] * 3


def test_a_later_jobs_failure_is_raised_at_its_turn_after_its_pages_before_it():
    client = ScriptedResults({"a": 3, "b": 4}, fail={"b": 2})
    reader = ResultsReader(client, workers=2, max_pages=4)  # type: ignore[arg-type]
    a, b = Job("a"), Job("b")
    try:
        reader.start(a)
        reader.start(b)
        held: list[int] = []
        assert read_all(reader, a, held) == [("a", 0), ("a", 1), ("a", 2)]
        assert reader.take(b, WAIT_S) == {"conversations": [{"job": "b", "page": 0}], "cursor": "1"}
        assert reader.take(b, WAIT_S) == {"conversations": [{"job": "b", "page": 1}], "cursor": "2"}
        with pytest.raises(GenesysAPIError, match=r"^job interval-b results: results of b page 2"):
            reader.take(b, WAIT_S)
    finally:
        reader.close()
    assert b.requests == 3 + 1  # pages 0-2, then the status check (not expired)


def test_a_dropped_job_frees_its_pages_and_is_not_fetched_further():
    client = ScriptedResults({"a": 2, "b": 9})
    reader = ResultsReader(client, workers=2, max_pages=4)  # type: ignore[arg-type]
    a, b = Job("a"), Job("b")
    try:
        reader.start(a)
        reader.start(b)
        settle(reader)
        reader.drop(b)  # e.g. its job was deleted after results out of order
        settle(reader)
        asked = len(client.sent)
        held: list[int] = []
        assert read_all(reader, a, held) == [("a", 0), ("a", 1)]
        settle(reader)
    finally:
        reader.close()
    assert reader.held == 0
    assert len(client.sent) == asked and max(n for j, n in client.sent if j == "b") <= 2


# -- the whole tap against the simulator -------------------------------------------------------


def details(run: Any) -> list[dict[str, Any]]:
    return run.rows("conversation_details")


@pytest.mark.integration
def test_jobs_results_are_read_concurrently_yet_emitted_in_order_with_the_same_state(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_plan, "POLL_FIRST_S", 0.001)  # the simulator's jobs advance by polls
    readers: list[ResultsReader] = []

    class Recorded(ResultsReader):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            readers.append(self)

    monkeypatch.setattr(job_reader, "ResultsReader", Recorded)
    in_flight: set[str] = set()
    overlaps: list[int] = []
    changed = threading.Condition()
    real = sim.jobs.results_page

    def results_page(job_id: str, params: dict[str, str], now_ms: int) -> Any:
        with changed:
            in_flight.add(job_id)
            changed.notify_all()
            # hold the request (bounded) until another job's is in flight too; a reader that
            # fetches one job at a time meets nobody and the overlap stays 1
            changed.wait_for(lambda: len(in_flight) > 1, 0.2)
            overlaps.append(len(in_flight))
        try:
            return real(job_id, params, now_ms)
        finally:
            with changed:
                in_flight.discard(job_id)

    monkeypatch.setattr(sim.jobs, "results_page", results_page)
    end = "2024-05-07T23:55:00Z"
    query = run_tap(tap_config_for(sim, end_date=end, extraction_mode="query"))
    jobs = run_tap(
        tap_config_for(
            sim,
            end_date=end,
            extraction_mode="jobs",
            job_max_windows=1,  # five one-day jobs, three at once
            job_page_size=40,  # ~4 pages a job
            max_concurrent_jobs=3,
        )
    )
    assert query.error is None and jobs.error is None
    assert len(details(query)) > 600
    assert details(jobs) == details(query)  # same records, same order
    assert jobs.bookmarks == query.bookmarks  # one STATE per window, same bookmarks
    assert max(overlaps) >= 2  # results of two jobs or more were in flight at the same time
    assert len(overlaps) >= 5 * 3  # ~150 a day, 40 a page
    (reader,) = readers
    assert reader.max_pages == 6  # twice max_concurrent_jobs
    assert 2 <= reader.peak <= reader.max_pages
