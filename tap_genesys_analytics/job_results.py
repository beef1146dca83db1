"""Async jobs' results pages, fetched ahead of their emission for several jobs at once.

A job's results are cursor-paged, so one job's pages come one after the other. A
:class:`ResultsReader` follows the cursor chains of up to ``workers`` fulfilled jobs at once
(one request in flight per job, every request through :meth:`GenesysClient.request`, so the
one rate budget pays for them) and keeps each job's pages until
:class:`~tap_genesys_analytics.job_reader.JobReader` takes them, job by job, in window order.

Memory is bounded: pages fetched and not yet taken plus requests in flight never exceed
``max_pages`` (beyond them: the page being emitted). Jobs other than the one being emitted
(the *front*) hold at most ``max_pages - 1`` of them, so the front can always fetch its next
page. A failure is kept with its job and raised when that job's pages are taken, after the
pages fetched before it: the windows before it are emitted first.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from tap_genesys_analytics.client import GenesysClient, RequestRefused
from tap_genesys_analytics.errors import GenesysAPIError

JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"
#: states in which a job's results are gone: it is submitted again
RETRY_STATES = ("FAILED", "CANCELLED", "EXPIRED")

logger = logging.getLogger("tap_genesys_analytics.job_results")


class ResultsJob(Protocol):
    """What the reader needs of a job (``job_reader._Run``)."""

    job_id: str | None

    @property
    def interval(self) -> str: ...

    def count(self) -> None: ...

    def add_page(self) -> None: ...


class Expired(Exception):
    """The job's results are gone (EXPIRED, or the job vanished) while being read."""


@dataclass(eq=False)
class _Chain:
    """One job's cursor chain: pages fetched and not yet taken, the request in flight."""

    job: ResultsJob
    job_id: str
    cursor: str | None = None
    pages: deque[dict[str, Any]] = field(default_factory=deque)
    fetching: bool = False
    finished: bool = False  # the last page was fetched
    error: Exception | None = None
    dropped: bool = False


