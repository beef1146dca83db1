"""The one place for HTTP policy towards the Genesys analytics API.

Session and connection pool, timeouts, the shared :class:`RateBudget`, retries with
exponential backoff and jitter, ``Retry-After``, the 401 token refresh and one-line error
messages built from the Genesys error body. Secrets and tokens are redacted from everything
this module logs or raises.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from tap_genesys_analytics.errors import GenesysAPIError
from tap_genesys_analytics.ratebudget import RateBudget

if TYPE_CHECKING:
    from tap_genesys_analytics.settings import Settings

_decode_json: Callable[[bytes], Any]
try:  # singer-sdk's msgspec extra: twice as fast as json for page bodies (measured)
    from msgspec.json import decode as _msgspec_decode

    _decode_json = _msgspec_decode
except ImportError:  # pragma: no cover - plain singer-sdk install
    _decode_json = json.loads

QUERY_PATH = "/api/v2/analytics/conversations/details/query"
PERMISSION = "analytics:conversationDetail:view"
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_FALLBACK_BASE_S = 2.0
RETRY_AFTER_FALLBACK_CAP_S = 64.0
RETRY_AFTER_CAP_S = 300.0
REDACTED = "[REDACTED]"

logger = logging.getLogger("tap_genesys_analytics.client")

_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic)\s+)?[^\s'\",;}]+"
)
_TOKEN_FIELD = re.compile(r"(?i)((?:access_token|client_secret)['\"]?\s*[:=]\s*['\"]?)[^'\"&,}\s]+")


class TokenSource(Protocol):
    """What the client needs from ``auth.TokenProvider``."""

    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass
class ClientMetrics:
    """Counters of one run (issue 5 compares slept time with the Retry-After received)."""

    requests_sent: int = 0
    responses_429: int = 0
    retry_after_total_s: float = 0.0  # sum of the Retry-After values received with 429s
    slept_for_429_s: float = 0.0  # time requests that got a 429 waited before their retry
    backoff_slept_s: float = 0.0  # time slept backing off from 5xx/408/network/bad bodies
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


class Redactor:
    """Removes the client secret, tokens and Authorization values from text."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        """Start with the given literal secrets (empty strings are ignored)."""
        self._secrets: set[str] = {s for s in secrets if s}
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Also redact ``secret`` from now on (e.g. every token the run used)."""
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every known secret and credential pattern replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        return _TOKEN_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def make_session(pool_size: int) -> requests.Session:
    """A session whose connection pool fits ``pool_size`` concurrent requests (no retries)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; HTTP dates as a fallback)."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def _error_fields(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Retry(Exception):
    """Internal: this try failed in a retryable way."""

    def __init__(self, cause: str, wait_s: float | None = None, *, is_429: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.wait_s = wait_s
        self.is_429 = is_429


class GenesysClient:
    """Sends details queries under one run-wide policy (thread-safe, one per run)."""

    def __init__(
        self,
        settings: Settings,
        token_provider: TokenSource,
        *,
        session: requests.Session | None = None,
        budget: RateBudget | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        retry_after_fallback_s: float = RETRY_AFTER_FALLBACK_BASE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Client for ``settings.api_url``; tokens come from ``token_provider``."""
        self.settings = settings
        self.tokens = token_provider
        self.url = settings.api_url.rstrip("/") + QUERY_PATH
        self.session = session or make_session(settings.max_concurrency + 1)
        self._closed = threading.Event()
        # headroom: responses report the count with up to max_concurrency requests in flight
        self.budget = budget or RateBudget(
            settings.requests_per_minute,
            headroom=settings.max_concurrency,
            sleep=self._stoppable_sleep,
        )
        self.max_tries = settings.max_retries + 1
        self.timeout = settings.request_timeout
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.retry_after_fallback_s = retry_after_fallback_s
        self.metrics = ClientMetrics()
        self.redact = Redactor((settings.client_secret,))
        # the default sleep wakes up on close(): a failed run exits without waiting out backoffs
        self._sleep = self._closed.wait if sleep is time.sleep else sleep

    # -- public -------------------------------------------------------------------------------

    def post_query(
        self,
        body: Mapping[str, Any],
        *,
        what: str,
        on_send: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """POST one details query; ``what`` names the window and page in errors.

        ``on_send`` (optional) is called before each request is sent (per-window counters).

        Retries 429 (after ``Retry-After``, pausing every worker), 5xx/408, timeouts,
        connection errors and unreadable 200 bodies; refreshes the token once on 401.
        Raises :class:`GenesysAPIError` (one line) when the request fails for good.
        """
        refreshed = False
        resume_at: float | None = None  # set by a 429: when its Retry-After has passed
        n_429 = 0
        last_cause = "no attempt made"
        tries = 0
        while tries < self.max_tries:
            if self._closed.is_set():
                raise GenesysAPIError(f"{what}: not sent, the run is stopping")
            tries += 1
            try:
                _, slept_429 = self.budget.acquire(resume_at)
            except _Stopped:
                raise GenesysAPIError(f"{what}: not sent, the run is stopping") from None
            if resume_at is not None:
                self.metrics.add(slept_for_429_s=slept_429)
                resume_at = None
            if self._closed.is_set():  # the run stopped while this request waited its turn
                raise GenesysAPIError(f"{what}: not sent, the run is stopping")
            token = self.tokens.token()
            self.redact.add(token)
            if on_send is not None:
                on_send()
            try:
                return self._send(body, token, what)
            except _Unauthorized as exc:
                if refreshed:
                    raise GenesysAPIError(
                        self._line(
                            f"{what}: authentication rejected again after a token refresh "
                            f"({exc}); check client_id/client_secret and the OAuth client's grants"
                        )
                    ) from None
                refreshed = True
                tries -= 1  # the one refresh does not consume a try
                self.tokens.invalidate(token)
                self.metrics.add(token_refreshes=1)
                logger.warning(self._line(f"{what}: 401 ({exc}); refreshing the token once"))
                continue
            except _Retry as exc:
                last_cause = exc.cause
                if tries >= self.max_tries or self._closed.is_set():
                    break
                self.metrics.add(retries=1)
                if exc.is_429:
                    n_429 += 1
                    wait = (
                        exc.wait_s
                        if exc.wait_s is not None
                        else self._backoff(
                            n_429, self.retry_after_fallback_s, RETRY_AFTER_FALLBACK_CAP_S
                        )
                    )
                    resume_at = self.budget.pause(wait)  # every worker waits for it
                    logger.info(self._line(f"{what}: {exc.cause}; all workers wait {wait:.1f} s"))
                else:
                    wait = exc.wait_s if exc.wait_s is not None else self._backoff(tries)
                    logger.warning(
                        self._line(
                            f"{what}: {exc.cause}; "
                            f"retry {tries}/{self.max_tries - 1} in {wait:.1f} s"
                        )
                    )
                    self._sleep(wait)
                    self.metrics.add(backoff_slept_s=wait)
        raise GenesysAPIError(
            self._line(f"{what}: giving up after {tries} tries; last error: {last_cause}")
        )

    def close(self) -> None:
        """Stop: requests still retrying give up at once; release pooled connections."""
        self._closed.set()
        self.session.close()

    # -- internals ----------------------------------------------------------------------------

    def _stoppable_sleep(self, seconds: float) -> None:
        """Rate-budget waits (pacing, 429 pauses) end early, by raising, when the run stops."""
        if self._closed.wait(seconds):
            raise _Stopped

    def _line(self, text: str) -> str:
        return self.redact(_one_line(text, limit=600))

    def _backoff(self, attempt: int, base: float | None = None, cap: float | None = None) -> float:
        """Exponential from ``base`` with jitter in its upper half, capped at ``cap``."""
        base = base or self.backoff_base_s
        ceiling = min(cap or self.backoff_cap_s, base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _send(self, body: Mapping[str, Any], token: str, what: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.metrics.add(requests_sent=1)
        try:
            response = self.session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise _Retry(f"no answer within {self.timeout:g} s (timeout)") from None
        except requests.RequestException as exc:
            raise _Retry(
                f"connection error: {type(exc).__name__}: {_one_line(str(exc), 160)}"
            ) from None
        self.budget.observe(response.headers)
        status = response.status_code
        if status == 200:
            return self._json_body(response)
        fields = _error_fields(response)
        summary = self._summary(status, response, fields)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            self.metrics.add(responses_429=1, retry_after_total_s=wait or 0.0)
            raise _Retry(summary, wait, is_429=True)
        if status in RETRYABLE_STATUSES:
            wait = parse_retry_after(response.headers.get("Retry-After")) if status == 503 else None
            raise _Retry(summary, wait)
        if status == 401:
            raise _Unauthorized(summary)
        if status == 400:
            interval = body.get("interval", "?")
            raise GenesysAPIError(self._line(f"{what}: {summary}; interval sent: {interval}"))
        if status == 403:
            raise GenesysAPIError(
                self._line(f"{what}: {summary}; the OAuth client needs the permission {PERMISSION}")
            )
        raise GenesysAPIError(self._line(f"{what}: {summary}"))

    @staticmethod
    def _summary(status: int, response: requests.Response, fields: Mapping[str, Any]) -> str:
        parts = [f"HTTP {status} {response.reason or ''}".rstrip()]
        if fields.get("message"):
            parts.append(f"message: {_one_line(fields['message'], 300)}")
        if fields.get("code"):
            parts.append(f"code: {fields['code']}")
        context_id = fields.get("contextId") or response.headers.get("ININ-Correlation-Id")
        if context_id:
            parts.append(f"contextId: {context_id}")
        if not fields and response.text:
            parts.append(f"body: {_one_line(response.text, 120)}")
        return "; ".join(parts)

    @staticmethod
    def _json_body(response: requests.Response) -> dict[str, Any]:
        try:
            data = _decode_json(response.content)  # DecodeError is a ValueError
        except ValueError:
            kind = response.headers.get("Content-Type", "unknown type")
            raise _Retry(
                f"HTTP 200 with an unreadable body ({kind}, {len(response.content)} bytes)"
            ) from None
        if not isinstance(data, dict):
            raise _Retry(f"HTTP 200 with a JSON {type(data).__name__} instead of an object")
        return data


class _Stopped(Exception):
    """Internal: close() was called while a request waited for the rate budget."""


class _Unauthorized(Exception):
    """Internal: the API answered 401."""
