"""Which path reads which windows, and how a job's results are cut into windows (pure, no I/O).

The details query (sync) reads any window but pays one request per 100 conversations and
slows down on deep pages; an async job (reference: docs/genesys-api.md, "jobs") reads up to
``dataAvailabilityDate`` only, costs a fixed overhead (submit, polls, delete, tens of seconds of
latency) and then serves 1,000 conversations a request. This module decides, from the windows
of a run and the availability instant, which windows go through jobs
(:func:`plan_paths`), how jobs group windows (:func:`group_windows`), what a job is asked
(:func:`job_body`), when a job record is too fresh to be final (:func:`needs_refresh`), how a
too-deep query window is cut (:func:`depth_parts`, :func:`split_even`) and how a job's pages
are cut into windows in order (:class:`WindowCutter`). Time comes in as arguments.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from tap_genesys_analytics.windows import MIN_WINDOW, Window

Path = Literal["jobs", "query"]
MODES = ("auto", "query", "jobs")
#: ``auto`` uses jobs only when the windows they would read span at least this long: a job
#: costs ~6 requests and 15-60 s of latency before its first record, which the 10x larger
#: result pages pay back after a few thousand conversations (a week of even a small org).
AUTO_MIN_RANGE = timedelta(days=7)
#: the longest interval one job is asked for (the API's job limit is uncertain: 31 days in
#: the simulator's default; a week keeps each job's latency short and several in flight)
MAX_JOB_INTERVAL = timedelta(days=7)
#: a FAILED / CANCELLED / EXPIRED job is submitted again this many times, then the run stops
JOB_ATTEMPTS = 3
#: status polls: first after this many seconds, then x1.5 each, capped (reference: ~3 s is
#: the practical minimum for a job)
POLL_FIRST_S = 2.0
POLL_FACTOR = 1.5
POLL_CAP_S = 15.0


@dataclass(frozen=True)
class Segment:
    """Consecutive windows read by one path."""

    path: Path
    windows: tuple[Window, ...]


def jobs_boundary(availability: datetime, settle: timedelta) -> datetime:
    """Windows ending at or before this instant may be read by jobs: job data is complete up
    to ``availability`` and treated as final ``settle`` before it."""
    return availability - settle


def plan_paths(
    windows: Sequence[Window],
    *,
    mode: str,
    availability: datetime | None,
    settle: timedelta,
    min_range: timedelta = AUTO_MIN_RANGE,
) -> list[Segment]:
    """The run's windows, in order, as at most two segments: jobs first, then the query.

    Jobs read the leading windows that end by :func:`jobs_boundary`; ``query`` mode, an
    unknown availability (``None``) or, in ``auto``, a jobs range shorter than ``min_range``
    leaves everything to the query.
    """
    if mode not in MODES:
        raise ValueError(f"extraction_mode: {mode!r} is not one of {', '.join(MODES)}")
    count = 0
    if mode != "query" and availability is not None:
        boundary = jobs_boundary(availability, settle)
        while count < len(windows) and windows[count].end <= boundary:
            count += 1
        if mode == "auto" and count and windows[count - 1].end - windows[0].start < min_range:
            count = 0
    segments = []
    if count:
        segments.append(Segment("jobs", tuple(windows[:count])))
    if count < len(windows):
        segments.append(Segment("query", tuple(windows[count:])))
    return segments


def group_windows(
    windows: Sequence[Window], max_windows: int, max_interval: timedelta = MAX_JOB_INTERVAL
) -> list[tuple[Window, ...]]:
    """Consecutive windows in groups of at most ``max_windows`` spanning at most
    ``max_interval`` (a window longer than that is a group of its own)."""
    if max_windows < 1:
        raise ValueError(f"max_windows must be at least 1 (got {max_windows})")
    groups: list[tuple[Window, ...]] = []
    current: list[Window] = []
    for window in windows:
        if current and (
            len(current) == max_windows
            or window.end - current[0].start > max_interval
            or window.start != current[-1].end
        ):
            groups.append(tuple(current))
            current = []
        current.append(window)
    if current:
        groups.append(tuple(current))
    return groups


def group_interval(group: Sequence[Window]) -> Window:
    """The one interval covering a group of consecutive windows."""
    return Window(group[0].start, group[-1].end)


def job_body(base_body: dict[str, Any], group: Sequence[Window]) -> dict[str, Any]:
    """The ``AsyncConversationQuery`` for a group: the query's filters and order, the group's
    interval, and start-of-day matching (jobs match by activity; the tap keeps conversations
    starting in a window, as the query does)."""
    body = {k: v for k, v in base_body.items() if k not in ("paging", "aggregations")}
    body["interval"] = group_interval(group).interval
    body["startOfDayIntervalMatching"] = True
    body.setdefault("order", "asc")
    body.setdefault("orderBy", "conversationStart")
    return body


def poll_delays(
    first: float = POLL_FIRST_S, factor: float = POLL_FACTOR, cap: float = POLL_CAP_S
) -> Iterator[float]:
    """Seconds to wait before each status poll of a job: ``first``, x``factor``, capped."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * factor, cap)


