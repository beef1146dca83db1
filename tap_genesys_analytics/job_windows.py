"""One async job of a run, and how its results pages become window events, in order.

:class:`JobRun` is one job: its windows, id, last known state and the requests and pages not
yet attributed to a finished window (counted from the results threads too, under a lock).
:class:`JobWindows` cuts a job's pages into its windows as
:class:`~tap_genesys_analytics.job_reader.JobReader` takes them, oldest job first: records
owned by a window (each conversation once), participant ``attributes`` removed, records not
final ``settle`` before the job's ``dataAvailabilityDate`` replaced by their current version
(multi-get), a ``WindowDone`` once the results have moved past a window. Once results came
out of order (``ordered`` False) each window's records are held and sorted before they are
emitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.details_query import WindowDone, WindowPage, parse_instant
from tap_genesys_analytics.errors import ExtractError
from tap_genesys_analytics.job_plan import WindowCutter
from tap_genesys_analytics.windows import Window

Event = WindowPage | WindowDone


@dataclass(eq=False)  # compared and hashed by identity
class JobRun:
    """One job: its windows, id, last known state and the requests it has cost."""

    group: tuple[Window, ...]
    attempts: int = 0
    job_id: str | None = None
    state: str = "NEW"
    error: str = ""
    next_poll: float = 0.0
    delays: Iterator[float] = field(default_factory=job_plan.poll_delays, repr=False)
    requests: int = 0  # not yet attributed to a finished window
    pages: int = 0
    emitted: int = 0  # windows of ``group`` whose WindowDone was yielded
    started: float = field(default_factory=time.monotonic)
    #: results are fetched in other threads: the counters change under this lock
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def interval(self) -> str:
        return job_plan.group_interval(self.group).interval

    def count(self, requests: int = 1) -> None:
        with self._lock:
            self.requests += requests

    def add_page(self) -> None:
        with self._lock:
            self.pages += 1

    def take_counts(self) -> tuple[int, int]:
        """(requests, pages) since the last call: those of the window now done."""
        with self._lock:
            counts = self.requests, self.pages
            self.requests = self.pages = 0
            return counts


class JobWindows:
    """Jobs' results pages cut into window events (one thread: the reader's)."""

    def __init__(
        self,
        client: GenesysClient,
        windows_total: int,
        *,
        settle: timedelta,
        availability: datetime | None,
    ) -> None:
        self.client = client
        self.settle = settle
        self.availability = availability
        #: False once a job's results came out of order: windows are then held and sorted
        self.ordered = True
        self.windows_total = windows_total
        self.windows_done = 0
        self._seen: dict[Window, set[str]] = {}
        self._records: dict[Window, int] = {}
        self._held: dict[Window, list[dict[str, Any]]] = {}

    def close(self, run: JobRun, upto: int) -> Iterator[Event]:
        """WindowDone for the group's windows up to ``upto`` not yet done, in order (after
        their held records, sorted as the query sorts them)."""
        while run.emitted < upto:
            window = run.group[run.emitted]
            if held := self._held.pop(window, None):
                held.sort(key=lambda r: (r["conversationStart"], r["conversationId"]))
                yield WindowPage(window, held)
            yield self._done(run, window)
            run.emitted += 1

    def cut_page(self, run: JobRun, cutter: WindowCutter, page: dict[str, Any]) -> Iterator[Event]:
        """The page's owned records by window, closing the windows the results moved past
        (raises :class:`~tap_genesys_analytics.job_plan.OutOfOrder` before using any)."""
        records = page.get("conversations") or []
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ExtractError(
                f"job {run.interval}: a results page whose 'conversations' is not a list of objects"
            )
        starts = []
        for record in records:
            try:
                starts.append(parse_instant(record["conversationStart"]))
            except (KeyError, ValueError):
                raise ExtractError(
                    f"job {run.interval}: conversation {record.get('conversationId')} has no "
                    "ISO-8601 conversationStart"
                ) from None
        indexes, _ = cutter.cut(starts)
        by_window: dict[int, list[dict[str, Any]]] = {}
        for record, index in zip(records, indexes, strict=True):
            if index is None:
                continue
            seen = self._seen.setdefault(run.group[index], set())
            conversation_id = record.get("conversationId")
            if not isinstance(conversation_id, str) or conversation_id in seen:
                continue
            seen.add(conversation_id)
            by_window.setdefault(index, []).append(job_plan.strip_attributes(record))
        view = self._view(page)
        for index in sorted(by_window):
            yield from self.close(run, index)  # windows before it are complete (in order)
            window = run.group[index]
            owned = self._refresh(run, by_window[index], view)
            self._records[window] = self._records.get(window, 0) + len(owned)
            if self.ordered:
                yield WindowPage(window, owned)
            else:
                self._held.setdefault(window, []).extend(owned)
        yield from self.close(run, cutter.closed)

    def _view(self, page: dict[str, Any]) -> datetime | None:
        value = page.get("dataAvailabilityDate")
        try:
            return parse_instant(value) if isinstance(value, str) else self.availability
        except ValueError:
            return self.availability

    def _refresh(
        self, run: JobRun, records: list[dict[str, Any]], view: datetime | None
    ) -> list[dict[str, Any]]:
        """Records that may have changed since the job's view, replaced by their current
        version (multi-get), so they equal what the query serves now."""
        stale = []
        for record in records:
            end = record.get("conversationEnd")
            try:
                ended = parse_instant(end) if isinstance(end, str) else None
            except ValueError:
                ended = None
            if view is None or job_plan.needs_refresh(ended, view, self.settle):
                stale.append(record["conversationId"])
        if not stale:
            return records
        found = self.client.get_conversations(
            stale, what=f"job {run.interval} (refresh)", on_send=run.count
        )
        current = {
            r["conversationId"]: r for r in found if isinstance(r.get("conversationId"), str)
        }
        return [current.get(r["conversationId"], r) for r in records]

    def _done(self, run: JobRun, window: Window) -> WindowDone:
        self.windows_done += 1
        requests, pages = run.take_counts()
        done = WindowDone(
            window=window,
            records=self._records.pop(window, 0),
            pages=pages,
            requests=requests,
            elapsed_s=time.monotonic() - run.started,
            total_hits=None,
            windows_done=self.windows_done,
            windows_total=self.windows_total,
        )
        self._seen.pop(window, None)
        return done
