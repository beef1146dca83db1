"""The reader of a run's windows: the details query alone, or async jobs then the query.

:func:`make_reader` is what ``conversation_details`` calls. Unless ``extraction_mode`` is
``query`` (or, in ``auto``, the range is shorter than
:data:`~tap_genesys_analytics.job_plan.AUTO_MIN_RANGE`), it asks ``GET .../jobs/availability``,
lets :func:`~tap_genesys_analytics.job_plan.plan_paths` choose the path of each window and
returns a :class:`HybridReader`: the jobs segment (:class:`JobReader`) then the query segment
(:class:`WindowReader`, windows split to ``max_page_depth``), one event stream with one
``WindowDone`` per window, in order, exactly as :class:`WindowReader` alone gives.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from tap_genesys_analytics import job_plan
from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.details_query import WindowDone, parse_instant
from tap_genesys_analytics.errors import GenesysAPIError
from tap_genesys_analytics.job_plan import Segment
from tap_genesys_analytics.job_reader import JOBS_PATH, Event, JobReader
from tap_genesys_analytics.window_reader import WindowReader
from tap_genesys_analytics.windows import Window

logger = logging.getLogger("tap_genesys_analytics.hybrid_reader")
AVAILABILITY_PATH = JOBS_PATH + "/availability"


def fetch_availability(client: GenesysClient) -> datetime:
    """``dataAvailabilityDate``: job data is complete up to this instant."""
    answer = client.request("GET", AVAILABILITY_PATH, what="jobs availability")
    try:
        return parse_instant(answer["dataAvailabilityDate"])
    except (KeyError, ValueError):
        raise GenesysAPIError(
            f"jobs availability: no readable dataAvailabilityDate in {sorted(answer)[:5]}"
        ) from None


class HybridReader:
    """Segments read one after the other (jobs, then the query), one event stream."""

    def __init__(self, segments: list[Segment], make: Callable[[Segment], Any]) -> None:
        self.segments = segments
        self._make = make
        self.windows_total = sum(len(s.windows) for s in segments)
        self.windows_done = 0

    def events(self) -> Iterator[Event]:
        """Every segment's events, with window counts over the whole run."""
        for segment in self.segments:
            reader = self._make(segment)
            before, known = self.windows_done, self.windows_total
            for event in reader.events():
                self.windows_total = known - len(segment.windows) + reader.windows_total
                if isinstance(event, WindowDone):
                    self.windows_done = before + reader.windows_done
                    yield dataclasses.replace(
                        event, windows_done=self.windows_done, windows_total=self.windows_total
                    )
                else:
                    yield event


def make_reader(
    client: GenesysClient,
    settings: Any,
    windows: list[Window],
    *,
    base_body: dict[str, Any],
    runtime: Any,
) -> WindowReader | HybridReader:
    """The reader of a run's windows: the query alone, or jobs for history then the query."""
    mode = getattr(settings, "extraction_mode", "query")

    def query(segment_windows: list[Window]) -> WindowReader:
        return WindowReader(
            client,
            segment_windows,
            page_size=settings.page_size,
            base_body=base_body,
            workers=settings.max_concurrency,
            empty_page_retries=runtime.empty_page_retries,
            empty_page_delay_s=runtime.empty_page_delay_s,
            max_page_depth=getattr(settings, "max_page_depth", None),
        )

    if mode == "query" or not windows:
        return query(windows)
    if mode == "auto" and windows[-1].end - windows[0].start < job_plan.AUTO_MIN_RANGE:
        return query(windows)  # too short for jobs to pay off: not even availability asked
    try:
        availability: datetime | None = fetch_availability(client)
    except GenesysAPIError as exc:
        if mode == "jobs":
            raise
        logger.warning("jobs availability unknown (%s); reading with the details query", exc)
        availability = None
    segments = job_plan.plan_paths(
        windows, mode=mode, availability=availability, settle=settings.job_settle
    )
    for segment in segments:
        logger.info(
            "%s: %d window(s) %s .. %s (dataAvailabilityDate %s)",
            "Async jobs" if segment.path == "jobs" else "Details query",
            len(segment.windows),
            segment.windows[0].start.isoformat(),
            segment.windows[-1].end.isoformat(),
            availability.isoformat() if availability else "unknown",
        )

    def make(segment: Segment) -> Any:
        if segment.path == "query":
            return query(list(segment.windows))
        return JobReader(
            client,
            list(segment.windows),
            base_body=base_body,
            max_jobs=settings.max_concurrent_jobs,
            page_size=settings.job_page_size,
            max_windows=settings.job_max_windows,
            settle=settings.job_settle,
            availability=availability,
        )

    return HybridReader(segments, make)
