"""Windows -> pages -> owned records, fetched concurrently and delivered strictly in order.

:class:`WindowReader` keeps up to ``max_buffered_pages`` page requests in flight or waiting
(bounded prefetch: memory does not grow with the range). Page 1 of a window tells
``totalHits``; the remaining pages, and the next windows' page 1, are then fetched by
``workers`` threads, while :meth:`WindowReader.events` yields each window's records in page
order and a :class:`WindowDone` only after all of them. A window whose ``totalHits`` would pass
the API's paging cap is split in halves (recursively) before any further page is requested;
with ``max_page_depth``, a window whose ``totalHits`` announces more pages than that is cut
into as many equal parts as keep each part that shallow (deep pages of the API are slow).

A window ends only on an empty page: pages after the announced last one are read one by one
until the first empty page (``totalHits`` is approximate both ways). A page that stays empty
after its retries while more were announced is skipped: the following pages are still read
(without further empty-page retries), and :class:`WindowDone` names the empty pages — a *gap*
for certain when a later page held records — so the caller can hold the bookmark. A page whose shape
is not the API's (``conversations`` not a list, a record without a readable
``conversationStart``) stops the run with an :class:`ExtractError` naming window and page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tap_genesys_analytics.details_query import (
    CONVERSATIONS,
    DetailsQuery,
    QueryClient,
    WindowDone,
    WindowPage,
)
from tap_genesys_analytics.errors import ExtractError
from tap_genesys_analytics.job_plan import depth_parts, split_even
from tap_genesys_analytics.pagination import (
    EMPTY_PAGE_DELAY_S,
    EMPTY_PAGE_RETRIES,
    MAX_RESULTS,
    PageDecision,
    PagePlan,
    is_too_deep,
)
from tap_genesys_analytics.windows import Window, WindowTooSmall, split_window

logger = logging.getLogger("tap_genesys_analytics.window_reader")


@dataclass
class _Task:
    page: int
    future: Future[dict[str, Any]]
    empty_retries: int = 0


@dataclass
class _Job:
    window: Window
    seen: set[str] = field(default_factory=set)
    plan: PagePlan | None = None
    tasks: deque[_Task] = field(default_factory=deque)
    next_page: int = 1
    finished: bool = False
    #: pages skipped empty although announced; records on a later page confirm a gap
    empty_pages: list[int] = field(default_factory=list)
    gap_confirmed: bool = False
    records: int = 0
    pages: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1


class WindowReader:
    """Reads planned windows concurrently; yields their records strictly in window order."""

    def __init__(
        self,
        client: QueryClient,
        windows: list[Window],
        *,
        page_size: int,
        base_body: dict[str, Any],
        workers: int = 4,
        max_buffered_pages: int | None = None,
        empty_page_retries: int = EMPTY_PAGE_RETRIES,
        empty_page_delay_s: float = EMPTY_PAGE_DELAY_S,
        sleep: Callable[[float], None] = time.sleep,
        query: DetailsQuery | None = None,
        max_page_depth: int | None = None,
    ) -> None:
        """``base_body`` holds the filters/order; interval and paging are added per request.

        ``query`` is the family read (default: the conversation details query);
        ``max_page_depth``: split windows that would page deeper (None: only at the cap).
        """
        self.max_page_depth = max_page_depth
        self.client = client
        self.query: DetailsQuery = query or CONVERSATIONS
        self.page_size = page_size
        self.base_body = base_body
        self.workers = max(workers, 1)
        self.max_buffered = max_buffered_pages or 2 * self.workers
        self.empty_page_retries = empty_page_retries
        self.empty_page_delay_s = empty_page_delay_s
        self._sleep = sleep
        self._windows: deque[Window] = deque(windows)
        self._jobs: deque[_Job] = deque()
        self.windows_total = len(windows)
        self.windows_done = 0

    # -- public -------------------------------------------------------------------------------

    def events(self) -> Iterator[WindowPage | WindowDone]:
        """Yield pages of owned records and window completions, in window order."""
        executor = ThreadPoolExecutor(self.workers, thread_name_prefix="genesys-page")
        self._executor = executor
        try:
            yield from self._run()
        finally:
            for job in self._jobs:
                for task in job.tasks:
                    task.future.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    def body(self, window: Window, page: int) -> dict[str, Any]:
        """The request body for one page of one window."""
        return {
            **self.base_body,
            "interval": window.interval,
            "paging": {"pageSize": self.page_size, "pageNumber": page},
        }

    # -- scheduling ---------------------------------------------------------------------------

    def _run(self) -> Iterator[WindowPage | WindowDone]:
        while True:
            self._inspect_first_pages()
            self._fill()
            if not self._jobs:
                return
            job = self._jobs[0]
            if job.finished:
                self._jobs.popleft()
                self.windows_done += 1
                yield self._done(job)
                continue
            if not job.tasks:
                self._advance_sequential(job)
                continue
            task = job.tasks[0]
            if not task.future.done():
                wait(self._in_flight(), return_when=FIRST_COMPLETED)
                continue
            page = self._consume(job, task)
            if page is not None and page.records:
                yield page

    def _in_flight(self) -> list[Future[dict[str, Any]]]:
        return [t.future for j in self._jobs for t in j.tasks if not t.future.done()]

    def _buffered(self) -> int:
        return sum(len(j.tasks) for j in self._jobs)

    def _fill(self) -> None:
        """Submit pages in emission order until the prefetch bound is reached.

        The window being emitted may always keep ``workers`` pages requested, even past the
        bound: prefetched pages of later windows (their page 1, fetched before this window's
        ``totalHits`` was known) wait for it to be emitted, so counting them against it would
        leave it one request at a time (memory stays bounded by ``max_buffered + workers``).
        """
        if self._jobs:
            front = self._jobs[0]
            while len(front.tasks) < self.workers and self._can_submit(front):
                self._submit(front, front.next_page)
                front.next_page += 1
        buffered = self._buffered()
        index = 0
        while buffered < self.max_buffered:
            if index == len(self._jobs):
                if not self._windows:
                    return
                self._jobs.append(_Job(self._windows.popleft()))
            job = self._jobs[index]
            while buffered < self.max_buffered and self._can_submit(job):
                self._submit(job, job.next_page)
                job.next_page += 1
                buffered += 1
            index += 1

    def _can_submit(self, job: _Job) -> bool:
        if job.finished:
            return False
        if job.next_page == 1:
            return True
        plan = job.plan
        if plan is None or plan.last_page is None:
            return False  # plan not known yet, or no totalHits: paged one by one
        return job.next_page <= plan.last_page

    def _submit(self, job: _Job, page: int, delay_s: float = 0.0, empty_retries: int = 0) -> None:
        future = self._executor.submit(self._fetch, job, page, delay_s)
        task = _Task(page, future, empty_retries)
        if empty_retries:
            job.tasks.appendleft(task)
        else:
            job.tasks.append(task)

    def _fetch(self, job: _Job, page: int, delay_s: float) -> dict[str, Any]:
        if delay_s:
            self._sleep(delay_s)
        return self.client.post_query(
            self.body(job.window, page),
            what=f"window {job.window.interval} page {page}",
            on_send=job.count_request,
            path=self.query.path,
            permission=self.query.permission,
        )

    # -- page 1: plan or split ----------------------------------------------------------------

    def _inspect_first_pages(self) -> None:
        """Learn each window's plan as soon as its page 1 is back (splitting if too deep)."""
        for job in list(self._jobs):
            if job.plan is not None or not job.tasks or job.tasks[0].page != 1:
                continue
            future = job.tasks[0].future
            if not future.done() or future.exception() is not None:
                continue  # errors surface in window order, when the page is consumed
            total = future.result().get("totalHits")
            plan = PagePlan(
                self.page_size,
                total if isinstance(total, int) else None,
                self.empty_page_retries,
                self.empty_page_delay_s,
            )
            if not plan.fits:
                self._split(job, f"totalHits {total} passes the {MAX_RESULTS}-result paging cap")
                continue
            parts = depth_parts(plan.total_hits, self.page_size, self.max_page_depth)
            shallow = split_even(job.window, parts) if parts > 1 else [job.window]
            if len(shallow) > 1:
                reason = (
                    f"totalHits {total} is {plan.last_page} pages, deeper than max_page_depth "
                    f"{self.max_page_depth}"
                )
                self._replace(job, shallow, reason)
            else:
                job.plan = plan

    def _split(self, job: _Job, reason: str) -> None:
        try:
            halves = split_window(job.window)
        except WindowTooSmall as exc:
            raise ExtractError(
                f"window {job.window.interval}: {reason} and it cannot be split further ({exc})"
            ) from None
        self._replace(job, list(halves), reason)

    def _replace(self, job: _Job, parts: list[Window], reason: str) -> None:
        """``job`` gives way to one job per part (same seen set), in its place."""
        for task in job.tasks:
            task.future.cancel()
        index = self._jobs.index(job)
        self._jobs.remove(job)
        for offset, part in enumerate(parts):
            new = _Job(part, seen=job.seen)
            new.records = job.records if offset == 0 else 0
            self._jobs.insert(index + offset, new)
        self.windows_total += len(parts) - 1
        logger.info(
            "window %s: %s; split into %d windows (%s .. %s)",
            job.window,
            reason,
            len(parts),
            parts[0],
            parts[-1],
        )

    def _advance_sequential(self, job: _Job) -> None:
        """No totalHits: request the next page only after the previous one held records."""
        if is_too_deep(job.next_page, self.page_size):
            self._split(job, f"page {job.next_page} would pass the {MAX_RESULTS}-result cap")
            return
        self._submit(job, job.next_page)
        job.next_page += 1

    # -- consuming ----------------------------------------------------------------------------

    def _consume(self, job: _Job, task: _Task) -> WindowPage | None:
        result = task.future.result()  # raises the client's one-line error, in window order
        if job.plan is None:
            self._inspect_first_pages()
            if job not in self._jobs:
                return None  # split: the halves start over
        assert job.plan is not None
        conversations = result.get(self.query.items_key) or []
        decision = job.plan.after_page(task.page, len(conversations), task.empty_retries)
        if decision is PageDecision.RETRY_EMPTY and job.empty_pages:
            decision = PageDecision.SKIP_EMPTY  # read on without more retries after a first one
        if conversations and job.empty_pages:
            job.gap_confirmed = True
        job.tasks.popleft()
        if not isinstance(conversations, list):
            raise ExtractError(
                f"window {job.window} page {task.page}: '{self.query.items_key}' is a "
                f"{type(conversations).__name__}, not a list; the API answered something else "
                "than a details page"
            )
        if decision is PageDecision.RETRY_EMPTY:
            delay = job.plan.empty_page_delay(task.empty_retries)
            logger.info(
                "window %s page %d: empty although totalHits=%s announces more; "
                "asking again in %.1f s (retry %d/%d)",
                job.window,
                task.page,
                job.plan.total_hits,
                delay,
                task.empty_retries + 1,
                job.plan.empty_page_retries,
            )
            self._submit(job, task.page, delay, task.empty_retries + 1)
            return None
        job.pages += 1
        if decision is PageDecision.SKIP_EMPTY:
            job.empty_pages.append(task.page)
            logger.warning(
                "window %s page %d: empty (%d retries) although totalHits announced %s records; "
                "reading the following pages",
                job.window,
                task.page,
                task.empty_retries,
                job.plan.total_hits,
            )
        if decision is PageDecision.DONE:
            job.finished = True
            for rest in job.tasks:
                rest.future.cancel()
            job.tasks.clear()
        owned = self.query.owned(job.window, task.page, conversations, job.seen)
        job.records += len(owned)
        return WindowPage(job.window, owned)

    def _done(self, job: _Job) -> WindowDone:
        return WindowDone(
            window=job.window,
            records=job.records,
            pages=job.pages,
            requests=job.requests,
            elapsed_s=time.monotonic() - job.started,
            total_hits=job.plan.total_hits if job.plan else None,
            windows_done=self.windows_done,
            windows_total=self.windows_total,
            empty_pages=tuple(job.empty_pages),
            gap_confirmed=job.gap_confirmed,
        )
