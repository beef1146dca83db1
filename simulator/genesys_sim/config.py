"""Simulator configuration (one dataclass, every behaviour switch has a default)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any


def parse_time(value: str | datetime) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset) into an aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        if len(text) == 10:  # bare date
            text += "T00:00:00+00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


#: Config fields that may be changed on a running simulator (Python, control endpoint).
RUNTIME_FIELDS = (
    "latency_s",
    "latency_per_record_s",
    "rate_limit_per_minute",
    "rate_limit_window_s",
    "overlap_check",
    "token_lifetime_s",
    "late_wrapup_fraction",
    "late_wrapup_delay_s",
    "data_availability_lag_s",
    "job_polls_queued",
    "job_polls_pending",
    "job_run_s",
    "job_ttl_s",
    "prefetch_pages",
    # real-API harshness (docs/simulator.md "Faults", "Conversations by id")
    "latency_per_page_s",
    "multiget_max_ids",
    "max_hang_s",
    # analyst endpoints (reference lists, user details; docs/simulator.md "Analyst tables")
    "list_default_page_size",
    "list_max_page_size",
    "list_max_results",
    "users_any_includes_deleted",
    "forbidden_endpoints",
    # async jobs switches (jobs.py; docs/simulator.md "Async jobs")
    "jobs_beyond_availability",
    "job_clock",
    "job_queue_s",
    "job_run_s_per_1000",
    "job_expired_results_status",
    "job_results_default_page_size",
    "job_results_max_page_size",
    "job_max_interval_days",
    "job_max_concurrent",
    "job_concurrency_scope",
    "job_concurrency_status",
    "job_concurrency_retry_after_s",
)
#: Runtime fields that change how and when the API answers, never what it serves: changing
#: them keeps the rendered records and pages (a benchmark warms, then sets latency and limits).
SERVING_ONLY_FIELDS = frozenset({
    "latency_s", "latency_per_record_s", "latency_per_page_s", "rate_limit_per_minute",
    "rate_limit_window_s", "token_lifetime_s", "max_hang_s", "prefetch_pages", "job_clock",
    "job_polls_queued", "job_polls_pending", "job_queue_s", "job_run_s", "job_run_s_per_1000",
    "job_ttl_s", "job_max_concurrent", "job_concurrency_scope", "job_concurrency_status",
    "job_concurrency_retry_after_s",
})  # fmt: skip

#: Switches with a fixed set of values (checked at start and on every change).
CHOICES: dict[str, tuple[object, ...]] = {
    "jobs_beyond_availability": ("truncate", "include"),
    "job_clock": ("sim", "wall"),
    "job_concurrency_scope": ("org", "client"),
    "job_concurrency_status": (429, 409),
    "job_expired_results_status": (404, 400),
}


@dataclass
class SimConfig:
    """Everything a scenario can set. See docs/simulator.md for each behaviour."""

    seed: int = 42
    conversations_per_day: int = 500
    data_start: str | datetime = "2024-05-01T00:00:00Z"
    data_end: str | datetime | None = None
    now: str | datetime = "2024-05-08T00:00:00Z"
    #: {"YYYY-MM-DD": volume} overrides the daily volume (e.g. a >100,000 "hot day").
    hot_days: dict[str, int] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=lambda: {"sim-client": "sim-secret"})
    token_lifetime_s: int = 86399
    rate_limit_per_minute: int = 300
    rate_limit_window_s: int = 60
    latency_s: float = 0.0
    latency_per_record_s: float = 0.0
    #: extra latency per page depth of the sync query: + (pageNumber - 1) * latency_per_page_s
    latency_per_page_s: float = 0.0
    overlap_check: bool = True
    #: fraction of agent-handled conversations whose wrap-up segment arrives late.
    late_wrapup_fraction: float = 0.05
    late_wrapup_delay_s: int = 6 * 3600
    #: share of message/email conversations that stay open for 1..long_conversation_max_days
    long_conversation_fraction: float = 0.0
    long_conversation_max_days: int = 21
    # limits (docs/genesys-api.md §1.4 / §9)
    max_interval_days: int = 7
    max_interval_days_filtered: int = 31
    max_page_size: int = 100
    default_page_size: int = 25
    max_results: int = 100_000
    # reference lists and user details (reference.py, users.py; [U] limits are switches)
    list_default_page_size: int = 25
    list_max_page_size: int = 100
    #: deepest result a list pages to: pageSize x pageNumber above it -> 400 (0 = no limit)
    list_max_results: int = 10_000
    #: GET /api/v2/users?state=any also lists deleted users (False: only with state=deleted)
    users_any_includes_deleted: bool = True
    #: endpoint names (analyst.ENDPOINTS) that answer 403 missing.any.permissions
    forbidden_endpoints: tuple[str, ...] = ()
    # async jobs (docs/genesys-api.md §2, §11; every uncertain fact is a switch,
    # see docs/simulator.md)
    data_availability_lag_s: int = 3 * 3600
    #: "truncate": a job returns data only up to dataAvailabilityDate; "include": up to now
    jobs_beyond_availability: str = "truncate"
    #: clock the job latency runs on: "sim" (simulated clock) or "wall" (real seconds)
    job_clock: str = "sim"
    #: status polls that also advance a job (0: only time does)
    job_polls_queued: int = 1
    job_polls_pending: int = 1
    #: QUEUED for job_queue_s, then PENDING for job_run_s + job_run_s_per_1000 x results/1000
    job_queue_s: float = 2.0
    job_run_s: float = 10.0
    job_run_s_per_1000: float = 1.0
    job_ttl_s: int = 86400
    job_expired_results_status: int = 404
    job_results_default_page_size: int = 100
    job_results_max_page_size: int = 1000
    #: most ids one multi-get (GET .../conversations/details?id=...) accepts (undocumented)
    multiget_max_ids: int = 100
    #: 0 = no limit
    job_max_interval_days: int = 31
    job_max_concurrent: int = 5
    job_concurrency_scope: str = "org"
    job_concurrency_status: int = 429
    #: 0 = no Retry-After header on the concurrency error
    job_concurrency_retry_after_s: int = 5
    # server
    host: str = "127.0.0.1"
    port: int = 0
    cache_mb: int = 1024
    #: pages of the same query pre-built in a background thread after a full page is served
    prefetch_pages: int = 2
    max_hang_s: float = 30.0

    def __post_init__(self) -> None:
        self.data_start = parse_time(self.data_start)
        self.now = parse_time(self.now)
        if self.data_end is not None:
            self.data_end = parse_time(self.data_end)
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"host: the simulator listens on loopback only, got {self.host!r}")
        if self.conversations_per_day < 0:
            raise ValueError("conversations_per_day: must be >= 0")
        if not 0.0 <= self.late_wrapup_fraction <= 1.0:
            raise ValueError("late_wrapup_fraction: must be within [0, 1]")
        if not 0.0 <= self.long_conversation_fraction <= 1.0:
            raise ValueError("long_conversation_fraction: must be within [0, 1]")
        if self.long_conversation_max_days < 1:
            raise ValueError("long_conversation_max_days: must be >= 1")
        if self.multiget_max_ids < 1:
            raise ValueError("multiget_max_ids: must be >= 1")
        for day in self.hot_days:
            parse_time(day)
        for key in CHOICES:
            _check_choice(key, getattr(self, key))

    @property
    def start_dt(self) -> datetime:
        assert isinstance(self.data_start, datetime)
        return self.data_start

    @property
    def end_dt(self) -> datetime | None:
        assert self.data_end is None or isinstance(self.data_end, datetime)
        return self.data_end

    def update(self, **changes: Any) -> None:
        """Change runtime-mutable fields (unknown or fixed fields raise ValueError)."""
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"{key}: unknown simulator setting")
            if key not in RUNTIME_FIELDS:
                raise ValueError(f"{key}: cannot be changed on a running simulator")
            current = getattr(self, key)
            if isinstance(current, bool):
                flag = (
                    value.strip().lower() in ("1", "true", "yes", "on")
                    if isinstance(value, str)
                    else bool(value)
                )
                setattr(self, key, flag)
            else:
                new = type(current)(value)
                if key in CHOICES:
                    _check_choice(key, new)
                setattr(self, key, new)


def _check_choice(key: str, value: object) -> None:
    if value not in CHOICES[key]:
        raise ValueError(f"{key}: {value!r} not one of {', '.join(map(str, CHOICES[key]))}")
