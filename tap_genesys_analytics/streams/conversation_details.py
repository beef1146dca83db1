"""The ``conversation_details`` stream: open conversations, then windows -> pages -> records.

State is ours, not the SDK's. The stream's state holds

- ``replication_key_value``: the end of the last fully emitted window (whole milliseconds),
  never past ``now - settle_lag`` and never past the start of a window that has a gap (a page
  that stayed empty although more records were announced: no age cap, the next run reads it
  again);
- ``open_conversations``: conversations seen without ``conversationEnd``
  (:mod:`~tap_genesys_analytics.open_conversations`). A run first asks for those that started
  before its re-read range by id (the multi-get) and emits their current version, so a
  conversation that stays open for weeks still arrives ended; past
  ``open_conversation_horizon`` it is abandoned with a warning. The main bookmark is not held
  back by open conversations.

The SDK's per-record bookmark machinery (``_increment_stream_state``: progress markers,
signposts, sort checks) is switched off, so nothing the SDK does at the end of a sync can move
the bookmark past what we set.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.errors import ConfigError, ExtractError
from tap_genesys_analytics.extract import WindowDone, WindowPage, WindowReader, parse_instant
from tap_genesys_analytics.http import Redactor, make_session
from tap_genesys_analytics.open_conversations import OpenConversations, OpenConversationsError
from tap_genesys_analytics.runtime import Runtime
from tap_genesys_analytics.schemas import load_schema, unknown_field_paths
from tap_genesys_analytics.settings import (
    Settings,
    format_duration,
    parse_datetime,
    to_utc,
    validate_settings,
)
from tap_genesys_analytics.windows import (
    MAX_INTERVAL,
    MAX_INTERVAL_FILTERED,
    Window,
    plan_windows,
    resume_point,
    safe_bookmark,
    to_millis,
)

OPEN_KEY = "open_conversations"
DEFAULT_HORIZON = timedelta(days=30)


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

    def __init__(self, tap: Any) -> None:
        """The stream with the generated schema (a private copy: the SDK may annotate it)."""
        super().__init__(tap, schema=copy.deepcopy(load_schema()))
        self._unknown_reported: set[str] = set()
        self._holds: list[datetime] = []  # starts of windows with a gap
        self._gaps: list[str] = []
        self._open = OpenConversations()
        self.client_metrics: dict[str, float] = {}

    # -- SDK state machinery: off ----------------------------------------------------------

    @override
    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """No per-record bookmark: the bookmark moves only when a whole window is emitted.

        A private SDK name (no public hook turns per-record bookmarks off);
        tests/test_stream_sim.py pins that records never move the bookmark.
        """

    @override
    def get_replication_key_signpost(self, context: Any = None) -> None:
        """No signpost: the bookmark is computed per window alone."""
        return

    @property
    @override
    def partitions(self) -> list[dict] | None:
        """One unpartitioned stream (partitions left in an old state file are not replayed)."""
        return None

    # -- settings, runtime and state -------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Validated settings (from the tap when it has them)."""
        settings = getattr(self._tap, "settings", None)
        return settings if isinstance(settings, Settings) else validate_settings(self.config)

    @property
    def runtime(self) -> Runtime:
        """The tap's clock and waiting rules (production defaults when it sets none)."""
        runtime = getattr(self._tap, "runtime", None)
        return runtime if isinstance(runtime, Runtime) else Runtime()

    def stored_bookmark(self) -> datetime | None:
        """The bookmark of the previous run's STATE (None when there is none)."""
        state = self.stream_state
        value = state.get("replication_key_value")
        if not value or state.get("replication_key", self.replication_key) != self.replication_key:
            return None
        # plain datetime: pendulum DateTime(+00:00) - timedelta loses its tzinfo
        return to_millis(to_utc(parse_datetime(str(value), "state")))

    def _load_open(self) -> OpenConversations:
        try:
            return OpenConversations.from_state(self.stream_state.get(OPEN_KEY))
        except OpenConversationsError as exc:
            raise ConfigError("state", f"bookmarks.{self.name}.{OPEN_KEY}: {exc}") from None

    def _write_state(self, bookmark: datetime | None) -> None:
        """Emit a STATE message with ``bookmark`` and the open conversations followed."""
        state = self.stream_state
        if bookmark is not None:
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = bookmark.astimezone(timezone.utc).isoformat()
        if len(self._open):
            state[OPEN_KEY] = self._open.to_state()
        else:
            state.pop(OPEN_KEY, None)
        self._finalize_state(state)  # drops SDK markers (starting value) and marks it unflushed
        self._write_state_message()  # the SDK's StateWriter skips a STATE identical to the last

    # -- records ---------------------------------------------------------------------------

    def build_client(self, settings: Settings) -> GenesysClient:
        """One client (session, token provider, rate budget, redactor) for the whole run."""
        runtime = self.runtime
        session = make_session(settings.max_concurrency + 1)
        redactor = Redactor(settings.client_id, settings.client_secret)
        tokens = TokenProvider(
            settings.login_url,
            settings.client_id,
            settings.client_secret,
            session,
            settings.request_timeout,
            max_retries=settings.max_retries,
            backoff_base_s=runtime.backoff_base_s,
            backoff_cap_s=runtime.backoff_cap_s,
            redactor=redactor,
        )
        return GenesysClient(
            settings,
            tokens,
            session=session,
            redactor=redactor,
            backoff_base_s=runtime.backoff_base_s,
            backoff_cap_s=runtime.backoff_cap_s,
            retry_after_fallback_s=runtime.retry_after_fallback_s,
        )

    def base_body(self, settings: Settings) -> dict[str, Any]:
        """Query fields shared by every page: order and filters."""
        body: dict[str, Any] = {"order": "asc", "orderBy": "conversationStart"}
        if segment_filters := settings.query_segment_filters():
            body["segmentFilters"] = segment_filters
        if conversation_filters := settings.query_conversation_filters():
            body["conversationFilters"] = conversation_filters
        return body

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Open conversations first, then every planned window in order; STATE per window."""
        settings, runtime = self.settings, self.runtime
        now = to_millis(runtime.now())
        previous = self.stored_bookmark()
        if previous is not None and previous > now:
            raise ConfigError(
                "state",
                f"the bookmark {previous.isoformat()} is later than now ({now.isoformat()}); "
                "fix or delete the state (a bookmark in the future would read nothing, forever)",
            )
        self._open = self._load_open()
        start = resume_point(settings.start_date, previous, settings.lookback)
        end = to_millis(settings.end_date or now - settings.settle_lag)
        max_interval = MAX_INTERVAL_FILTERED if settings.has_filters else MAX_INTERVAL
        windows = (
            plan_windows(start, end, settings.window_size, max_interval) if start < end else []
        )
        self.logger.info(
            "Reading %d window(s) from %s to %s (bookmark %s, lookback %s); following %d open "
            "conversation(s)",
            len(windows),
            start.isoformat(),
            end.isoformat(),
            previous.isoformat() if previous else "none",
            format_duration(settings.lookback),
            len(self._open),
        )
        if not windows and not len(self._open):
            return
        client = self.build_client(settings)
        started = time.monotonic()
        try:
            yield from self._follow_open(client, settings, start, now, previous)
            if windows:
                yield from self._read_windows(client, settings, windows, previous, started)
        finally:
            client.close()
            self.client_metrics = {
                **client.metrics.as_dict(),
                "rate_budget_wait_s": getattr(
                    client.budget, "waiting_wall_s", client.budget.pacing_wait_s
                ),
            }
            self.logger.info(
                "HTTP: %s in %.1f s",
                _format_metrics(self.client_metrics),
                time.monotonic() - started,
            )
        if self._gaps:
            raise ExtractError(
                f"{len(self._gaps)} window(s) have pages that stayed empty although more "
                f"records were announced ({self._gaps[0]}); records may be missing there, so "
                f"the bookmark is held at {min(self._holds).isoformat()} and the next run reads "
                "them again"
            )

    def _follow_open(
        self,
        client: GenesysClient,
        settings: Settings,
        start: datetime,
        now: datetime,
        previous: datetime | None,
    ) -> Iterator[dict[str, Any]]:
        """The current version of open conversations that this run's windows do not re-read."""
        horizon = getattr(settings, "open_conversation_horizon", DEFAULT_HORIZON)
        abandoned = self._open.abandon_started_before(now - horizon)
        if abandoned:
            self.logger.warning(
                "%d conversation(s) still open after open_conversation_horizon %s are no "
                "longer followed; their final version will not arrive (e.g. %s)",
                len(abandoned),
                format_duration(horizon),
                abandoned[0],
            )
        due = self._open.due(start)
        if due:
            records = client.get_conversations(due, what="open conversations")
            for record in records:
                self._observe(record, "the multi-get")
                yield record
            self.logger.info(
                "Followed %d open conversation(s) by id: %d answered, %d ended, %d still open",
                len(due),
                len(records),
                sum(1 for cid in due if cid not in self._open),
                sum(1 for cid in due if cid in self._open),
            )
        if due or abandoned:
            self._write_state(previous)

    def _read_windows(
        self,
        client: GenesysClient,
        settings: Settings,
        windows: list[Window],
        previous: datetime | None,
        started: float,
    ) -> Iterator[dict[str, Any]]:
        runtime = self.runtime
        reader = WindowReader(
            client,
            windows,
            page_size=settings.page_size,
            base_body=self.base_body(settings),
            workers=settings.max_concurrency,
            empty_page_retries=runtime.empty_page_retries,
            empty_page_delay_s=runtime.empty_page_delay_s,
        )
        progress = _Progress(client, started, runtime.progress_every_s, self.logger)
        for event in reader.events():
            if isinstance(event, WindowPage):
                for record in event.records:
                    self._observe(record, f"window {event.window}")
                    yield record
                progress.records += len(event.records)
            else:
                self._finish_window(event, settings, previous)
            progress.maybe_log(reader.windows_done, reader.windows_total)
        progress.log_summary(reader.windows_done)

    def _observe(self, record: dict[str, Any], where: str) -> None:
        """Follow or forget the conversation; report fields the schema does not know."""
        conversation_id = record.get("conversationId")
        if not isinstance(conversation_id, str):
            raise ExtractError(f"{where}: a conversation without a conversationId")
        if "conversationEnd" in record:
            self._open.end(conversation_id)
        else:
            try:
                started = parse_instant(record["conversationStart"])
            except (KeyError, ValueError):
                raise ExtractError(
                    f"{where}: conversation {conversation_id} has no ISO-8601 conversationStart"
                ) from None
            self._open.follow(conversation_id, started)
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
        """Log the window's line and emit its STATE."""
        window_end = done.window.end if previous is None else max(done.window.end, previous)
        if done.empty_pages:
            # records may be missing (certainly so when a later page held records): the next
            # run reads the window again, however old it is
            self._holds.append(done.window.start)
            if done.gap_confirmed:
                self._gaps.append(f"window {done.window} pages {list(done.empty_pages)}")
            self.logger.warning(
                "Window %s: pages %s stayed empty although totalHits (%s) announced more (%s); "
                "the bookmark stays at the window's start so the next run reads it again",
                done.window,
                list(done.empty_pages),
                done.total_hits,
                "later pages held records" if done.gap_confirmed else "or it over-counted",
            )
        bookmark = safe_bookmark(window_end, self._holds, self.runtime.now(), settings.settle_lag)
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
        self._write_state(bookmark)


class _Progress:
    """A progress line at least every ``every_s`` seconds of long work, and a summary."""

    def __init__(self, client: GenesysClient, started: float, every_s: float, logger: Any) -> None:
        self.client = client
        self.started = started
        self.every_s = every_s
        self.logger = logger
        self.records = 0
        self._last = started

    def maybe_log(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        requests = self.client.metrics.requests_sent
        eta = elapsed / done * (total - done) if done else None
        self.logger.info(
            "Progress: %d/%d windows, %d records, %d requests (%.1f/s), ETA %s",
            done,
            total,
            self.records,
            requests,
            requests / elapsed if elapsed else 0.0,
            format_duration(timedelta(seconds=round(eta))) if eta is not None else "unknown",
        )

    def log_summary(self, windows: int) -> None:
        elapsed = time.monotonic() - self.started
        self.logger.info(
            "Summary: %d records in %d window(s), %d requests, %s",
            self.records,
            windows,
            self.client.metrics.requests_sent,
            format_duration(timedelta(seconds=round(elapsed))),
        )


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(
        f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}"
        for name, value in metrics.items()
    )