def needs_refresh(end: datetime | None, view: datetime, settle: timedelta) -> bool:
    """True when a job record may differ from the current one: the conversation had not ended
    (``end`` None) or ended less than ``settle`` before the job's view instant ``view``."""
    return end is None or end > view - settle


def strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the details query serves it: participants without ``attributes`` (jobs
    serve ``AnalyticsConversation``, the query ``AnalyticsConversationWithoutAttributes``)."""
    participants = record.get("participants")
    if isinstance(participants, list):
        for participant in participants:
            if isinstance(participant, dict):
                participant.pop("attributes", None)
    return record


def depth_parts(total_hits: int | None, page_size: int, max_depth: int | None) -> int:
    """How many parts a query window of ``total_hits`` is cut into so that none pages deeper
    than ``max_depth`` (1: it fits, or there is no depth limit / no totalHits)."""
    if total_hits is None or not max_depth or total_hits <= 0:
        return 1
    pages = math.ceil(total_hits / page_size)
    return max(1, math.ceil(pages / max_depth))


def split_even(window: Window, parts: int, minimum: timedelta = MIN_WINDOW) -> list[Window]:
    """``window`` cut into up to ``parts`` consecutive windows of (nearly) equal length.

    Inner boundaries fall on whole seconds; no part is shorter than ``minimum`` (fewer parts
    then). Returns ``[window]`` when it cannot be cut at all.
    """
    parts = min(parts, int(window.duration / minimum))
    if parts < 2:
        return [window]
    step = window.duration / parts
    bounds = [window.start]
    for index in range(1, parts):
        point = window.start + step * index
        point -= timedelta(microseconds=point.microsecond)
        if point - bounds[-1] >= minimum and window.end - point >= minimum:
            bounds.append(point)
    bounds.append(window.end)
    return [Window(a, b) for a, b in itertools.pairwise(bounds)]


class OutOfOrder(Exception):
    """A job's results are not in ``conversationStart`` order (``closed``: a record belongs to
    a window already emitted)."""

    def __init__(self, message: str, *, closed: bool) -> None:
        super().__init__(message)
        self.closed = closed


@dataclass
class WindowCutter:
    """Cuts the pages of one job (asked in ``conversationStart`` order) into its windows.

    Each page's owned records go to their windows; once a page shows the results have moved
    past a window, the window is closed (emitted). With one window no order is needed: it
    closes at the end. With several, a page out of order raises :class:`OutOfOrder` *before*
    anything of it is used (``closed`` tells whether an emitted window was concerned).
    """

    windows: tuple[Window, ...]
    closed: int = 0  # windows[:closed] are done
    last_start: datetime | None = None
    _starts: list[datetime] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._starts = [w.start for w in self.windows]

    def index(self, start: datetime) -> int | None:
        """The window owning ``start`` (None when outside the group)."""
        if not self.windows[0].start <= start < self.windows[-1].end:
            return None
        return bisect.bisect_right(self._starts, start) - 1

    def cut(self, starts: Sequence[datetime]) -> tuple[list[int | None], int]:
        """Window index of each record (None: not owned) and how many windows are closed
        after this page (``closed`` before it: windows to emit now)."""
        indexes = [self.index(s) for s in starts]
        if len(self.windows) > 1:
            previous = self.last_start
            for start, index in zip(starts, indexes, strict=True):
                if previous is not None and start < previous:
                    late = index is not None and index < self.closed
                    raise OutOfOrder(
                        f"a conversation starting {start.isoformat()} came after one starting "
                        f"{previous.isoformat()}",
                        closed=late,
                    )
                previous = start
            self.last_start = previous
            owned = [i for i in indexes if i is not None]
            if owned:
                self.closed = max(self.closed, owned[-1])
            if starts and starts[-1] >= self.windows[-1].end:
                self.closed = len(self.windows)
        return indexes, self.closed

    def finish(self) -> int:
        """Every window is closed once the results end."""
        self.closed = len(self.windows)
        return self.closed
