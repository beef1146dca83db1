"""Pure window / lookback / bookmark math (no I/O).

The API indexes conversations by the UTC day they started and searches only the days an
interval touches (docs/genesys-api.md §1.2), so windows are ``[start, end)`` slices aligned to
UTC day boundaries; sub-day sizes tile each day from midnight (the last slice of a day may be
short).
Each window owns the conversations whose ``conversationStart`` lies in it.

One precision throughout: whole milliseconds. The API takes and returns instants with
millisecond precision, so every instant this module produces (window bounds, resume points,
split points, bookmarks) is floored to a whole millisecond (:func:`to_millis`): a window's
``start``/``end`` are exactly what its ``interval`` sends, and ownership and bookmarks agree
with what the API searched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DAY = timedelta(days=1)
MAX_INTERVAL = timedelta(days=7)  # the API's interval limit for an unfiltered query
MAX_INTERVAL_FILTERED = timedelta(days=31)  # ... and for a query with any filter
MIN_WINDOW = timedelta(minutes=1)  # split_window never produces a half shorter than this
_MS = timedelta(milliseconds=1)


class WindowTooSmall(ValueError):
    """A window cannot be split further (its halves would be below ``MIN_WINDOW``)."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}; windows need aware UTC datetimes")
    return value.astimezone(timezone.utc)


def to_millis(value: datetime) -> datetime:
    """``value`` in UTC, floored to a whole millisecond (the API's precision)."""
    utc = _utc(value)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def format_instant(value: datetime) -> str:
    """``2024-05-01T00:00:00.000Z`` (the API's ISO-8601 form, millisecond precision)."""
    utc = _utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)``, both bounds whole milliseconds.

    The bounds are stored in UTC floored to the millisecond, i.e. exactly what :attr:`interval`
    sends.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_millis(self.start))
        object.__setattr__(self, "end", to_millis(self.end))
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")

    @property
    def interval(self) -> str:
        """The API ``interval`` string ``start/end``."""
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def owns(self, conversation_start: datetime) -> bool:
        """True if a conversation starting at ``conversation_start`` belongs to this window.

        The bounds are whole milliseconds, so this agrees with the API's millisecond search.
        """
        return self.start <= conversation_start < self.end

    def __str__(self) -> str:
        return self.interval


def floor_day(value: datetime) -> datetime:
    """Midnight UTC of the day ``value`` falls on."""
    utc = _utc(value)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def resume_point(start_date: datetime, bookmark: datetime | None, lookback: timedelta) -> datetime:
    """Where a run starts reading: ``max(start_date, bookmark - lookback)`` (whole ms)."""
    if bookmark is None:
        return to_millis(start_date)
    return to_millis(max(_utc(start_date), _utc(bookmark) - lookback))


def _next_boundary(point: datetime, size: timedelta) -> datetime:
    """The first window boundary after ``point`` for windows of ``size``."""
    day = floor_day(point)
    if size >= DAY:
        return day + size  # whole-day windows start at the day ``point`` falls on
    boundary = day + ((point - day) // size + 1) * size
    return min(boundary, day + DAY)  # sub-day tiles restart at each midnight


def plan_windows(
    start: datetime,
    end: datetime,
    window_size: timedelta,
    max_interval: timedelta = MAX_INTERVAL,
) -> list[Window]:
    """Ordered windows tiling ``[start, end)`` exactly (no gap, no overlap).

    ``start`` and ``end`` are floored to whole milliseconds. The size is
    ``min(window_size, max_interval)``, floored to a whole millisecond and, above one day, to
    whole days (day alignment needs them: 36 hours plans one-day windows). Boundaries fall on UTC
    midnights and, for sub-day sizes, on multiples of the size from midnight; the first and last
    windows may be short.
    """
    start, end = to_millis(start), to_millis(end)
    size = min(window_size, max_interval) // _MS * _MS
    if size <= timedelta(0):
        raise ValueError(f"window_size must be at least 1 ms (got {window_size})")
    if size > DAY:
        size = size // DAY * DAY
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        stop = min(_next_boundary(cursor, size), end)
        windows.append(Window(cursor, stop))
        cursor = stop
    return windows


def split_window(window: Window, minimum: timedelta = MIN_WINDOW) -> tuple[Window, Window]:
    """Halve a window; refuse when a half would be shorter than ``minimum``.

    The midpoint is rounded down to a whole second; when that would leave the first half under
    ``minimum`` (a window starting at a fraction of a second), the exact midpoint floored to the
    millisecond is used instead.
    """
    half = window.duration / 2
    if half < minimum:
        raise WindowTooSmall(
            f"window {window.interval} cannot be split: halves would be shorter than {minimum}"
        )
    middle = window.start + half
    middle -= timedelta(microseconds=middle.microsecond)  # down to a whole second
    if middle - window.start < minimum:  # rounding down only ever shortens the first half
        middle = to_millis(window.start + half)
    return Window(window.start, middle), Window(middle, window.end)


def safe_bookmark(
    window_end: datetime,
    holds: Iterable[datetime],
    now: datetime,
    settle_lag: timedelta,
) -> datetime:
    """The bookmark after a finished window: ``min(window_end, now - settle_lag, *holds)``.

    ``holds`` are instants the bookmark must not pass (the starts of windows read with a gap,
    so the next run reads them again). The result is floored to a whole millisecond.
    """
    return to_millis(min(_utc(window_end), _utc(now) - settle_lag, *map(_utc, holds)))
