"""The OAuth client-credentials token provider.

Tokens: ``POST {login_url}/oauth/token`` with ``grant_type=client_credentials`` and HTTP Basic
credentials (reference §5). One token is shared by all threads, refreshed shortly before
``expires_in`` runs out, and refetched exactly once after a 401 (``invalidate``). Rejected
credentials fail fast; 429/5xx/connection errors are retried a bounded number of times,
honouring ``Retry-After``. A definitive failure is remembered: later callers (other workers)
get the same error without new requests. Errors are one line, without the secret or a token.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from tap_genesys_analytics.client import parse_retry_after
from tap_genesys_analytics.errors import AuthError

logger = logging.getLogger(__name__)


class _Transient(Exception):
    """A token-endpoint failure worth retrying (429, 5xx, network, garbage body)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_LIFETIME_S = 300.0  # Genesys' shortest configurable token lifetime


class TokenProvider:
    """Client-credentials tokens for all threads of one run (thread-safe)."""

    def __init__(  # noqa: PLR0917 (signature fixed by docs/architecture.md)
        self,
        login_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session,
        timeout: float,
        refresh_margin_s: float = 300,
        *,
        max_retries: int = 4,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token_url = login_url.rstrip("/") + "/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._timeout = timeout
        self._refresh_margin_s = refresh_margin_s
        self._max_retries = max_retries
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._failure: AuthError | None = None
        self.fetches = 0  # successful token fetches (observable by tests and metrics)

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self.token_url!r}, client_id={self._client_id!r})"

    def token(self) -> str:
        """The current access token; fetched on first use and shortly before expiry."""
        with self._lock:
            if self._failure is not None:
                raise self._failure  # one definitive failure per run: no storm from workers
            if self._token is None or self._clock() >= self._refresh_at:
                try:
                    self._fetch()
                except AuthError as exc:
                    self._failure = exc
                    raise
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after a 401; callers holding an older token change nothing."""
        with self._lock:
            if self._token == token:
                self._token = None

    # --- fetching ---------------------------------------------------------------------------

    def _fetch(self) -> None:
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            try:
                token, lifetime = self._request()
            except _Transient as exc:
                if attempt > self._max_retries:
                    raise AuthError(
                        self._clean(
                            f"token request to {self.token_url} failed after {attempt} tries: "
                            f"{exc.cause}"
                        )
                    ) from None
                wait = exc.retry_after
                if wait is None:
                    wait = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
                    wait *= random.uniform(0.5, 1.0)
                logger.warning(
                    self._clean(
                        f"token endpoint: {exc.cause}; retrying in {wait:.1f} s "
                        f"(try {attempt + 1} of {self._max_retries + 1})"
                    )
                )
                self._sleep(wait)
                continue
            margin = min(self._refresh_margin_s, lifetime / 2)
            self._token = token
            self._refresh_at = started + lifetime - margin
            self.fetches += 1
            logger.info("Obtained an access token valid for %d s", int(lifetime))
            return

    def _request(self) -> tuple[str, float]:
        try:
            response = self._session.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.Timeout:
            raise _Transient(f"no answer within {self._timeout:g} s") from None
        except requests.RequestException as exc:
            raise _Transient(describe_network_error(exc)) from None
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            raise _Transient(
                f"HTTP {status}{self._oauth_detail(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status in (400, 401, 403):
            raise AuthError(
                self._clean(
                    f"credentials rejected by {self.token_url}: HTTP {status}"
                    f"{self._oauth_detail(response)}; check client_id/client_secret, region "
                    "and that the OAuth client uses the Client Credentials grant"
                )
            )
        if status != 200:
            raise AuthError(
                self._clean(
                    f"token request to {self.token_url} failed: HTTP {status}"
                    f"{self._oauth_detail(response)}"
                )
            )
        return self._parse_token(response)

    def _parse_token(self, response: requests.Response) -> tuple[str, float]:
        try:
            body = response.json()
        except ValueError:
            raise _Transient("HTTP 200 with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise _Transient("HTTP 200 with a JSON body that is not an object")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise _Transient("HTTP 200 without an access_token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            logger.warning(
                "Token response has no usable expires_in; assuming %d s", DEFAULT_LIFETIME_S
            )
            lifetime = DEFAULT_LIFETIME_S
        return token, float(lifetime)

    @staticmethod
    def _oauth_detail(response: requests.Response) -> str:
        """`` (error: description)`` from an OAuth error body, if there is one."""
        try:
            body: Any = response.json()
        except ValueError:
            return ""
        if not isinstance(body, dict):
            return ""
        error = body.get("error") or body.get("code")
        description = body.get("description") or body.get("error_description") or (
            body.get("message")
        )
        parts = [str(p) for p in (error, description) if p]
        return f" ({': '.join(parts)})" if parts else ""

    def _clean(self, message: str) -> str:
        """One line, with the secret and the current token masked."""
        for secret in (self._client_secret, self._token):
            if secret:
                message = message.replace(secret, "***")
        return " ".join(message.split())


def describe_network_error(exc: Exception) -> str:
    """A short cause such as ``ConnectionError ([Errno 111] Connection refused)``."""
    reason = _ERRNO.search(str(exc))
    return f"{type(exc).__name__} ({reason.group(0)})" if reason else type(exc).__name__
