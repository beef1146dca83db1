"""The one HTTP policy of the tap: sending, reading, retrying and redacting.

Every request the tap makes (token, details query, multi-get, lists) goes through
:func:`send`, is retried by one :class:`RetryPolicy`, and every piece of server text that
becomes a log line or an error goes through one :class:`Redactor`:

- :func:`send` enforces an **overall deadline** per request (connect + headers + the whole
  body, not just one socket read: a body that trickles one byte every few seconds fails at
  the deadline) and a **size limit** per response (read in chunks, stopped as soon as it
  passes the limit; the ``Content-Length`` header is not trusted).
- :class:`RetryPolicy`: which failures are retried (timeouts, connection errors, 408, 409,
  429, 5xx, unreadable 200 bodies), how long to wait (``Retry-After`` when the server gives
  it, capped; else exponential backoff with jitter) and how often (``max_retries``).
- :class:`Redactor`: the client secret, both forms of the Basic credential
  (``base64(id:secret)`` and ``id:secret``), every issued token and anything shaped like an
  ``Authorization`` value or a token field — redacted *before* text is cut to one line, so a
  cut can never leave part of a secret.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from tap_genesys_analytics.errors import GenesysAPIError, StoppedError
from tap_genesys_analytics.ratebudget import MAX_SERVER_WAIT_S

logger = logging.getLogger("tap_genesys_analytics.http")

T = TypeVar("T")

REDACTED = "[REDACTED]"
#: statuses worth another try: timeout, conflict (documented for the details endpoints),
#: rate limit and server errors
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1024 * 1024  # read1() returns what has arrived, up to this
LINE_LIMIT = 600

_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}")
#: an Authorization header or field with its value; not a permission name such as
#: ``authorization:division:view`` (a value that is itself followed by a colon)
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)"
    r"(?:(?:bearer|basic)\s+[^\s'\",;}]+|(?![\w.-]*:)[^\s'\",;}]+)"
)
_TOKEN_FIELD = re.compile(
    r"(?i)((?:access_token|client_secret|password)['\"]?\s*[:=]\s*['\"]?)[^'\"&,}\s]+"
)
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


# --- redaction ----------------------------------------------------------------------------


class Redactor:
    """Removes the client secret, the Basic credential, tokens and Authorization values."""

    def __init__(self, client_id: str = "", client_secret: str = "") -> None:
        """Redact ``client_secret`` and both forms of the Basic credential from the start."""
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        if client_secret:
            pair = f"{client_id}:{client_secret}"
            self.add(client_secret)
            self.add(pair)
            self.add(base64.b64encode(pair.encode()).decode())

    def add(self, secret: str) -> None:
        """Also redact ``secret`` from now on (every token the run used)."""
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret and credential pattern replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        text = str(text)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        text = _CREDENTIAL.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        return _TOKEN_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)

    def line(self, text: str, limit: int = LINE_LIMIT) -> str:
        """Redacted first, then folded to one line, then cut to ``limit`` characters."""
        return one_line(self(text), limit)


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters (only ever after redaction)."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


# --- failures -----------------------------------------------------------------------------


class Retryable(Exception):
    """One try failed in a way worth another (``wait_s``: what the server asked for)."""

    def __init__(self, cause: str, wait_s: float | None = None, *, is_429: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.wait_s = wait_s
        self.is_429 = is_429


class ResponseTooLarge(Exception):
    """The response body passed the size limit (not retried: the same page would be as big)."""

    def __init__(self, received: int, limit: int) -> None:
        super().__init__(f"response body larger than {limit} bytes (received {received}+)")
        self.received = received
        self.limit = limit


@dataclass
class Reply:
    """A fully read response: status, headers and the whole body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when it is not one)."""
        try:
            data = json.loads(self.body or b"null")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_SERVER_WAIT_S)


def describe_network_error(exc: BaseException) -> str:
    """A short cause such as ``ConnectionError ([Errno 111] Connection refused)``."""
    reason = _ERRNO.search(str(exc))
    return f"{type(exc).__name__} ({reason.group(0)})" if reason else type(exc).__name__


# --- sending ------------------------------------------------------------------------------


def make_session(pool_size: int) -> requests.Session:
    """A session whose connection pool fits ``pool_size`` concurrent requests (no retries)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline_s: float,
    max_bytes: int,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> Reply:
    """One request, read whole within ``deadline_s`` and ``max_bytes``.

    Raises :class:`Retryable` for timeouts (the deadline included) and network errors,
    :class:`ResponseTooLarge` for a body over ``max_bytes``.
    """
    deadline = clock() + deadline_s
    try:
        response = session.request(method, url, stream=True, timeout=deadline_s, **kwargs)
    except requests.Timeout:
        raise Retryable(f"no answer within {deadline_s:g} s (timeout)") from None
    except requests.RequestException as exc:
        raise Retryable(f"connection error: {describe_network_error(exc)}") from None
    try:
        body = _read_body(response, deadline, deadline_s, max_bytes, clock)
    finally:
        response.close()
    return Reply(response.status_code, response.reason or "", response.headers, body)


