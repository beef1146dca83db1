"""What a run takes from its surroundings: the clock and the waiting rules.

One :class:`Runtime` per tap (``tap.runtime``, production defaults when unset). Tests and the
benchmarks inject a simulator's clock and short backoffs here — the one way time gets into the
streams, as the pure modules take ``clock``/``sleep`` arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from tap_genesys_analytics.pagination import EMPTY_PAGE_DELAY_S, EMPTY_PAGE_RETRIES


def utc_now() -> datetime:
    """The current instant (aware UTC)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Runtime:
    """Clock and waiting rules of one run."""

    now: Callable[[], datetime] = utc_now
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    retry_after_fallback_s: float = 2.0
    empty_page_retries: int = EMPTY_PAGE_RETRIES
    empty_page_delay_s: float = EMPTY_PAGE_DELAY_S
    #: seconds between progress lines during long work
    progress_every_s: float = 30.0
