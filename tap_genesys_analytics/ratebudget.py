"""One request budget shared by every worker of a run (thread-safe; clock and sleep injected).

- Proactive pacing: request starts are spaced ``60 / requests_per_minute`` seconds apart, so a
  run never bursts past the API's per-token limit.
- Server hints: the ``inin-ratelimit-allowed/count/reset`` headers of each response slow the
  pace down as the server's window nears its limit (what is left of it is spread over the time
  until it resets), and stop it until the reset when it is used up.
- Global pause: a 429 pauses *every* worker until its ``Retry-After`` has passed; when it ends
  the waiting workers take paced slots again (no burst).

No wait taken from server headers (``inin-ratelimit-reset`` here; ``Retry-After`` via
:meth:`RateBudget.pause` and the HTTP layer) is longer than :data:`MAX_SERVER_WAIT_S`. Any
single wait longer than :data:`LONG_WAIT_LOG_S` is logged at WARNING with its reason.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping

HEADER_ALLOWED = "inin-ratelimit-allowed"
HEADER_COUNT = "inin-ratelimit-count"
HEADER_RESET = "inin-ratelimit-reset"

MAX_SERVER_WAIT_S = 300.0
"""Longest wait a server header (``inin-ratelimit-reset``, ``Retry-After``) may impose."""

LONG_WAIT_LOG_S = 10.0
"""A single wait longer than this is logged at WARNING with its reason."""

REASON_PACING = "pacing to requests_per_minute"
REASON_SERVER = "the server's rate-limit window is (nearly) used up (inin-ratelimit-* headers)"
REASON_PAUSE = "429 pause"

logger = logging.getLogger(__name__)


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class RateBudget:
    """Paces request starts for the whole run and applies global 429 pauses.

    Counters (seconds): ``pacing_wait_s`` and ``pause_wait_s`` are summed over workers (8
    workers waiting 1 s add 8 s); :attr:`waiting_wall_s` is wall-clock time during which at
    least one worker was blocked here. ``pause_wait_s`` counts workers waiting out *other*
    requests' 429 pauses; a request's wait for its own ``Retry-After`` is returned by
    :meth:`acquire` (and counts in ``waiting_wall_s``).
    """

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
        self._next_reason = REASON_PACING  # why the next slot is where it is (for the log)
        self._pause_until = 0.0
        self._blocked = 0  # workers blocked in a wait right now
        self._blocked_since = 0.0
        self._waiting_wall_s = 0.0
        self.pacing_wait_s = 0.0  # summed over workers: waits for a paced slot
        self.pause_wait_s = 0.0  # summed over workers: waits for other requests' 429 pauses

    @property
    def waiting_wall_s(self) -> float:
        """Wall-clock seconds during which at least one worker was blocked here."""
        with self._lock:
            ongoing = self._clock() - self._blocked_since if self._blocked else 0.0
            return self._waiting_wall_s + ongoing

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
                self._wait(paused_for, f"{REASON_PAUSE} (this request's Retry-After)")
        while True:
            with self._lock:
                now = self._clock()
                if resume_at is None and now < self._pause_until:
                    wait, paused, reason = self._pause_until - now, True, REASON_PAUSE
                else:
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + self.interval_s
                    wait, paused, reason = slot - now, False, self._next_reason
                    self._next_reason = REASON_PACING  # only the slot the headers set is theirs
                    if wait <= 0:
                        return paced, paused_for
            self._wait(wait, reason)
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
        """Pause every worker for ``seconds`` (at most :data:`MAX_SERVER_WAIT_S`) from now.

        Returns the clock time this pause ends (pass it to :meth:`acquire` as ``resume_at``).
        """
        with self._lock:
            until = self._clock() + min(max(seconds, 0.0), MAX_SERVER_WAIT_S)
            self._pause_until = max(self._pause_until, until)
            return until

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down before the server's limit, from the ``inin-ratelimit-*`` headers.

        With ``remaining = allowed - count - headroom``, the next request starts no earlier
        than ``now + reset / (max(remaining, 0) + 1)``: what is left of the window is spread
        over the time until it resets, and a used-up window waits for the whole reset (at most
        :data:`MAX_SERVER_WAIT_S`). Ignored unless all three headers are numbers and
        ``allowed`` is positive (0 announces no limit).
        """
        allowed = _header_number(headers, HEADER_ALLOWED)
        count = _header_number(headers, HEADER_COUNT)
        reset = _header_number(headers, HEADER_RESET)
        if allowed is None or count is None or reset is None or allowed <= 0:
            return
        remaining = max(allowed - count - self.headroom, 0.0)
        wait = min(reset, MAX_SERVER_WAIT_S) / (remaining + 1)
        with self._lock:
            earliest = self._clock() + wait
            if earliest > self._next_slot:
                self._next_slot = earliest
                self._next_reason = REASON_SERVER

    def _wait(self, seconds: float, reason: str) -> None:
        """Sleep ``seconds`` as a blocked worker (logged when long, counted in wall time)."""
        if seconds > LONG_WAIT_LOG_S:
            logger.warning("rate budget: next request waits %.1f s (%s)", seconds, reason)
        with self._lock:
            if not self._blocked:
                self._blocked_since = self._clock()
            self._blocked += 1
        try:
            self._sleep(seconds)
        finally:
            with self._lock:
                self._blocked -= 1
                if not self._blocked:
                    self._waiting_wall_s += self._clock() - self._blocked_since
