"""One request budget shared by every worker of a run (thread-safe).

- Proactive pacing: request starts are spaced ``60 / requests_per_minute`` seconds apart, so a
  run never bursts past the API's per-token limit.
- Server hints: the ``inin-ratelimit-allowed/count/reset`` headers of each response slow the
  pace down when the server's window is nearly used up.
- Global pause: a 429 pauses *every* worker until its ``Retry-After`` has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

HEADER_ALLOWED = "inin-ratelimit-allowed"
HEADER_COUNT = "inin-ratelimit-count"
HEADER_RESET = "inin-ratelimit-reset"


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateBudget:
    """Paces request starts for the whole run and applies global 429 pauses."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        headroom: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Budget of ``requests_per_minute`` (0 = no pacing); ``headroom`` = requests kept spare."""
        self.interval_s = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._pause_until = 0.0
        self.pacing_wait_s = 0.0  # total time workers waited for their slot
        self.pause_wait_s = 0.0  # total time workers waited out 429 pauses

    def acquire(self, resume_at: float | None = None) -> tuple[float, float]:
        """Block until this worker may start a request.

        ``resume_at`` (clock time) is given by a request that got a 429: it sleeps until its
        own ``Retry-After`` has passed, then takes the next slot without waiting for pauses
        other workers' 429s set (so it waits exactly what its 429 asked for). Every other
        request waits until every 429 pause has passed. Returns the seconds this call waited
        for pacing and for 429s.
        """
        paced = paused_for = 0.0
        if resume_at is not None:
            paused_for = max(resume_at - self._clock(), 0.0)
            if paused_for:
                self._sleep(paused_for)
        while True:
            with self._lock:
                now = self._clock()
                if resume_at is None and now < self._pause_until:
                    wait, paused = self._pause_until - now, True
                else:
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + self.interval_s
                    wait, paused = slot - now, False
                    if wait <= 0:
                        return paced, paused_for
            self._sleep(wait)
            with self._lock:
                if paused:
                    paused_for += wait
                    self.pause_wait_s += wait
                else:
                    paced += wait
                    self.pacing_wait_s += wait
                    if resume_at is not None or self._clock() >= self._pause_until:
                        return paced, paused_for  # slot reached, no 429 pause began meanwhile

    def pause(self, seconds: float) -> float:
        """Pause every worker for ``seconds`` from now; returns when this pause ends."""
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._pause_until = max(self._pause_until, until)
            return until

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down before the server's limit, from the ``inin-ratelimit-*`` headers."""
        allowed = _header_number(headers, HEADER_ALLOWED)
        count = _header_number(headers, HEADER_COUNT)
        reset = _header_number(headers, HEADER_RESET)
        if allowed is None or count is None or reset is None or allowed <= 0 or reset <= 0:
            return  # no limit announced (allowed 0 = unlimited) or nothing usable
        remaining = allowed - count - self.headroom
        with self._lock:
            now = self._clock()
            if remaining <= 0:
                # window used up: nothing more until it resets
                self._next_slot = max(self._next_slot, now + reset)
            else:
                # spread what is left of the window over the time until it resets
                self._next_slot = max(self._next_slot, now + reset / (remaining + 1))
