"""Page-number paging rules for the details query (pure, no I/O).

The details query pages with ``paging: {pageSize, pageNumber}`` (pageNumber starts at 1) and
answers ``{conversations?, totalHits}``. ``totalHits`` is approximate (the API drops duplicates,
so pages can be short) and may be missing; the API refuses any request whose
``pageNumber * pageSize`` exceeds :data:`MAX_RESULTS`.

Rules implemented here:

- the page count is ``ceil(totalHits / pageSize)``; page 1 tells it, the rest can be fetched
  concurrently;
- a short page never ends a window; an empty page does, and so does a short page at or past
  the announced last page (a *full* last page means totalHits was low: keep paging);
- ``totalHits`` missing -> keep paging until the first empty page;
- an empty page while ``totalHits`` says more -> retry it a bounded number of times with a
  delay, then give up with a warning (never endless, never silent);
- a page the API would refuse (too deep) is signalled *before* it is requested.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

MAX_RESULTS = 100_000
"""The API refuses ``pageNumber * pageSize`` beyond this ("Pagination may not exceed 100000")."""

EMPTY_PAGE_RETRIES = 3
EMPTY_PAGE_DELAY_S = 2.0


class TooDeepError(Exception):
    """The next page would pass :data:`MAX_RESULTS`: the window must be split."""


class PageDecision(enum.Enum):
    """What to do after a page came back."""

    NEXT = "next"  # request the following page
    DONE = "done"  # the window is complete
    RETRY_EMPTY = "retry_empty"  # empty page while more were expected: ask again after a delay
    GIVE_UP_EMPTY = "give_up_empty"  # still empty after the retries: stop and warn


def page_count(total_hits: int, page_size: int) -> int:
    """Number of pages ``totalHits`` announces (0 for no hits)."""
    return math.ceil(max(total_hits, 0) / page_size)


def is_too_deep(page_number: int, page_size: int) -> bool:
    """True when the API would refuse this page (it would pass :data:`MAX_RESULTS`)."""
    return page_number * page_size > MAX_RESULTS


def check_depth(page_number: int, page_size: int) -> None:
    """Raise :class:`TooDeepError` instead of sending a request the API would refuse."""
    if is_too_deep(page_number, page_size):
        msg = (
            f"page {page_number} x {page_size} would pass the API's {MAX_RESULTS}-result "
            "paging limit"
        )
        raise TooDeepError(msg)


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

    def remaining_pages(self) -> range | None:
        """Pages after page 1 that ``totalHits`` announces (None when unknown)."""
        last = self.last_page
        return None if last is None else range(2, last + 1)

    def expects_more(self, page_number: int) -> bool:
        """True when ``totalHits`` says page ``page_number`` should hold records."""
        if self.total_hits is None:
            return False
        return (page_number - 1) * self.page_size < self.total_hits

    def after_page(
        self, page_number: int, received: int, empty_retries_done: int = 0
    ) -> PageDecision:
        """Decide what follows page ``page_number`` that held ``received`` records."""
        if received == 0:
            if not self.expects_more(page_number):
                return PageDecision.DONE
            if empty_retries_done < self.empty_page_retries:
                return PageDecision.RETRY_EMPTY
            return PageDecision.GIVE_UP_EMPTY
        last = self.last_page
        if last is not None and page_number >= last and received < self.page_size:
            return PageDecision.DONE
        # a full page at or past the announced end: totalHits was low; page on until empty
        return PageDecision.NEXT

    def empty_page_delay(self, empty_retries_done: int) -> float:
        """Delay before re-asking an unexpectedly empty page (linear, bounded by the retries)."""
        return self.empty_page_delay_s * (empty_retries_done + 1)
