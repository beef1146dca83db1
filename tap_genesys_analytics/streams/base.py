"""What every stream of the tap shares: settings, clock, the run's one API client, state.

A stream is a small declaration on top of :class:`GenesysStream` (name, keys, schema file and
how its records are read): every stream of a run shares one :class:`GenesysClient` — one
token, one rate budget, one HTTP policy and redactor — kept on the tap and closed when a
stream fails. The SDK's per-record bookmark machinery is off for all of them: a stream writes
its STATE itself, when the data it covers has been emitted.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_genesys_analytics.auth import TokenProvider
from tap_genesys_analytics.client import GenesysClient
from tap_genesys_analytics.errors import ConfigError, StoppedError
from tap_genesys_analytics.http import Redactor, make_session
from tap_genesys_analytics.parsers import format_duration, parse_datetime, to_utc
from tap_genesys_analytics.runtime import Runtime
from tap_genesys_analytics.schemas import load_schema
from tap_genesys_analytics.settings import Settings, validate_settings
from tap_genesys_analytics.windows import to_millis

_CLIENT_ATTRIBUTE = "_genesys_api_client"


def build_client(settings: Settings, runtime: Runtime) -> GenesysClient:
    """One client (session, token provider, rate budget, redactor) for a whole run."""
    session = make_session(settings.max_concurrency + 1)
    redactor = Redactor(settings.client_id, settings.client_secret)
    closed = threading.Event()  # set by client.close(): token backoffs end too

    def token_wait(seconds: float) -> None:
        if closed.wait(seconds):
            raise StoppedError("token request: not retried, the run is stopping")

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
        sleep=token_wait,
    )
    return GenesysClient(
        settings,
        tokens,
        session=session,
        redactor=redactor,
        backoff_base_s=runtime.backoff_base_s,
        backoff_cap_s=runtime.backoff_cap_s,
        retry_after_fallback_s=runtime.retry_after_fallback_s,
        closed=closed,
    )


class GenesysStream(Stream):
    """Base of the tap's streams (records are the API's JSON, already typed)."""

    #: Records are the API's JSON, typed as the schema says. Measured on conversation records
    #: (4.6 KB): NONE 0.4 us, ROOT_ONLY 11 us, RECURSIVE 320 us per record, against ~17 us to
    #: decode and ~13 us to encode one; conformance would change nothing for that cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    #: The SDK would re-send the current state every N records; ours changes when we say so.
    STATE_MSG_FREQUENCY = sys.maxsize
    #: the schema file under ``schemas/`` (default: the stream's name)
    schema_name: str | None = None

    def __init__(self, tap: Any) -> None:
        """The stream with its generated schema (a private copy: the SDK may annotate it)."""
        super().__init__(tap, schema=self.stream_schema())

    def stream_schema(self) -> dict[str, Any]:
        """The stream's JSON schema: ``schemas/<schema_name or name>.json`` (called before
        the SDK's ``__init__``: only class attributes are there yet)."""
        return copy.deepcopy(load_schema(self.schema_name or self.name))

    # -- SDK state machinery: off ----------------------------------------------------------

    @override
    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """No per-record bookmark: a stream moves its bookmark when the data is emitted.

        A private SDK name (no public hook turns per-record bookmarks off);
        tests/test_stream_sim.py pins that records never move the bookmark.
        """

    @override
    def get_replication_key_signpost(self, context: Any = None) -> None:
        """No signpost: bookmarks are computed by the streams alone."""
        return

    @property
    @override
    def partitions(self) -> list[dict] | None:
        """Unpartitioned (partitions left in an old state file are not replayed)."""
        return None

    @override
    def generate_child_contexts(self, record: Any, context: Any) -> Iterable[Any]:
        """No SDK child syncs: it would sync each child once per record (a SCHEMA message
        and a sync each time); derived tables are written by the parent's read instead."""
        return ()

    # -- settings, clock, client -----------------------------------------------------------

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

    def api_client(self) -> GenesysClient:
        """The run's one API client, shared by every stream (made on first use)."""
        client = getattr(self._tap, _CLIENT_ATTRIBUTE, None)
        if not isinstance(client, GenesysClient) or client.closed:
            client = build_client(self.settings, self.runtime)
            setattr(self._tap, _CLIENT_ATTRIBUTE, client)
        return client

    def stored_bookmark(self, now: datetime) -> datetime | None:
        """The bookmark of the previous run's STATE (None when there is none).

        A bookmark later than ``now`` is a config error: it would read nothing, forever.
        """
        state = self.stream_state
        value = state.get("replication_key_value")
        if not value or state.get("replication_key", self.replication_key) != self.replication_key:
            return None
        # plain datetime: pendulum DateTime(+00:00) - timedelta loses its tzinfo
        bookmark = to_millis(to_utc(parse_datetime(str(value), "state")))
        if bookmark > now:
            raise ConfigError(
                "state",
                f"the {self.name} bookmark {bookmark.isoformat()} is later than now "
                f"({now.isoformat()}); fix or delete the state (a bookmark in the future would "
                "read nothing, forever)",
            )
        return bookmark

    def write_state(self, **values: Any) -> None:
        """Emit a STATE message with ``values`` set (a value of None removes the key)."""
        state = self.stream_state
        for key, value in values.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self._finalize_state(state)  # drops SDK markers (starting value) and marks it unflushed
        self._write_state_message()  # the SDK's StateWriter skips a STATE identical to the last


