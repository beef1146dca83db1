"""``--preflight``: can every selected stream run, and the API limits no document states.

Read-only and bounded (at most :data:`MAX_REQUESTS` HTTP requests, the token's included, and
:data:`MAX_SECONDS` of wall time), every API call through the run's one
:class:`~tap_genesys_analytics.client.GenesysClient` (rate budget, token, retries, the one
:class:`~tap_genesys_analytics.http.Redactor`). In this order:

1. the token (its ``expires_in``); then one minimal request per endpoint the selected streams
   need (a list with ``pageSize=1``; the user details query over one hour with ``pageSize=1``;
   the conversation details query over one hour with ``pageSize=100``, which also brings the
   ids for the multi-get probe; the jobs availability): a 403 names stream, endpoint and the
   permission to grant, a 404 an endpoint the region does not offer;
2. the limits: the largest details-query ``pageSize`` (100, then 200; a 400 means the
   smaller), the multi-get ids per request (100, halved, then bisected, at most
   :data:`MULTIGET_TRIES` requests, with real ids of the probe hour only), the jobs results
   page size (:data:`JOB_PAGE_SIZES`, largest first, on one job over one hour, polled a bounded
   number of times and deleted after) and the ``dataAvailabilityDate`` lag, the rate budget
   (``inin-ratelimit-*`` headers), the hosts.

Nothing is stored: the report prints the settings to copy into the config (``page_size``,
``job_page_size``, ``requests_per_minute``); a run uses only what the user keeps. Exit code 0
when every selected stream can run, 2 otherwise. :class:`Preflight` sends the probes; the
pure part (decision, table, JSON) is :mod:`~tap_genesys_analytics.preflight_report`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import click
import requests
from typing_extensions import override

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.client import (
    MULTIGET_BATCH,
    MULTIGET_PATH,
    GenesysClient,
    RequestRefused,
)
from tap_genesys_analytics.details_query import CONVERSATIONS, parse_instant
from tap_genesys_analytics.errors import StoppedError, TapError
from tap_genesys_analytics.http import Redactor, Reply, make_session
from tap_genesys_analytics.hybrid_reader import AVAILABILITY_PATH
from tap_genesys_analytics.job_reader import JOBS_PATH, RUNNING
from tap_genesys_analytics.preflight_report import (
    FAILED,
    FORBIDDEN,
    MISSING,
    OK,
    Check,
    Endpoint,
    Limit,
    Report,
    render,
)
from tap_genesys_analytics.ratebudget import HEADER_ALLOWED, HEADER_COUNT, HEADER_RESET
from tap_genesys_analytics.runtime import Runtime
from tap_genesys_analytics.settings import Settings
from tap_genesys_analytics.streams.base import DerivedStream, GenesysStream
from tap_genesys_analytics.streams.conversation_details import ConversationDetailsStream
from tap_genesys_analytics.streams.reference import ReferenceStream
from tap_genesys_analytics.streams.user_status import USER_DETAILS, UserPresenceStream
from tap_genesys_analytics.windows import Window, to_millis

MAX_REQUESTS = 40  # every HTTP request, the token request included
MAX_SECONDS = 60.0
PAGE_SIZES = (100, 200)  # details query: the tap's default, then the larger candidate
SMALLEST_PAGE_SIZE = 25  # the details query's default page size
MULTIGET_TRIES = 8
JOB_PAGE_SIZES = (10000, 1000, 100)  # jobs results: largest first, the first accepted wins
JOB_POLLS = 8
REQUEST_TIMEOUT_S = 5.0  # one probe; with one retry a call takes at most ~2x this

QUERY = Endpoint("POST", CONVERSATIONS.path, CONVERSATIONS.permission)
MULTIGET = Endpoint("GET", MULTIGET_PATH, CONVERSATIONS.permission)
JOBS = Endpoint("GET", AVAILABILITY_PATH, CONVERSATIONS.permission)
USERS_QUERY = Endpoint("POST", USER_DETAILS.path, USER_DETAILS.permission)


def stream_endpoints(stream: type[GenesysStream], extraction_mode: str) -> list[Endpoint]:
    """The endpoints a stream's sync calls (a derived table: its parent's)."""
    while issubclass(stream, DerivedStream) and stream.parent_stream_type is not None:
        stream = stream.parent_stream_type  # type: ignore[assignment]
    if issubclass(stream, ReferenceStream):
        return [Endpoint("GET", stream.path, stream.permission)]
    if issubclass(stream, UserPresenceStream):
        return [USERS_QUERY]
    if issubclass(stream, ConversationDetailsStream):
        return [QUERY, MULTIGET] + ([JOBS] if extraction_mode != "query" else [])
    raise ValueError(f"preflight: no endpoints known for stream {stream.__name__}")


class _OutOfBudget(Exception):
    """The preflight's request or time bound would be passed by the next request."""


