"""Async conversation detail jobs (docs/genesys-api.md §2, §11): limits, latency, snapshot results.

Every fact the reference leaves uncertain is a ``SimConfig`` switch (docs/simulator.md, "Async
jobs"): results page size, concurrent-job limit (and its status), job interval limit, results
lifetime and what expired results answer, the availability lag and whether a job returns data
beyond ``dataAvailabilityDate``, and the job latency (simulated or wall clock, scaled by the
number of results). A job's results are a snapshot taken at submission.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig, parse_time
from genesys_sim.data import DAY_MS, DataSet, Row, iso, to_ms
from genesys_sim.errors import ApiError, bad_request, not_found
from genesys_sim.query import job_candidates
from genesys_sim.validate import Query, validate_async

STATES = ("QUEUED", "PENDING", "FAILED", "CANCELLED", "FULFILLED", "EXPIRED")
OUTCOMES = ("FULFILLED", "FAILED", "CANCELLED", "EXPIRED")
RUNNING = ("QUEUED", "PENDING")
HOUR_MS = 3_600_000


@dataclass
class Job:
    job_id: str
    query: Query
    submitted_ms: int  # simulated clock
    submitted_wall: float  # JobStore.monotonic()
    available_ms: int  # dataAvailabilityDate at submission
    view_ms: int  # the instant the results show (availability or submission)
    rows: list[Row] = field(repr=False)  # the snapshot taken at submission
    client: str = ""
    outcome: str = "FULFILLED"
    polls: int = 0
    forced: str | None = None
    completed_ms: int | None = None

    @property
    def ids(self) -> list[str]:
        return [r.conversation_id for r in self.rows]


class JobStore:
    """Jobs advance QUEUED -> PENDING -> outcome by elapsed time (``job_clock``) or by polls."""

    def __init__(
        self,
        config: SimConfig,
        data: DataSet,
        clock: SimClock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.data, self.clock = config, data, clock
        #: wall clock of ``job_clock="wall"`` (tests replace it to step time without sleeping)
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._script: deque[str] = deque()

    # ------------------------------------------------------------------ scenario API
    def availability_ms(self, now_ms: int) -> int:
        lagged = now_ms - int(self.config.data_availability_lag_s * 1000)
        return lagged - lagged % HOUR_MS

    def availability(self) -> datetime:
        """``dataAvailabilityDate`` at the current simulated clock."""
        return parse_time(iso(self.availability_ms(self.clock.now_ms())))

    def script(self, outcomes: list[str]) -> None:
        """Outcomes for the next jobs, in order (then FULFILLED again)."""
        for outcome in outcomes:
            if outcome not in OUTCOMES:
                raise ValueError(f"job outcome: {outcome!r} not one of {', '.join(OUTCOMES)}")
        with self._lock:
            self._script = deque(outcomes)

    def set_state(self, job_id: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"job state: {state!r} not one of {', '.join(STATES)}")
        self.get(job_id).forced = state

    def result_ids(self, job_id: str) -> list[str]:
        """The conversationIds a job's results hold, in order (its submission snapshot)."""
        return self.get(job_id).ids

    def ground_truth_rows(
        self, start: datetime | str, end: datetime | str, **body: Any
    ) -> tuple[list[Row], int]:
        """(rows, view instant) a job over [start, end) submitted now would return.

        ``body``: further ``AsyncConversationQuery`` fields in their JSON names
        (``startOfDayIntervalMatching``, ``limit``, ``segmentFilters``, ...)."""
        interval = f"{iso(to_ms(parse_time(start)))}/{iso(to_ms(parse_time(end)))}"
        q = validate_async({"interval": interval, **body})
        return self._rows_view(q, self.clock.now_ms())

    def ground_truth_ids(
        self, start: datetime | str, end: datetime | str, **body: Any
    ) -> list[str]:
        """conversationIds a job over [start, end) submitted now would return, in order."""
        rows, _view = self.ground_truth_rows(start, end, **body)
        return [r.conversation_id for r in rows]

    def ground_truth(
        self, start: datetime | str, end: datetime | str, **body: Any
    ) -> list[dict[str, Any]]:
        """The records a job over [start, end) submitted now would return."""
        rows, view = self.ground_truth_rows(start, end, **body)
        return [self.data.render(r, view, True) for r in rows]

    # ------------------------------------------------------------------ endpoints
    def create(self, q: Query, now_ms: int, client: str = "") -> Job:
        """``POST .../jobs``: check the interval and concurrency limits, snapshot the results."""
        cfg = self.config
        if cfg.job_max_interval_days and q.end_ms - q.start_ms > cfg.job_max_interval_days * DAY_MS:
            raise bad_request(
                f"The job interval must not exceed {cfg.job_max_interval_days} "
                "days. Submit one job per shorter interval.",
                "bad.request",
                "interval",
            )
        with self._lock:
            self._check_concurrency(client, now_ms)
        rows, view = self._rows_view(q, now_ms)
        with self._lock:
            self._check_concurrency(client, now_ms)
            outcome = self._script.popleft() if self._script else "FULFILLED"
            job = Job(
                str(uuid.uuid4()),
                q,
                now_ms,
                self.monotonic(),
                self.availability_ms(now_ms),
                view,
                rows,
                client,
                outcome,
            )
            self._jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"job {job_id}")
        return job

    def delete(self, job_id: str) -> None:
        """``DELETE .../jobs/{id}``: cancels a running job (frees its slot), removes results."""
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                raise not_found(f"job {job_id}")

    def status(self, job_id: str, now_ms: int) -> dict[str, object]:
        """``AsyncQueryStatus`` for a poll (each poll counts towards the next state)."""
        job = self.get(job_id)
        with self._lock:
            state = self.state(job, now_ms)
            job.polls += 1
        body: dict[str, object] = {"state": state}
        if state == "FAILED":
            body["errorMessage"] = "The query failed to complete. Retry the job."
        body["submissionDate"] = iso(job.submitted_ms)
        if state not in RUNNING and job.completed_ms is not None:
            body["completionDate"] = iso(job.completed_ms)
            body["expirationDate"] = iso(job.completed_ms + self.config.job_ttl_s * 1000)
        return body

    def results_page(
        self, job_id: str, params: dict[str, str], now_ms: int
    ) -> tuple[Job, list[Row], str | None]:
        """``GET .../results?cursor=&pageSize=``: (job, rows of the page, next cursor or None)."""
        cfg = self.config
        job = self.ready(job_id, now_ms)
        size = cfg.job_results_default_page_size
        if "pageSize" in params:
            try:
                size = int(params["pageSize"])
            except ValueError as exc:
                raise bad_request(
                    "pageSize must be an integer.", "bad.request", "pageSize"
                ) from exc
            if not 1 <= size <= cfg.job_results_max_page_size:
                raise bad_request(
                    f"pageSize must be between 1 and {cfg.job_results_max_page_size}.",
                    "bad.request",
                    "pageSize",
                )
        offset = self.decode_cursor(job_id, params["cursor"]) if params.get("cursor") else 0
        end = offset + size
        cursor = self.encode_cursor(job_id, end) if end < len(job.rows) else None
        return job, job.rows[offset:end], cursor

    # ------------------------------------------------------------------ state machine
    def state(self, job: Job, now_ms: int) -> str:
        """The job's state at ``now_ms`` (call with the lock held)."""
        cfg = self.config
        if job.forced:
            return job.forced
        if cfg.job_clock == "wall":
            elapsed = int((self.monotonic() - job.submitted_wall) * 1000)
        else:
            elapsed = now_ms - job.submitted_ms
        queue_ms = int(cfg.job_queue_s * 1000)
        done_ms = queue_ms + self.run_ms(job)
        polls_q, polls_p = cfg.job_polls_queued, cfg.job_polls_pending
        if elapsed < queue_ms and not (polls_q > 0 and job.polls >= polls_q):
            return "QUEUED"
        if elapsed < done_ms and not (polls_p > 0 and job.polls >= max(polls_q, 0) + polls_p):
            return "PENDING"
        if job.completed_ms is None:
            by_time = job.submitted_ms + done_ms if cfg.job_clock == "sim" else now_ms
            job.completed_ms = min(now_ms, by_time)
        if job.outcome == "FULFILLED" and now_ms >= job.completed_ms + cfg.job_ttl_s * 1000:
            return "EXPIRED"
        return job.outcome

    def run_ms(self, job: Job) -> int:
        """PENDING time: ``job_run_s`` + ``job_run_s_per_1000`` per 1,000 results."""
        cfg = self.config
        return int((cfg.job_run_s + cfg.job_run_s_per_1000 * len(job.rows) / 1000) * 1000)

    def ready(self, job_id: str, now_ms: int) -> Job:
        job = self.get(job_id)
        with self._lock:
            state = self.state(job, now_ms)
        if state == "EXPIRED":
            status = self.config.job_expired_results_status
            raise ApiError(
                status,
                "not.found" if status == 404 else "bad.request",
                f"The results of job {job_id} have expired.",
            )
        if state != "FULFILLED":
            raise ApiError(
                400, "bad.request", f"Results are not available: the job is in state {state}."
            )
        return job

    # ------------------------------------------------------------------ helpers
    def _rows_view(self, q: Query, now_ms: int) -> tuple[list[Row], int]:
        """The job rule (§2) at ``now_ms``: activity in the interval, up to availability
        (``jobs_beyond_availability="truncate"``) or up to now (``"include"``)."""
        if self.config.jobs_beyond_availability == "include":
            view = now_ms
        else:
            view = self.availability_ms(now_ms)
        return job_candidates(self.data, q, view, view), view

    def _check_concurrency(self, client: str, now_ms: int) -> None:
        cfg = self.config
        if cfg.job_max_concurrent <= 0:
            return
        per_client = cfg.job_concurrency_scope == "client"
        running = sum(
            1
            for j in self._jobs.values()
            if (not per_client or j.client == client) and self.state(j, now_ms) in RUNNING
        )
        if running < cfg.job_max_concurrent:
            return
        scope = "OAuth client" if per_client else "organization"
        message = (
            f"Too many concurrent analytics jobs: at most {cfg.job_max_concurrent} may "
            f"be queued or running per {scope}. Wait for a job to finish or delete one."
        )
        headers = (
            {"Retry-After": str(cfg.job_concurrency_retry_after_s)}
            if cfg.job_concurrency_retry_after_s > 0
            else {}
        )
        if cfg.job_concurrency_status == 409:
            raise ApiError(409, "conflict", message, headers=headers)
        raise ApiError(429, "too.many.requests", message, headers=headers)

    @staticmethod
    def encode_cursor(job_id: str, offset: int) -> str:
        return base64.urlsafe_b64encode(f"{job_id}:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def decode_cursor(job_id: str, cursor: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            owner, _, offset = raw.partition(":")
            if owner != job_id or int(offset) < 0:
                raise ValueError(owner)
            return int(offset)
        except ValueError as exc:
            raise bad_request(
                "The cursor is not valid for this job.", "bad.request", "cursor"
            ) from exc