class DerivedStream(GenesysStream):
    """A table written from another stream's read (no request, no sync of its own).

    Declared with ``parent_stream_type`` so that the catalog lists it and the SDK syncs the
    parent when only the child is selected (without writing the parent's records). The parent
    calls :meth:`start` before its first record and :meth:`write_rows` with the rows
    (:meth:`rows_of`) of each record it reads, before the STATE that covers them.

    ``_write_schema_message`` and ``_write_record_message`` are private SDK names: no public
    hook writes a stream's messages from another stream's read (the SDK's own child syncs would
    run one sync per parent record). tests/test_children.py pins the message order (SCHEMA,
    parent RECORD, child RECORDs, STATE).
    """

    #: no state partition per parent record: the parent's bookmark is the child's
    state_partitioning_keys: ClassVar[list[str]] = []

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Nothing of its own: rows arrive through :meth:`write_rows`."""
        return ()

    def rows_of(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """This table's rows of one parent record (copies: the record stays intact)."""
        raise NotImplementedError

    def start(self) -> None:
        """Write this table's SCHEMA before its first row."""
        self._write_schema_message()

    def write_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write RECORD messages for ``rows`` (stream maps and selection applied)."""
        for row in rows:
            self._write_record_message(row)


def selected_children(stream: GenesysStream) -> list[DerivedStream]:
    """The stream's selected derived tables, their SCHEMA written (call once per read)."""
    children = [c for c in stream.child_streams if c.selected and isinstance(c, DerivedStream)]
    for child in children:
        child.start()
    return children


class Progress:
    """A progress line at least every ``every_s`` seconds of long work, and a summary."""

    def __init__(self, stream: GenesysStream, client: GenesysClient) -> None:
        self.stream = stream
        self.client = client
        self.started = time.monotonic()
        self.every_s = stream.runtime.progress_every_s
        self.records = 0
        self._last = self.started

    def maybe_log(self, done: int, total: int) -> None:
        """Log a line when ``every_s`` has passed since the last one."""
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        requests = self.client.metrics.requests_sent
        eta = elapsed / done * (total - done) if done else None
        self.stream.logger.info(
            "Progress: %d/%d windows, %d records, %d requests (%.1f/s), ETA %s",
            done,
            total,
            self.records,
            requests,
            requests / elapsed if elapsed else 0.0,
            format_duration(timedelta(seconds=round(eta))) if eta is not None else "unknown",
        )

    def log_summary(self, windows: int) -> None:
        """The stream's last line: records, windows, requests and wall time."""
        self.stream.logger.info(
            "Summary: %d records in %d window(s), %d requests in all, %s",
            self.records,
            windows,
            self.client.metrics.requests_sent,
            format_duration(timedelta(seconds=round(time.monotonic() - self.started))),
        )
