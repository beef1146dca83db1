"""Async conversation detail jobs (reference §2): state machine, cursor-paged results."""

from __future__ import annotations

import base64
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field

from genesys_sim.config import SimConfig
from genesys_sim.data import Row, iso
from genesys_sim.errors import ApiError, bad_request, not_found
from genesys_sim.query import Query

STATES = ("QUEUED", "PENDING", "FAILED", "CANCELLED", "FULFILLED", "EXPIRED")
OUTCOMES = ("FULFILLED", "FAILED", "CANCELLED", "EXPIRED")
HOUR_MS = 3_600_000


@dataclass
class Job:
    job_id: str
    query: Query
    submitted_ms: int
    available_ms: int
    outcome: str = "FULFILLED"
    polls: int = 0
    forced: str | None = None
    completed_ms: int | None = None
    rows: list[Row] | None = field(default=None, repr=False)


class JobStore:
    """Jobs advance QUEUED -> PENDING -> outcome by status polls or by the simulated clock."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._script: deque[str] = deque()

    def availability_ms(self, now_ms: int) -> int:
        lagged = now_ms - int(self.config.data_availability_lag_s * 1000)
        return lagged - lagged % HOUR_MS

    def script(self, outcomes: list[str]) -> None:
        """Outcomes for the next jobs, in order (then FULFILLED again)."""
        for outcome in outcomes:
            if outcome not in OUTCOMES:
                raise ValueError(f"job outcome: {outcome!r} not one of {', '.join(OUTCOMES)}")
        with self._lock:
            self._script = deque(outcomes)

    def create(self, query: Query, now_ms: int) -> Job:
        with self._lock:
            outcome = self._script.popleft() if self._script else "FULFILLED"
            job = Job(str(uuid.uuid4()), query, now_ms, self.availability_ms(now_ms), outcome)
            self._jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"job {job_id}")
        return job

    def set_state(self, job_id: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"job state: {state!r} not one of {', '.join(STATES)}")
        self.get(job_id).forced = state

    def delete(self, job_id: str) -> None:
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                raise not_found(f"job {job_id}")

    def state(self, job: Job, now_ms: int) -> str:
        cfg = self.config
        if job.forced:
            return job.forced
        elapsed = now_ms - job.submitted_ms
        run_ms = int(cfg.job_run_s * 1000)
        if job.polls < cfg.job_polls_queued and elapsed < run_ms // 2:
            return "QUEUED"
        if job.polls < cfg.job_polls_queued + cfg.job_polls_pending and elapsed < run_ms:
            return "PENDING"
        if job.completed_ms is None:
            job.completed_ms = now_ms
        if job.outcome == "FULFILLED" and now_ms >= job.completed_ms + cfg.job_ttl_s * 1000:
            return "EXPIRED"
        return job.outcome

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
        if state in ("FULFILLED", "FAILED", "CANCELLED", "EXPIRED") and job.completed_ms:
            body["completionDate"] = iso(job.completed_ms)
            body["expirationDate"] = iso(job.completed_ms + self.config.job_ttl_s * 1000)
        return body

    def ready(self, job_id: str, now_ms: int) -> Job:
        job = self.get(job_id)
        with self._lock:
            state = self.state(job, now_ms)
        if state != "FULFILLED":
            raise ApiError(400, "bad.request",
                           f"Results are not available: the job is in state {state}.")
        return job

    @staticmethod
    def encode_cursor(job_id: str, offset: int) -> str:
        return base64.urlsafe_b64encode(f"{job_id}:{offset}".encode()).decode().rstrip("=")

    @staticmethod
    def decode_cursor(job_id: str, cursor: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            owner, _, offset = raw.partition(":")
            if owner != job_id:
                raise ValueError(owner)
            return int(offset)
        except ValueError as exc:
            raise bad_request("The cursor is not valid for this job.", "bad.request",
                              "cursor") from exc
