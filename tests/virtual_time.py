"""VirtualTime: a fake monotonic clock for tests, shared by one or more threads.

``sleep`` advances it instead of waiting. With several threads it advances only when every
counted thread is asleep, to the earliest wake-up, releasing one sleeper at a time, so
concurrent schedules are exact and reproducible. A thread blocked on something else (an HTTP
request in flight) counts as running, so time stands still until it finishes or sleeps; a
server thread may sleep on the same clock for a worker waiting on its answer (the worker is
then counted as asleep). It is bounded (``max_sleeps``, ``max_seconds``): code that loops or
waits without end fails at once with :class:`VirtualTimeExceeded` instead of hanging.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable


class VirtualTimeExceeded(AssertionError):
    """The code under test slept too often or too long (a loop or an endless wait)."""


class VirtualTime:
    """Fake monotonic clock for one or more threads; ``sleep`` advances it."""

    def __init__(self, max_sleeps: int = 200, max_seconds: float = 3600.0) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.max_sleeps = max_sleeps
        self.max_seconds = max_seconds
        self.on_sleep: Callable[[float], None] | None = None  # runs at the start of a sleep
        self._cv = threading.Condition()
        self._running = 1  # the test's own thread
        self._queue: list[tuple[float, int]] = []
        self._released: set[int] = set()
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        hook, self.on_sleep = self.on_sleep, None
        if hook is not None:
            hook(seconds)
        with self._cv:
            self.sleeps.append(seconds)
            if len(self.sleeps) > self.max_sleeps or self.now + seconds > self.max_seconds:
                raise VirtualTimeExceeded(f"{len(self.sleeps)} sleeps, at t={self.now}+{seconds}")
            ticket = next(self._seq)
            heapq.heappush(self._queue, (self.now + seconds, ticket))
            self._running -= 1
            self._advance()
            while ticket not in self._released:
                if not self._cv.wait(timeout=10):
                    raise VirtualTimeExceeded("a sleeping worker was never woken")
            self._released.discard(ticket)

    def _advance(self) -> None:
        if self._running == 0 and self._queue:
            wake, ticket = heapq.heappop(self._queue)
            self.now = max(self.now, wake)
            self._released.add(ticket)
            self._running += 1
            self._cv.notify_all()

    def run_workers(self, *workers: Callable[[], None]) -> None:
        """Run ``workers`` as threads, all starting at the current fake time; re-raise errors."""
        errors: list[BaseException] = []

        def body(fn: Callable[[], None]) -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
            finally:
                with self._cv:
                    self._running -= 1
                    self._advance()

        threads = [threading.Thread(target=body, args=(fn,)) for fn in workers]
        with self._cv:
            self._running += len(threads) - 1  # the test thread waits instead of running
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive(), "worker thread hung"
        with self._cv:
            self._running += 1
        if errors:
            raise errors[0]
