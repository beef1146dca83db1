"""Page-number paging rules for the details query (pure, no I/O).

The details query pages with ``paging: {pageSize, pageNumber}`` (pageNumber starts at 1) and
answers ``{conversations?, totalHits}``. ``totalHits`` is approximate both ways (it changes while
a live interval is paged, and the API drops duplicates, so pages can be short) and may be
missing; the API refuses any request whose ``pageNumber * pageSize`` exceeds :data:`MAX_RESULTS`.

Rules implemented here:

- the page count is ``ceil(totalHits / pageSize)``; page 1 tells it, the rest can be fetched
  concurrently;
- a window ends only on an *empty* page that ``totalHits`` does not contradict; any page that
  holds records (full or short, before, at or past the announced last page) is followed by the
  next one, so a low ``totalHits`` costs one extra request per window, never lost records;
- ``totalHits`` missing -> keep paging until the first empty page;
- an empty page while ``totalHits`` says more -> retry it a bounded number of times with a
  delay; if it stays empty, skip it (the caller records a gap and reads the following pages);
- a page the API would refuse (too deep) is signalled before it is requested
  (:func:`is_too_deep`, :attr:`PagePlan.fits`).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

MAX_RESULTS = 100_000
"""The API refuses ``pageNumber * pageSize`` beyond this ("Pagination may not exceed 100000")."""

EMPTY_PAGE_RETRIES = 3
EMPTY_PAGE_DELAY_S = 2.0


class PageDecision(enum.Enum):
    """What to do after a page came back."""

    NEXT = "next"  # the page held records: request the following page
    DONE = "done"  # empty page that totalHits does not contradict: the window is complete
    RETRY_EMPTY = "retry_empty"  # empty page while more were expected: ask again after a delay
    SKIP_EMPTY = "skip_empty"  # still empty after the retries: record a gap, go on with the next


def page_count(total_hits: int, page_size: int) -> int:
    """Number of pages ``totalHits`` announces (0 for no hits)."""
    return math.ceil(max(total_hits, 0) / page_size)


def is_too_deep(page_number: int, page_size: int) -> bool:
    """True when the API would refuse this page (it would pass :data:`MAX_RESULTS`)."""
    return page_number * page_size > MAX_RESULTS


@dataclass(frozen=True)
class PagePlan:
    """Paging plan of one window, known once page 1 has answered."""

    page_size: int
    total_hits: int | None  # None: the API did not say; page until the first empty page
    empty_page_retries: int = EMPTY_PAGE_RETRIES
    empty_page_delay_s: float = EMPTY_PAGE_DELAY_S

    @property
    def last_page(self) -> int | None:
        """The last page ``totalHits`` announces (None when unknown)."""
        if self.total_hits is None:
            return None
        return page_count(self.total_hits, self.page_size)

    @property
    def fits(self) -> bool:
        """False when paging to the announced last page would pass the API's cap."""
        last = self.last_page
        return last is None or not is_too_deep(last, self.page_size)

    def expects_more(self, page_number: int) -> bool:
        """True when ``totalHits`` says page ``page_number`` should hold records."""
        if self.total_hits is None:
            return False
        return (page_number - 1) * self.page_size < self.total_hits

    def after_page(
        self, page_number: int, received: int, empty_retries_done: int = 0
    ) -> PageDecision:
        """Decide what follows page ``page_number`` that held ``received`` records.

        ``empty_retries_done`` counts the times this (empty) page was already asked again.
        """
        if received > 0:
            # full or short, anywhere: totalHits is approximate, only an empty page ends a window
            return PageDecision.NEXT
        if not self.expects_more(page_number):
            return PageDecision.DONE
        if empty_retries_done < self.empty_page_retries:
            return PageDecision.RETRY_EMPTY
        return PageDecision.SKIP_EMPTY

    def empty_page_delay(self, empty_retries_done: int) -> float:
        """Delay before re-asking an unexpectedly empty page (linear, bounded by the retries)."""
        return self.empty_page_delay_s * (empty_retries_done + 1)
