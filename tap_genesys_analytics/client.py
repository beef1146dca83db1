"""The Genesys API client of one run: every API request, under the one HTTP policy.

:meth:`GenesysClient.request` is the single path to the API: the shared :class:`RateBudget`
(pacing, server hints, a 429 pauses every worker), the bearer token (refreshed once on a
401), ``http.send`` (overall deadline, size limit), ``http.RetryPolicy`` and the
:class:`~tap_genesys_analytics.http.Redactor` for every message. :meth:`post_query` and
:meth:`get_conversations` (the multi-get, batched with a fallback when the API refuses the
batch size) are thin wrappers over it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import requests
from msgspec.json import decode as decode_json

from tap_genesys_analytics.errors import GenesysAPIError, StoppedError
from tap_genesys_analytics.http import (
    Redactor,
    Reply,
    ResponseTooLarge,
    Retryable,
    RetryPolicy,
    error_summary,
    make_session,
    parse_retry_after,
    send,
    status_failure,
)
from tap_genesys_analytics.ratebudget import RateBudget

if TYPE_CHECKING:
    from tap_genesys_analytics.settings import Settings

QUERY_PATH = "/api/v2/analytics/conversations/details/query"
MULTIGET_PATH = "/api/v2/analytics/conversations/details"
PERMISSION = "analytics:conversationDetail:view"
#: ids per multi-get request to start with; halved while the API refuses the size (400)
MULTIGET_BATCH = 100

logger = logging.getLogger("tap_genesys_analytics.client")


class TokenSource(Protocol):
    """What the client needs from ``auth.TokenProvider``."""

    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass
class ClientMetrics:
    """Counters of one run (the fault suite compares slept time with Retry-After received)."""

    requests_sent: int = 0
    responses_429: int = 0
    retry_after_total_s: float = 0.0  # sum of the Retry-After values received with 429s
    slept_for_429_s: float = 0.0  # time requests that got a 429 waited before their retry
    backoff_slept_s: float = 0.0  # time slept backing off from 5xx/408/409/network/bad bodies
    retries: int = 0
    token_refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        """Add to several counters atomically."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, float]:
        """Plain copy of the counters."""
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class _Unauthorized(Exception):
    """Internal: the API answered 401."""


