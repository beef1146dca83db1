"""Pure window / lookback / bookmark math (no I/O).

The API indexes conversations by the UTC day they started and searches only the days an
interval touches (reference §1.2), so windows are ``[start, end)`` slices aligned to UTC day
boundaries; sub-day sizes tile each day from midnight (the last slice of a day may be short).
Each window owns the conversations whose ``conversationStart`` lies in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DAY = timedelta(days=1)
MAX_INTERVAL = timedelta(days=7)  # the API's limit for an unfiltered query
MIN_WINDOW = timedelta(minutes=1)  # split_window never produces a half shorter than this


class WindowTooSmall(ValueError):
    """A window cannot be split further (its halves would be below ``MIN_WINDOW``)."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}; windows need aware UTC datetimes")
    return value.astimezone(timezone.utc)


def format_instant(value: datetime) -> str:
    """``2024-05-01T00:00:00.000Z`` (the API's ISO-8601 form, millisecond precision)."""
    utc = _utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if _utc(self.end) <= _utc(self.start):
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")

    @property
    def interval(self) -> str:
        """The API ``interval`` string ``start/end``."""
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def owns(self, conversation_start: datetime) -> bool:
        """True if a conversation starting at ``conversation_start`` belongs to this window."""
        return self.start <= conversation_start < self.end

    def __str__(self) -> str:
        return self.interval


def floor_day(value: datetime) -> datetime:
    """Midnight UTC of the day ``value`` falls on."""
    utc = _utc(value)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def resume_point(start_date: datetime, bookmark: datetime | None, lookback: timedelta) -> datetime:
    """Where a run starts reading: ``max(start_date, bookmark - lookback)``."""
    if bookmark is None:
        return _utc(start_date)
    return max(_utc(start_date), _utc(bookmark) - lookback)


def _next_boundary(point: datetime, size: timedelta) -> datetime:
    """The first window boundary after ``point`` for windows of ``size``."""
    day = floor_day(point)
    if size >= DAY:
        return day + size  # whole-day windows start at the day ``point`` falls on
    offset = point - day
    boundary = day + (offset // size + 1) * size
    return min(boundary, day + DAY)  # sub-day tiles restart at each midnight


def plan_windows(
    start: datetime,
    end: datetime,
    window_size: timedelta,
    max_interval: timedelta = MAX_INTERVAL,
) -> list[Window]:
    """Ordered windows tiling ``[start, end)`` exactly (no gap, no overlap).

    Boundaries fall on UTC midnights (and, for sub-day sizes, on multiples of the size from
    midnight); the first and last windows may be short. No window exceeds ``max_interval``.
    """
    start, end = _utc(start), _utc(end)
    if window_size <= timedelta(0):
        raise ValueError("window_size must be positive")
    size = min(window_size, max_interval)
    if size > DAY:
        size = max(DAY, size // DAY * DAY)  # day alignment needs whole days above one day
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        stop = min(_next_boundary(cursor, size), end)
        windows.append(Window(cursor, stop))
        cursor = stop
    return windows


def split_window(window: Window, minimum: timedelta = MIN_WINDOW) -> tuple[Window, Window]:
    """Halve a window (midpoint rounded down to a whole second); refuse below ``minimum``."""
    half = window.duration / 2
    if half < minimum:
        raise WindowTooSmall(
            f"window {window.interval} cannot be split: halves would be shorter than {minimum}"
        )
    middle = (window.start + half).replace(microsecond=0)
    if middle - window.start < minimum or window.end - middle < minimum:
        middle = window.start + half
    return Window(window.start, middle), Window(middle, window.end)


def safe_bookmark(
    window_end: datetime,
    ongoing_starts: Iterable[datetime],
    now: datetime,
    settle_lag: timedelta,
    max_ongoing_age: timedelta,
) -> datetime:
    """The bookmark after a finished window.

    ``min(window_end, earliest ongoing conversationStart not older than max_ongoing_age,
    now - settle_lag)``. Pass every conversation start seen without ``conversationEnd`` so far
    in the run (not only this window's), so the bookmark never passes one that will change.
    """
    now = _utc(now)
    candidates = [_utc(window_end), now - settle_lag]
    oldest_allowed = now - max_ongoing_age
    candidates.extend(s for s in map(_utc, ongoing_starts) if s >= oldest_allowed)
    return min(candidates)


#: The name used in docs/architecture.md's call diagram.
next_bookmark = safe_bookmark
