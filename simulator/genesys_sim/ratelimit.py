"""Per-token fixed-window rate limiter: inin-ratelimit-* headers and 429s.

See docs/genesys-api.md §4.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from genesys_sim.config import SimConfig


class RateLimiter:
    """Counts requests per token in fixed windows of wall-clock time (default 300 per 60 s)."""

    def __init__(self, config: SimConfig, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[bool, dict[str, str], int]:
        """Count one request for ``key``.

        Returns (allowed, headers, retry_after_s). Headers go on every response; when
        ``allowed`` is False the caller answers 429 with ``Retry-After: retry_after_s``.
        """
        limit = self.config.rate_limit_per_minute
        window = max(1, self.config.rate_limit_window_s)
        now = self._clock()
        with self._lock:
            started, count = self._windows.get(key, (now, 0))
            if now - started >= window:
                started, count = now, 0
            allowed = limit <= 0 or count < limit
            if allowed:
                count += 1
            self._windows[key] = (started, count)
        reset = max(1, math.ceil(started + window - now))
        headers = {
            "inin-ratelimit-allowed": str(limit if limit > 0 else 0),
            "inin-ratelimit-count": str(count),
            "inin-ratelimit-reset": str(reset),
        }
        return allowed, headers, reset

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