class GenesysClient:
    """Sends API requests under one run-wide policy (thread-safe, one per run)."""

    def __init__(
        self,
        settings: Settings,
        token_provider: TokenSource,
        *,
        session: requests.Session | None = None,
        budget: RateBudget | None = None,
        redactor: Redactor | None = None,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        retry_after_fallback_s: float = 2.0,
        sleep: Callable[[float], None] | None = None,
        closed: threading.Event | None = None,
    ) -> None:
        """Client for ``settings.api_url``; tokens come from ``token_provider``.

        ``closed`` is the event :meth:`close` sets; pass the one the token provider's sleep
        waits on, so a stopped run does not wait out a token backoff either.
        """
        self.base_url = settings.api_url.rstrip("/")
        self.tokens = token_provider
        self.session = session or make_session(settings.max_concurrency + 1)
        self._closed = closed if closed is not None else threading.Event()
        # the default sleep wakes up on close(): a stopped run does not wait out backoffs
        self._sleep = sleep or self._stoppable_sleep
        # headroom: responses report the count with up to max_concurrency requests in flight
        self.budget = budget or RateBudget(
            settings.requests_per_minute,
            headroom=settings.max_concurrency,
            sleep=self._stoppable_sleep,
        )
        self.policy = RetryPolicy(
            settings.max_retries,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            retry_after_fallback_s=retry_after_fallback_s,
        )
        self.deadline_s = float(settings.request_timeout)
        self.max_bytes = settings.max_response_mb * 1024 * 1024
        self.redact = redactor or Redactor(settings.client_id, settings.client_secret)
        self.metrics = ClientMetrics()
        self.multiget_batch = MULTIGET_BATCH

    # -- public -------------------------------------------------------------------------------

    def post_query(
        self,
        body: Mapping[str, Any],
        *,
        what: str,
        on_send: Callable[[], None] | None = None,
        path: str = QUERY_PATH,
        permission: str = PERMISSION,
    ) -> dict[str, Any]:
        """POST one details query page; ``what`` names the window and page in errors."""
        return self.request(
            "POST", path, json=body, what=what, on_send=on_send, permission=permission
        )

    def get_conversations(
        self, ids: Sequence[str], *, what: str, on_send: Callable[[], None] | None = None
    ) -> list[dict[str, Any]]:
        """Current records of ``ids`` through the multi-get, in batches (``on_send``: called
        for every request sent, as in :meth:`request`).

        The largest batch the API takes is undocumented: start at :data:`MULTIGET_BATCH` and
        halve it for the rest of the run when the API answers 400 to a batch of that size.
        Unknown ids are simply absent from the result.
        """
        records: list[dict[str, Any]] = []
        index = 0
        while index < len(ids):
            batch = list(ids[index : index + self.multiget_batch])
            try:
                page = self.request(
                    "GET",
                    MULTIGET_PATH,
                    params={"id": ",".join(batch)},
                    what=f"{what} (multi-get of {len(batch)} ids)",
                    on_send=on_send,
                    refused_ok=len(batch) > 1,
                )
            except RequestRefused:
                self.multiget_batch = max(1, len(batch) // 2)
                logger.info(
                    "multi-get: a batch of %d ids was refused; using %d from now on",
                    len(batch),
                    self.multiget_batch,
                )
                continue
            found = page.get("conversations") or []
            if not isinstance(found, list):
                raise GenesysAPIError(f"{what}: multi-get answered 'conversations' not a list")
            records.extend(r for r in found if isinstance(r, dict))
            index += len(batch)
        return records

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        on_send: Callable[[], None] | None = None,
        permission: str = PERMISSION,
        refused_ok: bool = False,
        busy_ok: bool = False,
    ) -> dict[str, Any]:
        """One API call, retried under the policy; returns the JSON object it answered.

        ``refused_ok``: a 400 raises :class:`RequestRefused` (not retried); ``busy_ok``: a
        409/429 raises :class:`RequestBusy` (not retried, e.g. no free async-job slot).
        Raises :class:`GenesysAPIError` (one line, redacted) when it fails for good.
        """
        state = _CallState()

        def attempt() -> dict[str, Any]:
            self._wait_turn(state, what)
            if on_send is not None:
                on_send()
            try:
                reply = self._send_with_token(method, path, json, params, what)
            except ResponseTooLarge as exc:
                raise GenesysAPIError(
                    f"{what}: {exc}; the max_response_mb setting limits one response "
                    "(lower page_size, or raise max_response_mb if the records are that large)"
                ) from None
            if busy_ok and reply.status in (409, 429):
                raise RequestBusy(error_summary(reply, self.redact), reply.headers)
            return self._answer(reply, what, json, permission, refused_ok)

        def wait(failure: Retryable, seconds: float) -> None:
            self.metrics.add(retries=1)
            if failure.is_429:
                state.resume_at = self.budget.pause(seconds)  # every worker waits for it
            else:
                try:
                    self._sleep(seconds)
                except _Stopped:
                    raise StoppedError(f"{what}: not retried, the run is stopping") from None
                self.metrics.add(backoff_slept_s=seconds)

        return self.policy.run(
            attempt, what=what, wait=wait, redact=self.redact, stopped=self._closed.is_set
        )

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    def close(self) -> None:
        """Stop: requests still retrying give up at once; release pooled connections."""
        self._closed.set()
        self.session.close()

    # -- internals ----------------------------------------------------------------------------

    def _wait_turn(self, state: _CallState, what: str) -> None:
        try:
            _, slept_429 = self.budget.acquire(state.resume_at)
        except _Stopped:
            raise StoppedError(f"{what}: not sent, the run is stopping") from None
        if state.resume_at is not None:
            self.metrics.add(slept_for_429_s=slept_429)
            state.resume_at = None
        if self._closed.is_set():  # the run stopped while this request waited its turn
            raise StoppedError(f"{what}: not sent, the run is stopping")

    def _send_with_token(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        what: str,
    ) -> Reply:
        """Send with the current token; after a 401, once more with a fresh one."""
        for refresh in (False, True):
            token = self.tokens.token()
            self.redact.add(token)
            self.metrics.add(requests_sent=1)
            reply = send(
                self.session,
                method,
                self.base_url + path,
                deadline_s=self.deadline_s,
                max_bytes=self.max_bytes,
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            self.budget.observe(reply.headers)
            if reply.status != 401:
                return reply
            summary = error_summary(reply, self.redact)
            if refresh:
                raise GenesysAPIError(
                    self.redact.line(
                        f"{what}: authentication rejected again after a token refresh "
                        f"({summary}); check client_id/client_secret and the OAuth client's "
                        "grants"
                    )
                )
            self.tokens.invalidate(token)
            self.metrics.add(token_refreshes=1)
            logger.warning(self.redact.line(f"{what}: 401 ({summary}); refreshing the token once"))
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(
        self,
        reply: Reply,
        what: str,
        body: Mapping[str, Any] | None,
        permission: str,
        refused_ok: bool,
    ) -> dict[str, Any]:
        if 200 <= reply.status < 300:  # jobs answer 202 (submit) and 204 (delete)
            return self._json_object(reply) if reply.body.strip() or reply.status == 200 else {}
        failure = status_failure(reply, self.redact)
        if failure is not None:
            if failure.is_429:
                self.metrics.add(responses_429=1, retry_after_total_s=failure.wait_s or 0.0)
            raise failure
        summary = error_summary(reply, self.redact)
        if reply.status == 400 and refused_ok:
            raise RequestRefused(summary)
        if reply.status == 400:
            interval = (body or {}).get("interval")
            sent = f"; interval sent: {interval}" if interval else ""
            raise GenesysAPIError(self.redact.line(f"{what}: {summary}{sent}"))
        if reply.status == 403:
            raise GenesysAPIError(
                self.redact.line(
                    f"{what}: {summary}; the OAuth client needs the permission {permission}"
                )
            )
        raise GenesysAPIError(self.redact.line(f"{what}: {summary}"))

    @staticmethod
    def _json_object(reply: Reply) -> dict[str, Any]:
        try:
            data = decode_json(reply.body)  # DecodeError is a ValueError
        except ValueError:
            kind = reply.headers.get("Content-Type", "unknown type")
            raise Retryable(
                f"HTTP 200 with an unreadable body ({kind}, {len(reply.body)} bytes)"
            ) from None
        if not isinstance(data, dict):
            raise Retryable(f"HTTP 200 with a JSON {type(data).__name__} instead of an object")
        return data

    def _stoppable_sleep(self, seconds: float) -> None:
        """Waits (pacing, 429 pauses, backoff) end early, by raising, when the run stops."""
        if self._closed.wait(seconds):
            raise _Stopped


@dataclass
class _CallState:
    resume_at: float | None = None  # set by a 429: when its Retry-After has passed


class _Stopped(Exception):
    """Internal: close() was called while a request waited."""


class RequestRefused(Exception):
    """A 400 the caller asked to handle itself (``refused_ok``: a size the API refuses)."""


class RequestBusy(Exception):
    """A 409/429 the caller asked to handle itself (``busy_ok``); ``wait_s``: its Retry-After."""

    def __init__(self, summary: str, headers: Mapping[str, str]) -> None:
        super().__init__(summary)
        self.wait_s = parse_retry_after(headers.get("Retry-After"))
