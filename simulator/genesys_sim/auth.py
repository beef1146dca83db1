"""Client-credentials tokens (docs/genesys-api.md §5): issue, expire (simulated clock), revoke."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from typing import NamedTuple
from urllib.parse import parse_qs

from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig
from genesys_sim.errors import ApiError, oauth_error


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = oauth_error(error, description)


class Grant(NamedTuple):
    """What an issued token stands for."""

    client_id: str
    expires_s: float  # epoch seconds on the simulated clock


class TokenStore:
    """Issued bearer tokens with their expiry instant on the simulated clock."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config, self.clock = config, clock
        self._lock = threading.Lock()
        self._tokens: dict[str, Grant] = {}

    def issue(self, authorization: str | None, form: bytes) -> dict[str, object]:
        """Handle ``POST /oauth/token``; returns the token response or raises OAuthError."""
        fields = {k: v[0] for k, v in parse_qs(form.decode("utf-8", "replace")).items()}
        client_id = fields.get("client_id")
        secret = fields.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                client_id, _, secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise OAuthError(401, "invalid_client", "Malformed Basic credentials") from exc
        if fields.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if not client_id or self.config.clients.get(client_id) != secret:
            raise OAuthError(401, "invalid_client", "client not found or bad secret")
        token = secrets.token_urlsafe(32)
        lifetime = int(self.config.token_lifetime_s)
        with self._lock:
            self._tokens[token] = Grant(client_id, self.clock.now().timestamp() + lifetime)
        return {"access_token": token, "token_type": "bearer", "expires_in": lifetime}

    def check(self, authorization: str | None) -> str:
        """Return the bearer token of a valid API call or raise the 401 the API answers."""
        if (
            not authorization
            or not authorization.lower().startswith("bearer ")
            or not authorization[7:].strip()
        ):
            raise ApiError(
                401,
                "authentication.required",
                "No authentication bearer token specified in authorization header.",
            )
        token = authorization[7:].strip()
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry.expires_s <= self.clock.now().timestamp():
            raise ApiError(401, "bad.credentials", "Invalid login credentials.")
        return token

    def client_of(self, token: str) -> str:
        """The OAuth client id a token was issued to ("" if unknown)."""
        with self._lock:
            entry = self._tokens.get(token)
        return entry.client_id if entry else ""

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    @property
    def issued(self) -> int:
        with self._lock:
            return len(self._tokens)