def _read_body(
    response: requests.Response,
    deadline: float,
    deadline_s: float,
    max_bytes: int,
    clock: Callable[[], float],
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if clock() > deadline:
            raise Retryable(
                f"response not complete within the {deadline_s:g} s request deadline "
                f"({size} bytes received)"
            )
        try:
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise Retryable(
                f"connection broke while reading the body: {describe_network_error(exc)}"
            ) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(size, max_bytes)
        chunks.append(chunk)


# --- retrying -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: the same rules for every endpoint."""

    max_retries: int
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    retry_after_fallback_s: float = 2.0
    retry_after_fallback_cap_s: float = 64.0

    def delay(self, failure: Retryable, tries: int, tries_429: int) -> float:
        """Seconds to wait before the next try (the server's word first, else backoff)."""
        if failure.wait_s is not None:
            return failure.wait_s
        if failure.is_429:
            fallback, cap = self.retry_after_fallback_s, self.retry_after_fallback_cap_s
            return _jittered(fallback, cap, tries_429)
        return _jittered(self.backoff_base_s, self.backoff_cap_s, tries)

    def run(
        self,
        attempt: Callable[[], T],
        *,
        what: str,
        wait: Callable[[Retryable, float], None],
        redact: Redactor,
        stopped: Callable[[], bool] = lambda: False,
        failure: type[Exception] = GenesysAPIError,
    ) -> T:
        """Call ``attempt`` until it returns, retrying :class:`Retryable` failures.

        ``wait(failure, seconds)`` waits before the next try (a 429 may pause every worker).
        Gives up with ``failure`` (one line, redacted) after ``max_retries`` retries.
        """
        tries = tries_429 = 0
        while True:
            if stopped():
                raise StoppedError(f"{what}: not sent, the run is stopping")
            tries += 1
            try:
                return attempt()
            except Retryable as exc:
                if tries > self.max_retries or stopped():
                    raise failure(
                        redact.line(f"{what}: giving up after {tries} tries; last error: {exc}")
                    ) from None
                tries_429 += exc.is_429
                seconds = self.delay(exc, tries, tries_429)
                log = logger.info if exc.is_429 else logger.warning
                log(
                    redact.line(
                        f"{what}: {exc}; retry {tries}/{self.max_retries} in {seconds:.1f} s"
                    )
                )
                wait(exc, seconds)


def _jittered(base: float, cap: float, attempt: int) -> float:
    """Exponential from ``base`` with jitter in its upper half, capped at ``cap``."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def status_failure(reply: Reply, redact: Redactor) -> Retryable | None:
    """A :class:`Retryable` for a retryable status (None for any other)."""
    if reply.status not in RETRYABLE_STATUSES:
        return None
    wait = parse_retry_after(reply.headers.get("Retry-After"))
    return Retryable(error_summary(reply, redact), wait, is_429=reply.status == 429)


def error_summary(reply: Reply, redact: Redactor) -> str:
    """``HTTP 400 Bad Request; message: …; code: …; contextId: …`` (redacted, one line)."""
    fields = reply.json_object()
    parts = [f"HTTP {reply.status} {reply.reason}".rstrip()]
    message = fields.get("message") or fields.get("description") or fields.get("error_description")
    if message:
        parts.append(f"message: {redact.line(str(message), 300)}")
    code = fields.get("code") or fields.get("error")
    if code:
        parts.append(f"code: {redact.line(str(code), 80)}")
    context_id = fields.get("contextId") or reply.headers.get("ININ-Correlation-Id")
    if context_id:
        parts.append(f"contextId: {redact.line(str(context_id), 80)}")
    if not fields and reply.body:
        text = reply.body[:4096].decode("utf-8", "replace")
        parts.append(f"body: {redact.line(text, 160)}")
    return "; ".join(parts)
