"""The OAuth client-credentials token provider.

Tokens: ``POST {login_url}/oauth/token`` with ``grant_type=client_credentials`` and HTTP Basic
credentials (docs/genesys-api.md). One token is shared by all threads, refreshed shortly
before ``expires_in`` runs out, and refetched exactly once after a 401 (``invalidate``).
Rejected credentials fail fast (:class:`AuthError`); 429/5xx/timeouts/connection errors follow
the one retry policy of ``http.py`` (``max_retries``, ``Retry-After``) and then fail as an
API error (the credentials were never judged). A definitive failure is remembered: later
callers (other workers) get the same error without new requests. Every message goes through
the run's one :class:`~tap_genesys_analytics.http.Redactor`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from tap_genesys_analytics.errors import AuthError, GenesysAPIError
from tap_genesys_analytics.http import (
    Redactor,
    Reply,
    Retryable,
    RetryPolicy,
    error_summary,
    send,
    status_failure,
)

logger = logging.getLogger(__name__)


DEFAULT_LIFETIME_S = 300.0  # Genesys' shortest configurable token lifetime
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024


class TokenProvider:
    """Client-credentials tokens for all threads of one run (thread-safe)."""

    def __init__(  # noqa: PLR0917 (positional order kept from the first release)
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
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token_url = login_url.rstrip("/") + "/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._timeout = timeout
        self._refresh_margin_s = refresh_margin_s
        self.policy = RetryPolicy(
            max_retries, backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s
        )
        self.redact = redactor or Redactor(client_id, client_secret)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._failure: Exception | None = None
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
                except (AuthError, GenesysAPIError) as exc:
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
        started = self._clock()
        token, lifetime = self.policy.run(
            self._request,
            what=f"token request to {self.token_url}",
            wait=lambda _failure, seconds: self._sleep(seconds),
            redact=self.redact,
        )
        self.redact.add(token)
        margin = min(self._refresh_margin_s, lifetime / 2)
        self._token = token
        self._refresh_at = started + lifetime - margin
        self.fetches += 1
        logger.info("Obtained an access token valid for %d s", int(lifetime))

    def _request(self) -> tuple[str, float]:
        reply = send(
            self._session,
            "POST",
            self.token_url,
            deadline_s=self._timeout,
            max_bytes=MAX_TOKEN_RESPONSE_BYTES,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id, self._client_secret),
            headers={"Accept": "application/json"},
        )
        failure = status_failure(reply, self.redact)
        if failure is not None:
            raise failure
        if reply.status in (400, 401, 403):
            raise AuthError(
                self.redact.line(
                    f"credentials rejected by {self.token_url}: HTTP {reply.status}"
                    f"{_oauth_detail(reply)}; check client_id/client_secret, region and that "
                    "the OAuth client uses the Client Credentials grant"
                )
            )
        if reply.status != 200:
            raise AuthError(
                self.redact.line(
                    f"token request to {self.token_url} failed: {error_summary(reply, self.redact)}"
                )
            )
        return self._parse_token(reply)

    def _parse_token(self, reply: Reply) -> tuple[str, float]:
        body: Any = reply.json_object()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise Retryable("HTTP 200 without a JSON object holding an access_token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            logger.warning(
                "Token response has no usable expires_in; assuming %d s", DEFAULT_LIFETIME_S
            )
            lifetime = DEFAULT_LIFETIME_S
        return token, float(lifetime)


def _oauth_detail(reply: Reply) -> str:
    """`` (error: description)`` from an OAuth error body (raw: the caller redacts the line)."""
    body = reply.json_object()
    error = body.get("error") or body.get("code")
    description = body.get("description") or body.get("error_description") or body.get("message")
    parts = [str(p) for p in (error, description) if p]
    return f" ({': '.join(parts)})" if parts else ""