class _MeasuringTokens(TokenProvider):
    """The run's token provider, keeping the ``expires_in`` of the last token."""

    lifetime_s: float | None = None

    @override
    def _parse_token(self, reply: Reply) -> tuple[str, float]:
        token, lifetime = super()._parse_token(reply)
        self.lifetime_s = lifetime
        return token, lifetime


class Preflight:
    """The probes of one preflight (sequential; one client, closed at the end)."""

    def __init__(
        self,
        settings: Settings,
        streams: Mapping[str, type[GenesysStream]],
        *,
        now: Callable[[], datetime],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_requests: int = MAX_REQUESTS,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.settings = dataclasses.replace(
            settings,
            max_retries=min(settings.max_retries, 1),
            request_timeout=min(settings.request_timeout, REQUEST_TIMEOUT_S),
        )
        self._now, self._clock, self._sleep = now, clock, sleep
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.sent = 0
        self.last_status: int | None = None
        self.report = Report(
            settings.api_url,
            settings.login_url,
            settings.region,
            {
                name: stream_endpoints(cls, settings.extraction_mode)
                for name, cls in streams.items()
            },
        )
        for endpoints in self.report.streams.values():
            for endpoint in endpoints:
                self.report.checks.setdefault(endpoint, Check())
        session = make_session(2)
        session.hooks["response"].append(self._observe)
        self.redact = Redactor(settings.client_id, settings.client_secret)
        self.tokens = _MeasuringTokens(
            settings.login_url,
            settings.client_id,
            settings.client_secret,
            session,
            self.settings.request_timeout,
            max_retries=1,
            backoff_cap_s=1.0,
            redactor=self.redact,
        )
        self.client = GenesysClient(
            self.settings,
            self.tokens,
            session=session,
            redactor=self.redact,
            backoff_cap_s=1.0,
            retry_after_fallback_s=1.0,
        )
        self._started = clock()

    def run(self) -> Report:
        """Every probe, within the bounds; the report (secrets never in it)."""
        hour_end = to_millis(self._now()).replace(minute=0, second=0, microsecond=0)
        self.hour = Window(hour_end - timedelta(hours=1), hour_end)
        # backstop for waits no guard sees (a rate window used up): closing the client ends
        # them, and every later request is "not sent"
        backstop = threading.Timer(
            max(self.max_seconds - 2 * self.settings.request_timeout, 1.0), self.client.close
        )
        backstop.daemon = True
        backstop.start()
        try:
            self._token()
            if self.report.token == OK:
                self._permissions()
                self._limits()
        finally:
            backstop.cancel()
            self.client.close()
            self.report.requests = self.sent
            self.report.elapsed_s = self._clock() - self._started
        return self.report

    # -- plumbing ---------------------------------------------------------------------------

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Session hook: every HTTP response (token too): count, status, rate headers."""
        self.sent += 1
        self.last_status = response.status_code
        headers = response.headers
        if HEADER_ALLOWED in headers:
            for key, name in (
                ("allowed", HEADER_ALLOWED),
                ("count", HEADER_COUNT),
                ("reset_s", HEADER_RESET),
            ):
                with contextlib.suppress(KeyError, ValueError):
                    self.report.rate_limit[key] = float(headers[name])

    def _call(
        self, method: str, path: str, *, what: str, final: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """One request through the client, if the bounds allow a call (and its one retry)."""
        reserve = 0 if final else 2  # room for the job's DELETE
        worst_s = 2 * self.settings.request_timeout + 1.0
        if self.sent + 2 + reserve > self.max_requests:
            raise _OutOfBudget(f"not sent: the preflight's {self.max_requests} requests")
        if self._elapsed() + worst_s * (1 if final else 2) > self.max_seconds:
            raise _OutOfBudget(f"not sent: the preflight's {self.max_seconds:g} s")
        self.last_status = None
        return self.client.request(method, path, what=what, **kwargs)

    def _elapsed(self) -> float:
        return self._clock() - self._started

    def _probe(self, endpoint: Endpoint, call: Callable[[], dict[str, Any]]) -> dict | None:
        """Run ``call`` as ``endpoint``'s check: its answer, or None (check says why)."""
        check = self.report.checks.setdefault(endpoint, Check())
        try:
            answer = call()
        except (_OutOfBudget, StoppedError) as exc:
            check.detail = str(exc)
            return None
        except TapError as exc:
            check.result = {403: FORBIDDEN, 404: MISSING}.get(self.last_status or 0, FAILED)
            check.detail = self.redact.line(str(exc))
            return None
        check.result, check.detail = OK, ""
        return answer

    # -- probes -----------------------------------------------------------------------------

    def _token(self) -> None:
        try:
            self.tokens.token()
        except TapError as exc:
            self.report.token = self.redact.line(str(exc))
            return
        self.report.token = OK
        self.report.limits["token_lifetime_s"] = Limit(self.tokens.lifetime_s, "expires_in")

    def _permissions(self) -> None:
        endpoints = set(self.report.checks)
        for endpoint in self.report.checks:
            if endpoint.path.startswith("/api/v2/analytics"):
                continue
            params = (
                {}
                if endpoint.path.endswith("/presence/definitions")
                else {"pageSize": "1", "pageNumber": "1"}
            )
            self._probe(
                endpoint,
                partial(
                    self._call,
                    "GET",
                    endpoint.path,
                    params=params,
                    what=f"preflight {endpoint}",
                    permission=endpoint.permission,
                ),
            )
        if USERS_QUERY in endpoints:
            self._probe(
                USERS_QUERY,
                partial(
                    self._call,
                    "POST",
                    USERS_QUERY.path,
                    what="preflight user details query",
                    json=self._body(1),
                    permission=USERS_QUERY.permission,
                ),
            )

    def _body(self, size: int) -> dict[str, Any]:
        return {"interval": self.hour.interval, "paging": {"pageSize": size, "pageNumber": 1}}

    def _limits(self) -> None:
        if QUERY not in self.report.checks:
            return
        ids = self._page_size()
        if ids is not None:
            self._multiget(ids)
        elif MULTIGET in self.report.checks:
            self.report.checks[MULTIGET].detail = "no ids: the details query probe failed"
        self._jobs()

    def _page_size(self) -> list[str] | None:
        """Details query ``pageSize``: 100 (the permission check too), then 200; a refused
        100 is halved down to 25 (the API's default)."""
        limit = self.report.limits["details_page_size_max"] = Limit(note="not measured")
        page, accepted, size, notes = None, 0, PAGE_SIZES[0], []
        while size:
            try:
                answer = self._probe(
                    QUERY,
                    partial(
                        self._call,
                        "POST",
                        QUERY.path,
                        json=self._body(size),
                        refused_ok=True,
                        what=f"preflight details query (pageSize {size})",
                    ),
                )
            except RequestRefused:
                notes.append(f"pageSize {size} refused (HTTP 400)")
                self.report.checks[QUERY] = Check(OK)  # a size refused: no permission problem
                size = size // 2 if not accepted and size > SMALLEST_PAGE_SIZE else 0
                continue
            if answer is None:
                if accepted:  # the first size told the permission; keep its result
                    notes.append(f"pageSize {size}: {self.report.checks[QUERY].detail}")
                    self.report.checks[QUERY] = Check(OK)
                break
            accepted, page = size, page or answer
            notes.append(f"pageSize {size} accepted")
            size = PAGE_SIZES[1] if size == PAGE_SIZES[0] else 0
        limit.note = "; ".join(notes) or limit.note
        limit.value = accepted or None
        if page is None:
            return None
        found = page.get("conversations") or []
        return [
            c["conversationId"]
            for c in found
            if isinstance(c, dict) and isinstance(c.get("conversationId"), str)
        ]

    def _multiget(self, ids: list[str]) -> None:
        """Ids per multi-get: 100 (the client's start), halved while refused, then bisected."""
        limit = self.report.limits["multiget_ids_max"] = Limit()
        if not ids:
            limit.note = "not measured: no conversation in the probe hour"
            self.report.checks[MULTIGET].detail = limit.note
            return
        top = min(MULTIGET_BATCH, len(ids))
        good, bad, size = 0, None, top
        for _ in range(MULTIGET_TRIES):
            try:
                answer = self._probe(
                    MULTIGET,
                    partial(
                        self._call,
                        "GET",
                        MULTIGET_PATH,
                        params={"id": ",".join(ids[:size])},
                        refused_ok=size > 1,
                        what=f"preflight multi-get ({size} ids)",
                    ),
                )
            except RequestRefused:
                bad = size
                self.report.checks[MULTIGET] = Check(OK)
            else:
                if answer is None:
                    break
                good = size
            if bad is None or bad - good <= 1:
                break
            size = (good + bad) // 2 if good else max(1, bad // 2)
        limit.value = good or None
        exact = bad is not None and bad - good <= 1
        limit.note = (
            f"{bad} refused"
            if exact
            else f"at least this many ({bad} refused)"
            if bad
            else f"accepted; largest tried ({top} ids"
            f"{'; the client never sends more' if top == MULTIGET_BATCH else ' found'})"
        )

    def _jobs(self) -> None:
        """Availability lag, then one job over the probe hour: results page size; deleted."""
        answer = self._probe(
            JOBS, partial(self._call, "GET", AVAILABILITY_PATH, what="preflight jobs availability")
        )
        lag = self.report.limits["jobs_availability_lag_s"] = Limit(note="not measured")
        if answer is None:
            return
        try:
            available = parse_instant(answer["dataAvailabilityDate"])
            lag.value = round((self._now() - available).total_seconds())
            lag.note = f"now - dataAvailabilityDate ({answer['dataAvailabilityDate']})"
        except (KeyError, TypeError, ValueError):
            lag.note = "no readable dataAvailabilityDate"
        size = self.report.limits["jobs_results_page_size_max"] = Limit(note="not measured")
        try:
            job = self._call(
                "POST",
                JOBS_PATH,
                what="preflight job (submit)",
                json={
                    "interval": self.hour.interval,
                    "order": "asc",
                    "orderBy": "conversationStart",
                    "startOfDayIntervalMatching": True,
                },
            )
        except (TapError, _OutOfBudget) as exc:
            size.note = f"no job: {self.redact.line(str(exc))}"
            return
        job_id = str(job.get("jobId") or "")
        try:
            self._job_page_size(job_id, size)
        finally:
            self._delete(job_id, size)

    def _job_page_size(self, job_id: str, limit: Limit) -> None:
        state, delay = "QUEUED", 1.0
        try:
            for _ in range(JOB_POLLS):
                self._sleep(delay)
                delay = min(delay * 1.5, 5.0)
                status = self._call("GET", f"{JOBS_PATH}/{job_id}", what="preflight job (status)")
                state = str(status.get("state") or "UNKNOWN").upper()
                if state not in RUNNING:
                    break
            if state != "FULFILLED":
                limit.note = f"not measured: the job was {state} after the polls allowed"
                return
            for page_size in JOB_PAGE_SIZES:
                try:
                    self._call(
                        "GET",
                        f"{JOBS_PATH}/{job_id}/results",
                        refused_ok=True,
                        params={"pageSize": str(page_size)},
                        what=f"preflight job results (pageSize {page_size})",
                    )
                except RequestRefused:
                    limit.note = f"pageSize {page_size} refused (HTTP 400)"
                    continue
                limit.value = page_size
                limit.note = (
                    f"accepted (largest tried); {limit.note}"
                    if limit.note.endswith("(HTTP 400)")
                    else "accepted (largest tried)"
                )
                return
        except (TapError, _OutOfBudget) as exc:
            limit.note = f"not measured: {self.redact.line(str(exc))}"

    def _delete(self, job_id: str, limit: Limit) -> None:
        if not job_id:
            return
        try:
            self._call("DELETE", f"{JOBS_PATH}/{job_id}", what="preflight job (delete)", final=True)
        except (TapError, _OutOfBudget) as exc:
            limit.note += f"; job {job_id} not deleted ({self.redact.line(str(exc))}): it expires"


def preflight_tap(tap: Any, *, as_json: bool = False) -> int:
    """``--preflight`` of a constructed tap: its selected streams, printed; the exit code."""
    settings: Settings = tap.settings
    streams = {name: type(s) for name, s in tap.streams.items() if s.selected}
    runtime = getattr(tap, "runtime", None)
    now = (runtime if isinstance(runtime, Runtime) else Runtime()).now
    probes = Preflight(settings, streams, now=now)
    report = probes.run()
    click.echo(render(report, as_json))  # free texts were redacted when recorded
    return report.exit_code
