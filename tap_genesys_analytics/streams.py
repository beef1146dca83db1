"""The ``conversation_details`` stream: windows -> pages -> records -> STATE.

State is ours, not the SDK's: the bookmark (``replication_key_value``) is the end of the last
fully emitted window, held back by ongoing conversations and the settle lag
(:func:`windows.safe_bookmark`), and never a record's value. The SDK's per-record bookmark
machinery (``_increment_stream_state``: progress markers, signposts, sort checks) is switched
off, so nothing the SDK does at the end of a sync can move the bookmark past what we set.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.client import GenesysClient, make_session
from tap_genesys_analytics.extract import WindowDone, WindowPage, WindowReader, parse_instant
from tap_genesys_analytics.pagination import EMPTY_PAGE_DELAY_S, EMPTY_PAGE_RETRIES
from tap_genesys_analytics.schemas import load_schema, unknown_field_paths
from tap_genesys_analytics.settings import Settings, parse_datetime, to_utc, validate_settings
from tap_genesys_analytics.windows import plan_windows, resume_point, safe_bookmark

MAX_INTERVAL = timedelta(days=7)  # the API's interval limit without filters
MAX_INTERVAL_FILTERED = timedelta(days=31)  # ... and with any filter


def utc_now() -> datetime:
    """The current instant (module-level so tests can pin it)."""
    return datetime.now(timezone.utc)


class ConversationDetailsStream(Stream):
    """Conversation detail records from ``POST /api/v2/analytics/conversations/details/query``."""

    name = "conversation_details"
    primary_keys: ClassVar[list[str]] = ["conversationId"]
    replication_key = "conversationStart"
    # Records are the API's JSON, already typed as the schema says. Measured on simulator
    # records (4.6 KB): NONE 0.4 us, ROOT_ONLY 11 us, RECURSIVE 320 us per record, against
    # ~17 us to decode and ~13 us to encode one; conformance would change nothing for that cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # The SDK would re-send the current state every N records; ours only changes per window.
    STATE_MSG_FREQUENCY = sys.maxsize

    #: extra keyword arguments for GenesysClient (tests shorten the backoff)
    client_options: ClassVar[dict[str, Any]] = {}
    empty_page_retries: ClassVar[int] = EMPTY_PAGE_RETRIES
    empty_page_delay_s: ClassVar[float] = EMPTY_PAGE_DELAY_S

    def __init__(self, tap: Any) -> None:
        """The stream with the generated schema (a private copy: the SDK may annotate it)."""
        super().__init__(tap, schema=copy.deepcopy(load_schema()))
        self._unknown_reported: set[str] = set()
        self._ongoing_starts: list[datetime] = []
        self.client_metrics: dict[str, float] = {}

    # -- SDK state machinery: off ----------------------------------------------------------

    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """No per-record bookmark: the bookmark moves only when a whole window is emitted."""

    def get_replication_key_signpost(self, context: Any = None) -> None:
        """No signpost: the bookmark is computed by :meth:`_write_bookmark` alone."""
        return

    @property
    def partitions(self) -> list[dict] | None:
        """One unpartitioned stream (partitions left in an old state file are not replayed)."""
        return None

    # -- settings and state ----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Validated settings (from the tap when it has them)."""
        settings = getattr(self._tap, "settings", None)
        return settings if isinstance(settings, Settings) else validate_settings(self.config)

    def stored_bookmark(self) -> datetime | None:
        """The bookmark of the previous run's STATE (None when there is none)."""
        state = self.stream_state
        value = state.get("replication_key_value")
        if not value or state.get("replication_key", self.replication_key) != self.replication_key:
            return None
        # plain datetime: pendulum DateTime(+00:00) - timedelta loses its tzinfo
        return to_utc(parse_datetime(str(value), "state"))

    def _write_bookmark(self, bookmark: datetime) -> None:
        """Emit a STATE message whose bookmark is ``bookmark``."""
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = bookmark.astimezone(timezone.utc).isoformat()
        self._finalize_state(state)  # drops SDK markers (starting value) and marks it unflushed
        self._write_state_message()  # the SDK's StateWriter skips a STATE identical to the last

    # -- records ---------------------------------------------------------------------------

    def build_client(self, settings: Settings) -> GenesysClient:
        """One client (session, token provider, rate budget) for the whole run."""
        session = make_session(settings.max_concurrency + 1)
        tokens = TokenProvider(
            settings.login_url,
            settings.client_id,
            settings.client_secret,
            session,
            settings.request_timeout,
        )
        return GenesysClient(settings, tokens, session=session, **self.client_options)

    def base_body(self, settings: Settings) -> dict[str, Any]:
        """Query fields shared by every page: order and filters."""
        body: dict[str, Any] = {"order": "asc", "orderBy": "conversationStart"}
        if segment_filters := settings.query_segment_filters():
            body["segmentFilters"] = segment_filters
        if conversation_filters := settings.query_conversation_filters():
            body["conversationFilters"] = conversation_filters
        return body

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Records of every planned window, in window order; STATE after each window."""
        settings = self.settings
        now = utc_now()
        previous = self.stored_bookmark()
        start = resume_point(settings.start_date, previous, settings.lookback)
        end = settings.end_date or now - settings.settle_lag
        max_interval = MAX_INTERVAL_FILTERED if settings.has_filters else MAX_INTERVAL
        windows = (
            plan_windows(start, end, settings.window_size, max_interval) if start < end else []
        )
        self.logger.info(
            "Reading %d window(s) from %s to %s (bookmark %s, lookback %s)",
            len(windows),
            start.isoformat(),
            end.isoformat(),
            previous.isoformat() if previous else "none",
            settings.lookback,
        )
        if not windows:
            return
        client = self.build_client(settings)
        reader = WindowReader(
            client,
            windows,
            page_size=settings.page_size,
            base_body=self.base_body(settings),
            workers=settings.max_concurrency,
            empty_page_retries=self.empty_page_retries,
            empty_page_delay_s=self.empty_page_delay_s,
        )
        started = time.monotonic()
        try:
            for event in reader.events():
                if isinstance(event, WindowPage):
                    for record in event.records:
                        self._inspect(record, settings, now)
                        yield record
                else:
                    self._finish_window(event, settings, previous)
        finally:
            client.close()
            self.client_metrics = {
                **client.metrics.as_dict(),
                "pacing_wait_s": client.budget.pacing_wait_s,  # summed over workers
                "pause_wait_s": client.budget.pause_wait_s,  # others waiting out 429 pauses
            }
            self.logger.info(
                "HTTP: %s in %.1f s",
                _format_metrics(self.client_metrics),
                time.monotonic() - started,
            )

    def _inspect(self, record: dict[str, Any], settings: Settings, now: datetime) -> None:
        """Note ongoing conversations; report fields the schema does not know (once each)."""
        if "conversationEnd" not in record:
            started = parse_instant(record["conversationStart"])
            if started >= now - settings.max_ongoing_age:
                self._ongoing_starts.append(started)
        unknown = unknown_field_paths(record, self.schema)
        for path in unknown - self._unknown_reported:
            self._unknown_reported.add(path)
            self.logger.warning(
                "Field %r is not in the conversation_details schema; it is passed on but untyped",
                path,
            )

    def _finish_window(
        self, done: WindowDone, settings: Settings, previous: datetime | None
    ) -> None:
        """Log the window's progress line and emit its STATE."""
        window_end = done.window.end if previous is None else max(done.window.end, previous)
        if done.incomplete:
            # It may have lost records (or totalHits was just high): hold the bookmark at the
            # window's start, like an ongoing conversation, so the next run reads it again;
            # the same max_ongoing_age cap keeps an always-short window from pinning state.
            self._ongoing_starts.append(done.window.start)
            self.logger.warning(
                "Window %s ended on an empty page with fewer records than announced; the "
                "bookmark stays at its start (unless older than max_ongoing_age %s) so the "
                "next run reads it again",
                done.window,
                settings.max_ongoing_age,
            )
        bookmark = safe_bookmark(
            window_end,
            self._ongoing_starts,
            utc_now(),
            settings.settle_lag,
            settings.max_ongoing_age,
        )
        self.logger.info(
            "Window %s done: %d records, %d pages, %d requests, %.1f s; %d/%d windows; bookmark %s",
            done.window,
            done.records,
            done.pages,
            done.requests,
            done.elapsed_s,
            done.windows_done,
            done.windows_total,
            bookmark.isoformat(),
        )
        self._write_bookmark(bookmark)


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(
        f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}"
        for name, value in metrics.items()
    )
