"""Windows read through async conversation detail jobs, strictly in window order.

:class:`JobReader` yields the same :class:`WindowPage` / :class:`WindowDone` stream as
:class:`~tap_genesys_analytics.window_reader.WindowReader` (one ``WindowDone`` per window, in
order; :mod:`~tap_genesys_analytics.hybrid_reader` combines the two). It keeps up to
``max_jobs`` jobs queued or running while it reads the results of the oldest one (one thread:
submit, poll with backoff, cursor-paged results, delete; every call through
:meth:`GenesysClient.request`, so the one rate budget pays for them). A job covers
up to ``max_windows`` windows, asked in ``conversationStart`` order; its pages are cut into
windows as they come (memory: the page emitted and the one fetched ahead). Results out of
order before anything was emitted switch the run to one job per window, each window's records
held and sorted before they are emitted (memory: one window); out of order after a window was
emitted, the run stops with an error naming the interval. Job records lose participant
``attributes`` (the query does not serve them) and a record not final ``settle`` before the
job's ``dataAvailabilityDate`` is replaced by its current version (multi-get), so both paths
give the same records.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.client import GenesysClient, RequestBusy, RequestRefused
from tap_genesys_analytics.errors import ExtractError, GenesysAPIError, TapError
from tap_genesys_analytics.job_plan import OutOfOrder, WindowCutter
from tap_genesys_analytics.window_reader import WindowDone, WindowPage, parse_instant
from tap_genesys_analytics.windows import Window

JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"
RUNNING = ("QUEUED", "PENDING")
RETRY_STATES = ("FAILED", "CANCELLED", "EXPIRED")
GAVE_UP = "GAVE_UP"  # resubmitted JOB_ATTEMPTS times: the run stops when it is its turn
#: without a Retry-After, a refused job submission is tried again after this many seconds
BUSY_WAIT_S = 5.0
#: ... and given up after waiting this long in all for a free job slot
BUSY_GIVE_UP_S = 900.0

logger = logging.getLogger("tap_genesys_analytics.job_reader")
Event = WindowPage | WindowDone


@dataclass
class _Run:
    """One job: its windows, id, last known state and the requests it has cost."""

    group: tuple[Window, ...]
    attempts: int = 0
    job_id: str | None = None
    state: str = "NEW"
    error: str = ""
    next_poll: float = 0.0
    delays: Iterator[float] = field(default_factory=job_plan.poll_delays, repr=False)
    requests: int = 0  # not yet attributed to a finished window
    pages: int = 0
    emitted: int = 0  # windows of ``group`` whose WindowDone was yielded
    started: float = field(default_factory=time.monotonic)

    @property
    def interval(self) -> str:
        return job_plan.group_interval(self.group).interval

    def count(self) -> None:
        self.requests += 1


class _Expired(Exception):
    """The job's results are gone (EXPIRED, or the job vanished) while being read."""


