"""Controllable simulated clock ("now" of the simulated Genesys org)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from genesys_sim.config import parse_time


class SimClock:
    """Thread-safe clock that only moves when told to (``set`` / ``advance``)."""

    def __init__(self, now: datetime | str) -> None:
        self._now = parse_time(now)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def set(self, when: datetime | str) -> datetime:
        with self._lock:
            self._now = parse_time(when)
            now = self._now
        for listener in self._listeners:
            listener(now)
        return now

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self.set(self.now() + step)

    def on_change(self, listener: Callable[[datetime], None]) -> None:
        self._listeners.append(listener)
