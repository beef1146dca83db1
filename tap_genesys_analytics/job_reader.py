"""Windows read through async conversation detail jobs, strictly in window order.

:class:`JobReader` yields the same :class:`WindowPage` / :class:`WindowDone` stream as
:class:`~tap_genesys_analytics.window_reader.WindowReader` (one ``WindowDone`` per window, in
order; :mod:`~tap_genesys_analytics.hybrid_reader` combines the two). It keeps up to
``max_jobs`` jobs queued or running (submit, poll with backoff, delete: this thread) while
:class:`~tap_genesys_analytics.job_results.ResultsReader` fetches the cursor-paged results of
up to ``max_jobs`` fulfilled jobs at once, ahead of their emission (memory: at most
``results_ahead`` pages, default twice ``max_jobs``, plus the page emitted); every call goes
through :meth:`GenesysClient.request`, so the one rate budget pays for them. A job covers up
to ``max_windows`` windows, asked in ``conversationStart`` order; the oldest job's pages are
cut into windows as they are taken, so records and ``WindowDone`` come strictly in window
order. Results out of order before anything was emitted switch the run to one job per
window, each window's records held and sorted before they are emitted (memory: one window);
out of order after a window was emitted, the run stops with an error naming the interval.
:mod:`~tap_genesys_analytics.job_windows` cuts the pages: job records lose participant
``attributes`` (the query does not serve them) and a record not final ``settle`` before the
job's ``dataAvailabilityDate`` is replaced by its current version (multi-get), so both paths
give the same records.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.client import GenesysClient, RequestBusy, RequestRefused
from tap_genesys_analytics.errors import ExtractError, GenesysAPIError, TapError
from tap_genesys_analytics.job_plan import OutOfOrder, WindowCutter
from tap_genesys_analytics.job_results import JOBS_PATH, RETRY_STATES, Expired, ResultsReader
from tap_genesys_analytics.job_windows import Event, JobRun, JobWindows
from tap_genesys_analytics.windows import Window

RUNNING = ("QUEUED", "PENDING")
GAVE_UP = "GAVE_UP"  # resubmitted JOB_ATTEMPTS times: the run stops when it is its turn
#: without a Retry-After, a refused job submission is tried again after this many seconds
BUSY_WAIT_S = 5.0
#: ... and given up after waiting this long in all for a free job slot
BUSY_GIVE_UP_S = 900.0

logger = logging.getLogger("tap_genesys_analytics.job_reader")
__all__ = ["JOBS_PATH", "Event", "JobReader"]


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
        results_ahead: int | None = None,
    ) -> None:
        self.client = client
        self.base_body = base_body
        self.max_jobs = max(1, max_jobs)
        #: results of up to max_jobs jobs fetched at once, at most results_ahead pages held
        self.results = ResultsReader(
            client, page_size=page_size, workers=self.max_jobs, max_pages=results_ahead
        )
        self.windows = JobWindows(client, len(windows), settle=settle, availability=availability)
        self._sleep, self._now = sleep, monotonic
        self.poll_first_s = job_plan.POLL_FIRST_S if poll_first_s is None else poll_first_s
        self._groups = deque(job_plan.group_windows(windows, max_windows))
        self._active: deque[JobRun] = deque()
        self._submit_after = 0.0
        self._busy_since: float | None = None

    @property
    def windows_total(self) -> int:
        return self.windows.windows_total

    @property
    def windows_done(self) -> int:
        return self.windows.windows_done

    # -- public -------------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Pages of owned records and window completions, in window order."""
        try:
            while self._groups or self._active:
                self._submit_more()
                self._start_reads()
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
            self.results.close()  # its requests in flight end before the jobs are deleted
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
            run = JobRun(self._groups[0])
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

    def _submit(self, run: JobRun, shrinkable: bool = False) -> bool:
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
        self._start_reads()

    def _next_due(self) -> float | None:
        """When a poll or a submission is due next (None: nothing to wait for)."""
        due = [r.next_poll for r in self._active if r.state in RUNNING]
        if any(r.state == "NEW" for r in self._active) or (
            self._groups
            and self._running() < self.max_jobs
            and len(self._active) < 2 * self.max_jobs
        ):  # a submission that could not be sent yet (no free job slot)
            due.append(self._submit_after)
        return min(due, default=None)

    def _start_reads(self) -> None:
        """Fulfilled jobs' results are fetched from now on, in the order of the jobs."""
        for run in self._active:
            if run.state == "FULFILLED" and run.job_id is not None:
                self.results.start(run)

    def _poll(self, run: JobRun, retry: bool = True) -> str:
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

    def _retry(self, run: JobRun, state: str) -> None:
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

    def _delete(self, run: JobRun) -> None:
        self.results.drop(run)  # its results request in flight ends first
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

    def _read(self, run: JobRun) -> Iterator[Event]:
        """The job's results pages, cut into windows as they are taken (fetched ahead, with
        the pages of the jobs after it, by :attr:`results`)."""
        run.emitted = 0
        cutter = WindowCutter(run.group)
        self.results.start(run)
        while True:
            try:
                page = self._next_page(run)
            except Expired:
                self._retry(run, "EXPIRED")
                run.group = run.group[run.emitted :]  # what is left of it
                return
            try:
                yield from self.windows.cut_page(run, cutter, page)
            except OutOfOrder as exc:
                self._unordered(run, exc)  # the pages ahead are not used; jobs are deleted
                return
            if not self.results.more(page):
                break
            self._poll_due()
            self._submit_more()
        yield from self.windows.close(run, cutter.finish())
        self._delete(run)
        self._active.remove(run)

    def _next_page(self, run: JobRun) -> dict[str, Any]:
        """The front job's next results page; polls and submissions fall due meanwhile."""
        while True:
            due = self._next_due()
            timeout = None if due is None else max(0.0, due - self._now())
            page = self.results.take(run, timeout)
            if page is not None:
                return page
            self._poll_due()
            self._submit_more()

    def _unordered(self, run: JobRun, exc: OutOfOrder) -> None:
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
        self.windows.ordered = False
        run.group = run.group[run.emitted :]
        for active in self._active:  # later jobs too: their windows come after run's
            self._delete(active)
        windows = [w for r in self._active for w in r.group]
        windows += [w for group in self._groups for w in group]
        self._active.clear()
        self._groups = deque((w,) for w in windows)