class JobReader:
    """Windows read through async jobs; yields their records strictly in window order."""

    def __init__(
        self,
        client: GenesysClient,
        windows: list[Window],
        *,
        base_body: dict[str, Any],
        max_jobs: int = 3,
        page_size: int = 1000,
        max_windows: int = 7,
        settle: timedelta = timedelta(days=1),
        availability: datetime | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        poll_first_s: float | None = None,
    ) -> None:
        self.client = client
        self.base_body = base_body
        self.max_jobs = max(1, max_jobs)
        self.page_size = page_size
        self.settle = settle
        self.availability = availability
        self._sleep, self._now = sleep, monotonic
        self.poll_first_s = job_plan.POLL_FIRST_S if poll_first_s is None else poll_first_s
        self._groups = deque(job_plan.group_windows(windows, max_windows))
        self._active: deque[_Run] = deque()
        self._seen: dict[Window, set[str]] = {}
        self._records: dict[Window, int] = {}
        #: False once a job's results came out of order: windows are then held and sorted
        self._ordered = True
        self._held: dict[Window, list[dict[str, Any]]] = {}
        self._submit_after = 0.0
        self._busy_since: float | None = None
        self.windows_total = len(windows)
        self.windows_done = 0

    # -- public -------------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Pages of owned records and window completions, in window order."""
        try:
            while self._groups or self._active:
                self._submit_more()
                if not self._active:
                    self._sleep(max(0.0, self._submit_after - self._now()))
                    continue
                front = self._active[0]
                if front.state == "FULFILLED":
                    yield from self._read(front)
                elif front.state == GAVE_UP:
                    raise ExtractError(front.error)
                elif front.state in RETRY_STATES:
                    self._retry(front, front.state)
                elif front.state == "NEW":  # waiting for a free job slot
                    self._sleep(max(0.0, self._submit_after - self._now()))
                else:
                    self._wait_and_poll()
        finally:
            for run in self._active:
                self._delete(run)

    # -- submitting and polling ---------------------------------------------------------------

    def _running(self) -> int:
        return sum(1 for r in self._active if r.state in RUNNING or r.state == "NEW")

    def _submit_more(self) -> None:
        for run in self._active:  # resubmissions first (they keep their place in the order)
            if run.state == "NEW" and not self._submit(run):
                return
        while (
            self._groups
            and self._running() < self.max_jobs
            and len(self._active) < 2 * self.max_jobs  # fulfilled jobs wait to be read
        ):
            run = _Run(self._groups[0])
            try:
                if not self._submit(run, shrinkable=len(run.group) > 1):
                    return
            except RequestRefused as exc:  # the job interval limit is undocumented
                self._shrink(exc)
                continue
            self._groups.popleft()
            self._active.append(run)

    def _shrink(self, refused: RequestRefused) -> None:
        """The API refused a job of several windows (400): half as many a job from now on."""
        half = max(1, len(self._groups[0]) // 2)
        windows = [w for group in self._groups for w in group]
        self._groups = deque(job_plan.group_windows(windows, half))
        logger.info(
            "jobs: a job of several windows was refused (%s); %d a job from now on", refused, half
        )

    def _submit(self, run: _Run, shrinkable: bool = False) -> bool:
        """POST the job; False (and a time to try again) when the API has no free slot.

        ``shrinkable``: a 400 raises :class:`RequestRefused` (the caller cuts the group)."""
        now = self._now()
        if now < self._submit_after:
            return False
        try:
            answer = self.client.request(
                "POST",
                JOBS_PATH,
                json=job_plan.job_body(self.base_body, run.group),
                what=f"job {run.interval} (submit)",
                on_send=run.count,
                busy_ok=True,
                refused_ok=shrinkable,
            )
        except RequestBusy as exc:
            self._busy_since = self._busy_since or now
            running = self._running() - (run.state == "NEW" and run in self._active)
            if running and running < self.max_jobs:
                logger.info("jobs: the API allows %d job(s) at once; using that", running)
                self.max_jobs = running
            if now - self._busy_since > BUSY_GIVE_UP_S:
                raise ExtractError(
                    f"job {run.interval}: no free async-job slot after {BUSY_GIVE_UP_S:.0f} s "
                    f"({exc}); other jobs of the org hold them, or set extraction_mode to query"
                ) from None
            self._submit_after = now + (exc.wait_s or BUSY_WAIT_S)
            return False
        self._busy_since = None
        job_id = answer.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise GenesysAPIError(f"job {run.interval} (submit): the answer has no jobId")
        run.job_id, run.state, run.attempts = job_id, "QUEUED", run.attempts + 1
        run.delays = job_plan.poll_delays(self.poll_first_s)
        run.next_poll = self._now() + next(run.delays)
        logger.info("job %s submitted for %s (attempt %d)", job_id, run.interval, run.attempts)
        return True

    def _wait_and_poll(self) -> None:
        due = min(r.next_poll for r in self._active if r.state in RUNNING)
        self._sleep(max(0.0, due - self._now()))
        self._poll_due()

    def _poll_due(self) -> None:
        now = self._now()
        for run in list(self._active):
            if run.state in RUNNING and run.next_poll <= now:
                self._poll(run)
                run.next_poll = self._now() + next(run.delays)

    def _poll(self, run: _Run, retry: bool = True) -> str:
        status = self.client.request(
            "GET",
            f"{JOBS_PATH}/{run.job_id}",
            what=f"job {run.interval} (status)",
            on_send=run.count,
        )
        run.state = str(status.get("state") or "UNKNOWN").upper()
        run.error = str(status.get("errorMessage") or "")
        if retry and run.state in RETRY_STATES:  # submitted again at once: it keeps its slot
            self._retry(run, run.state)
        return run.state

    def _retry(self, run: _Run, state: str) -> None:
        """Submit a job that ended FAILED / CANCELLED / EXPIRED again (bounded)."""
        detail = f": {run.error}" if run.error else ""
        if run.attempts >= job_plan.JOB_ATTEMPTS:
            run.error = (
                f"job {run.interval} ended {state} {run.attempts} times{detail}; "
                "the run stops after the windows before it"
            )
            run.state = GAVE_UP
            if run is self._active[0]:
                raise ExtractError(run.error)
            self._delete(run)
            return  # raised when it is its turn: the windows before it are emitted first
        logger.warning(
            "job %s for %s ended %s%s; submitting it again",
            run.job_id,
            run.interval,
            state,
            detail,
        )
        self._delete(run)
        run.job_id, run.state, run.error = None, "NEW", ""

    def _delete(self, run: _Run) -> None:
        if run.job_id is None:
            return
        job_id, run.job_id = run.job_id, None
        try:
            self.client.request(
                "DELETE",
                f"{JOBS_PATH}/{job_id}",
                what=f"job {run.interval} (delete)",
                on_send=run.count,
            )
        except TapError as exc:  # results expire on their own
            logger.info("job %s: delete failed (%s); it expires on its own", job_id, exc)

    # -- results ------------------------------------------------------------------------------

    def _read(self, run: _Run) -> Iterator[Event]:
        """The job's results pages, cut into windows; the next page is fetched (one thread)
        while the current one is emitted."""
        run.emitted = 0
        cutter = WindowCutter(run.group)
        ahead = ThreadPoolExecutor(1, thread_name_prefix="genesys-job-results")
        try:
            future = ahead.submit(self._results_page, run, None)
            while True:
                try:
                    page = future.result()
                except _Expired:
                    self._retry(run, "EXPIRED")
                    run.group = run.group[run.emitted :]  # what is left of it
                    return
                cursor = page.get("cursor") or None
                if cursor is not None:
                    future = ahead.submit(self._results_page, run, cursor)
                try:
                    yield from self._cut_page(run, cutter, page)
                except OutOfOrder as exc:
                    wait([future])  # the page ahead is not used; the job is deleted after it
                    self._unordered(run, exc)
                    return
                if cursor is None:
                    break
                self._poll_due()
                self._submit_more()
        finally:
            ahead.shutdown(wait=True, cancel_futures=True)
        yield from self._close(run, cutter.finish())
        self._delete(run)
        self._active.remove(run)

    def _close(self, run: _Run, upto: int) -> Iterator[Event]:
        """WindowDone for the group's windows up to ``upto`` not yet done, in order (after
        their held records, sorted as the query sorts them)."""
        while run.emitted < upto:
            window = run.group[run.emitted]
            if held := self._held.pop(window, None):
                held.sort(key=lambda r: (r["conversationStart"], r["conversationId"]))
                yield WindowPage(window, held)
            yield self._done(run, window)
            run.emitted += 1

    def _results_page(self, run: _Run, cursor: str | None) -> dict[str, Any]:
        while True:
            params = {"pageSize": str(self.page_size)}
            if cursor:
                params["cursor"] = cursor
            try:
                page = self.client.request(
                    "GET",
                    f"{JOBS_PATH}/{run.job_id}/results",
                    params=params,
                    what=f"job {run.interval} results (page size {self.page_size})",
                    on_send=run.count,
                    refused_ok=True,
                )
            except (RequestRefused, GenesysAPIError) as exc:
                if self._gone(run):
                    raise _Expired from None
                if not isinstance(exc, RequestRefused) or self.page_size == 1:
                    raise GenesysAPIError(f"job {run.interval} results: {exc}") from None
                self.page_size = max(1, self.page_size // 2)
                logger.info(
                    "jobs: results page size refused (%s); using %d from now on",
                    exc,
                    self.page_size,
                )
                continue
            run.pages += 1
            return page

    def _gone(self, run: _Run) -> bool:
        """After a failed results request: did the job expire (or vanish)?"""
        try:
            return self._poll(run, retry=False) in RETRY_STATES
        except GenesysAPIError:
            return True  # the job is not there any more

    def _cut_page(self, run: _Run, cutter: WindowCutter, page: dict[str, Any]) -> Iterator[Event]:
        records = page.get("conversations") or []
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ExtractError(
                f"job {run.interval}: a results page whose 'conversations' is not a list of objects"
            )
        starts = []
        for record in records:
            try:
                starts.append(parse_instant(record["conversationStart"]))
            except (KeyError, ValueError):
                raise ExtractError(
                    f"job {run.interval}: conversation {record.get('conversationId')} has no "
                    "ISO-8601 conversationStart"
                ) from None
        indexes, _ = cutter.cut(starts)
        by_window: dict[int, list[dict[str, Any]]] = {}
        for record, index in zip(records, indexes, strict=True):
            if index is None:
                continue
            seen = self._seen.setdefault(run.group[index], set())
            conversation_id = record.get("conversationId")
            if not isinstance(conversation_id, str) or conversation_id in seen:
                continue
            seen.add(conversation_id)
            by_window.setdefault(index, []).append(job_plan.strip_attributes(record))
        view = self._view(page)
        for index in sorted(by_window):
            yield from self._close(run, index)  # windows before it are complete (in order)
            window = run.group[index]
            owned = self._refresh(run, by_window[index], view)
            self._records[window] = self._records.get(window, 0) + len(owned)
            if self._ordered:
                yield WindowPage(window, owned)
            else:
                self._held.setdefault(window, []).extend(owned)
        yield from self._close(run, cutter.closed)

    def _view(self, page: dict[str, Any]) -> datetime | None:
        value = page.get("dataAvailabilityDate")
        try:
            return parse_instant(value) if isinstance(value, str) else self.availability
        except ValueError:
            return self.availability

    def _refresh(
        self, run: _Run, records: list[dict[str, Any]], view: datetime | None
    ) -> list[dict[str, Any]]:
        """Records that may have changed since the job's view, replaced by their current
        version (multi-get), so they equal what the query serves now."""
        stale = []
        for record in records:
            end = record.get("conversationEnd")
            try:
                ended = parse_instant(end) if isinstance(end, str) else None
            except ValueError:
                ended = None
            if view is None or job_plan.needs_refresh(ended, view, self.settle):
                stale.append(record["conversationId"])
        if not stale:
            return records
        before = self.client.metrics.requests_sent
        current = {
            r["conversationId"]: r
            for r in self.client.get_conversations(stale, what=f"job {run.interval} (refresh)")
            if isinstance(r.get("conversationId"), str)
        }
        run.requests += self.client.metrics.requests_sent - before
        return [current.get(r["conversationId"], r) for r in records]

    def _unordered(self, run: _Run, exc: OutOfOrder) -> None:
        """Results out of order: one job per window from here on (then order does not
        matter); an error if a window already emitted was concerned."""
        if exc.closed:
            raise ExtractError(
                f"job {run.interval}: results are not in conversationStart order ({exc}) after "
                f"window {run.group[run.emitted - 1]} was emitted; set job_max_windows to 1"
            ) from None
        logger.warning(
            "job %s: results are not in conversationStart order (%s); reading one job per "
            "window from now on",
            run.interval,
            exc,
        )
        self._ordered = False
        run.group = run.group[run.emitted :]
        for active in self._active:  # later jobs too: their windows come after run's
            self._delete(active)
        windows = [w for r in self._active for w in r.group]
        windows += [w for group in self._groups for w in group]
        self._active.clear()
        self._groups = deque((w,) for w in windows)

    def _done(self, run: _Run, window: Window) -> WindowDone:
        self.windows_done += 1
        done = WindowDone(
            window=window,
            records=self._records.pop(window, 0),
            pages=run.pages,
            requests=run.requests,
            elapsed_s=time.monotonic() - run.started,
            total_hits=None,
            windows_done=self.windows_done,
            windows_total=self.windows_total,
        )
        self._seen.pop(window, None)
        run.requests = run.pages = 0
        return done