class ResultsReader:
    """Results pages of several jobs fetched concurrently; taken job by job (thread-safe)."""

    def __init__(
        self,
        client: GenesysClient,
        *,
        page_size: int = 1000,
        workers: int = 3,
        max_pages: int | None = None,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.workers = max(1, workers)
        self.max_pages = max(2, max_pages if max_pages is not None else 2 * self.workers)
        #: the most pages held at once (fetched and not taken, plus requests in flight)
        self.peak = 0
        self._cond = threading.Condition()
        self._chains: dict[ResultsJob, _Chain] = {}  # in the order the jobs were started
        self._front: ResultsJob | None = None
        self._held = 0
        self._in_flight = 0
        self._closed = False
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="genesys-job-results")

    # -- called by the job reader (one thread) -------------------------------------------------

    def start(self, job: ResultsJob) -> None:
        """Start fetching a fulfilled job's results (no-op when they are being read)."""
        if job.job_id is None:
            raise ValueError(f"job {job.interval}: results asked before it was submitted")
        with self._cond:
            if job not in self._chains and not self._closed:
                self._chains[job] = _Chain(job, job.job_id)
                self._schedule()

    @property
    def held(self) -> int:
        """Pages fetched and not yet taken, plus requests in flight (at most ``max_pages``)."""
        with self._cond:
            return self._held

    def take(self, job: ResultsJob, timeout: float | None = None) -> dict[str, Any] | None:
        """The next results page of ``job`` (now the front), waiting up to ``timeout``
        seconds (None: no page yet). Raises what fetching it raised (:class:`Expired`,
        :class:`GenesysAPIError`) once the pages before the failure were taken."""
        with self._cond:
            chain = self._chains[job]
            if self._front is not job:
                self._front = job
                self._schedule()
            ready = lambda: chain.pages or chain.error or chain.finished  # noqa: E731
            if not self._cond.wait_for(ready, timeout):
                return None
            if chain.pages:
                self._held -= 1
                page = chain.pages.popleft()
                self._schedule()
                return page
            if chain.error is not None:
                raise chain.error
            raise RuntimeError(f"job {job.interval}: its last results page was already taken")

    @staticmethod
    def more(page: dict[str, Any]) -> bool:
        """True when a results page has a cursor: more pages follow."""
        return _cursor(page) is not None

    def drop(self, job: ResultsJob) -> None:
        """Forget ``job``'s pages and stop fetching them; returns once its request in flight
        (if any) has ended, so the job may be deleted."""
        with self._cond:
            chain = self._chains.pop(job, None)
            if chain is None:
                return
            chain.dropped = True
            self._held -= len(chain.pages)
            chain.pages.clear()
            if self._front is job:
                self._front = None
            self._cond.wait_for(lambda: not chain.fetching)
            self._schedule()

    def close(self) -> None:
        """Stop every chain; returns once the requests in flight have ended."""
        with self._cond:
            self._closed = True
            for job in list(self._chains):
                chain = self._chains.pop(job)
                chain.dropped = True
                self._held -= len(chain.pages)
                chain.pages.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- scheduling (lock held) ----------------------------------------------------------------

    def _schedule(self) -> None:
        """Start the next fetches: the front first, then the other jobs in their order."""
        if self._closed:
            return
        front = self._chains.get(self._front) if self._front is not None else None
        chains = list(self._chains.values())
        if front is not None:
            chains.remove(front)
            chains.insert(0, front)
        for chain in chains:
            if self._in_flight >= self.workers:
                return
            if chain.fetching or chain.finished or chain.error is not None:
                continue
            limit = self.max_pages if chain is front else self.max_pages - 1
            if self._held >= limit:
                continue
            chain.fetching = True
            self._held += 1
            self._in_flight += 1
            self.peak = max(self.peak, self._held)
            self._pool.submit(self._fetch, chain)

    # -- workers -------------------------------------------------------------------------------

    def _fetch(self, chain: _Chain) -> None:
        page: dict[str, Any] | None = None
        error: Exception | None = None
        try:
            page = self._page(chain.job, chain.job_id, chain.cursor)
        except Exception as exc:  # kept with the job, raised when its pages are taken
            error = exc
        with self._cond:
            self._in_flight -= 1
            chain.fetching = False
            if chain.dropped or page is None:
                self._held -= 1
                chain.error = None if chain.dropped else error
            else:
                chain.pages.append(page)
                chain.cursor = _cursor(page)
                chain.finished = chain.cursor is None
            self._schedule()
            self._cond.notify_all()

    def _page(self, job: ResultsJob, job_id: str, cursor: str | None) -> dict[str, Any]:
        """One results page; a refused page size is halved for the rest of the run."""
        while True:
            size = self.page_size
            params = {"pageSize": str(size)}
            if cursor:
                params["cursor"] = cursor
            try:
                page = self.client.request(
                    "GET",
                    f"{JOBS_PATH}/{job_id}/results",
                    params=params,
                    what=f"job {job.interval} results (page size {size})",
                    on_send=job.count,
                    refused_ok=True,
                )
            except (RequestRefused, GenesysAPIError) as exc:
                if self._gone(job, job_id):
                    raise Expired from None
                if not isinstance(exc, RequestRefused) or size == 1:
                    raise GenesysAPIError(f"job {job.interval} results: {exc}") from None
                with self._cond:
                    if self.page_size == size:  # another job's chain may have halved it
                        self.page_size = max(1, size // 2)
                        logger.info(
                            "jobs: results page size refused (%s); using %d from now on",
                            exc,
                            self.page_size,
                        )
                continue
            job.add_page()
            return page

    def _gone(self, job: ResultsJob, job_id: str) -> bool:
        """After a failed results request: did the job expire (or vanish)?"""
        try:
            status = self.client.request(
                "GET",
                f"{JOBS_PATH}/{job_id}",
                what=f"job {job.interval} (status)",
                on_send=job.count,
            )
        except GenesysAPIError:
            return True  # the job is not there any more
        return str(status.get("state") or "UNKNOWN").upper() in RETRY_STATES


def _cursor(page: dict[str, Any]) -> str | None:
    cursor = page.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None
