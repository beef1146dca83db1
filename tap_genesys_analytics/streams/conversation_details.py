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

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, ClassVar

from typing_extensions import override

from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.details_query import WindowDone, WindowPage, parse_instant
from tap_genesys_analytics.errors import ConfigError, ExtractError
from tap_genesys_analytics.hybrid_reader import make_reader
from tap_genesys_analytics.open_conversations import OpenConversations, OpenConversationsError
from tap_genesys_analytics.parsers import format_duration
from tap_genesys_analytics.schemas import unknown_field_paths
from tap_genesys_analytics.settings import Settings
from tap_genesys_analytics.streams.base import (
    DerivedStream,
    GenesysStream,
    Progress,
    selected_children,
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


class ConversationDetailsStream(GenesysStream):
    """Conversation detail records from ``POST /api/v2/analytics/conversations/details/query``."""

    name = "conversation_details"
    primary_keys: ClassVar[list[str]] = ["conversationId"]
    replication_key = "conversationStart"

    def __init__(self, tap: Any) -> None:
        """The stream, with nothing read yet."""
        super().__init__(tap)
        self._unknown_reported: set[str] = set()
        self._holds: list[datetime] = []  # starts of windows with a gap
        self._gaps: list[str] = []
        self._open = OpenConversations()
        self._children: list[DerivedStream] = []
        self.client_metrics: dict[str, float] = {}

    # -- state -----------------------------------------------------------------------------

    def _load_open(self) -> OpenConversations:
        try:
            return OpenConversations.from_state(self.stream_state.get(OPEN_KEY))
        except OpenConversationsError as exc:
            raise ConfigError("state", f"bookmarks.{self.name}.{OPEN_KEY}: {exc}") from None

    def _write_state(self, bookmark: datetime | None) -> None:
        """Emit a STATE message with ``bookmark`` and the open conversations followed."""
        values: dict[str, Any] = {OPEN_KEY: self._open.to_state() if len(self._open) else None}
        if bookmark is not None:
            values["replication_key"] = self.replication_key
            values["replication_key_value"] = bookmark.astimezone(timezone.utc).isoformat()
        self.write_state(**values)

    # -- records ---------------------------------------------------------------------------

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
        previous = self.stored_bookmark(now)
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
        self._children = selected_children(self)
        client = self.api_client()
        started = time.monotonic()
        try:
            yield from self._follow_open(client, settings, start, now, previous)
            if windows:
                yield from self._read_windows(client, settings, windows, previous)
        except BaseException:
            client.close()  # requests of other workers stop retrying at once
            raise
        finally:
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
        horizon = settings.open_conversation_horizon
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
                yield from self._with_children(record)
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
    ) -> Iterator[dict[str, Any]]:
        # the details query alone, or async jobs for history then the query (extraction_mode)
        reader = make_reader(
            client, settings, windows, base_body=self.base_body(settings), runtime=self.runtime
        )
        progress = Progress(self, client)
        for event in reader.events():
            if isinstance(event, WindowPage):
                for record in event.records:
                    self._observe(record, f"window {event.window}")
                    yield from self._with_children(record)
                progress.records += len(event.records)
            else:
                self._finish_window(event, settings, previous)
            progress.maybe_log(reader.windows_done, reader.windows_total)
        progress.log_summary(reader.windows_done)

    def _with_children(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The record, then the rows of the selected child tables (taken before the SDK
        writes the record: it may drop deselected properties from it in place)."""
        if not self._children:
            yield record
            return
        rows = [(child, child.rows_of(record)) for child in self._children]
        yield record
        for child, child_rows in rows:
            child.write_rows(child_rows)

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


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(
        f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}"
        for name, value in metrics.items()
    )
