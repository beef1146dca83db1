"""Agent status history: ``user_presence`` and ``user_routing_status``.

Both come from ``POST /api/v2/analytics/users/details/query``, which pages like the
conversation details query (interval, ``paging``, approximate ``totalHits``) and so is read by
the same :class:`~tap_genesys_analytics.window_reader.WindowReader` on the same windows, budget
and bookmarks. One read feeds both tables: ``user_routing_status`` is written from the
presence stream's read (a :class:`~tap_genesys_analytics.streams.base.DerivedStream`), so
selecting either costs the same requests.

An interval returns every status period that overlaps it, so a period crossing a window edge
comes back in both windows: the window holding its ``startTime`` owns it (one row per
``(userId, startTime)`` per run). A period still open (no ``endTime``) changes when it closes:
the bookmark stays at the start of the oldest open period (no older than
``open_conversation_horizon``), so the next runs read it again until it has closed. The query
is small (one page of 100 users per window for most orgs), so that costs little.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, ClassVar

from typing_extensions import override

from tap_genesys_analytics.details_query import WindowDone, WindowPage, parse_instant
from tap_genesys_analytics.errors import ExtractError
from tap_genesys_analytics.streams.base import (
    DerivedStream,
    GenesysStream,
    Progress,
    selected_children,
)
from tap_genesys_analytics.window_reader import WindowReader
from tap_genesys_analytics.windows import (
    MAX_INTERVAL,
    Window,
    plan_windows,
    resume_point,
    safe_bookmark,
    to_millis,
)

USER_QUERY_PATH = "/api/v2/analytics/users/details/query"
PERMISSION = "analytics:userDetail:view"


class UserDetailsPages:
    """The user details query: a window keeps each user once (periods are cut later)."""

    path = USER_QUERY_PATH
    items_key = "userDetails"
    permission = PERMISSION

    def owned(
        self, window: Window, page: int, items: list[Any], seen: set[str]
    ) -> list[dict[str, Any]]:
        """Users of the page not seen before in this window."""
        users = []
        for item in items:
            user_id = item.get("userId") if isinstance(item, dict) else None
            if not isinstance(user_id, str):
                raise ExtractError(f"window {window} page {page}: a user detail without userId")
            if user_id not in seen:
                seen.add(user_id)
                users.append(item)
        return users


USER_DETAILS = UserDetailsPages()


def periods(
    user: dict[str, Any], key: str, window: Window, where: str
) -> Iterator[tuple[dict[str, Any], datetime]]:
    """The user's periods in list ``key`` that start in ``window``, as rows with their start."""
    for period in user.get(key) or ():
        if not isinstance(period, dict):
            raise ExtractError(f"{where}: a {key} period is not an object")
        try:
            started = parse_instant(period["startTime"])
        except (KeyError, ValueError):
            raise ExtractError(f"{where}: a {key} period without an ISO-8601 startTime") from None
        if window.owns(started):
            yield {"userId": user["userId"], **period}, started


class UserPresenceStream(GenesysStream):
    """Presence periods (AVAILABLE, AWAY, ON_QUEUE, ...) of every user."""

    name = "user_presence"
    primary_keys: ClassVar[list[str]] = ["userId", "startTime"]
    replication_key = "startTime"
    periods_key = "primaryPresence"

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Presence periods of every window in order; routing periods to the child; STATE."""
        settings, runtime = self.settings, self.runtime
        now = to_millis(runtime.now())
        previous = self.stored_bookmark(now)
        start = resume_point(settings.start_date, previous, settings.lookback)
        end = to_millis(settings.end_date or now - settings.settle_lag)
        if start >= end:
            return
        windows = plan_windows(start, end, settings.window_size, MAX_INTERVAL)
        children = [c for c in selected_children(self) if isinstance(c, UserRoutingStatusStream)]
        client = self.api_client()
        reader = WindowReader(
            client,
            windows,
            page_size=settings.page_size,
            base_body={"order": "asc"},
            workers=settings.max_concurrency,
            empty_page_retries=runtime.empty_page_retries,
            empty_page_delay_s=runtime.empty_page_delay_s,
            query=USER_DETAILS,
        )
        horizon = now - settings.open_conversation_horizon
        open_starts: list[datetime] = []  # periods still open, in this run
        progress = Progress(self, client)
        try:
            for event in reader.events():
                if isinstance(event, WindowPage):
                    for user in event.records:
                        where = f"window {event.window} user {user['userId']}"
                        for row, started in periods(user, self.periods_key, event.window, where):
                            if "endTime" not in row and started >= horizon:
                                open_starts.append(started)
                            progress.records += 1
                            yield row
                        for child in children:
                            rows = list(periods(user, child.periods_key, event.window, where))
                            open_starts += [
                                s for r, s in rows if "endTime" not in r and s >= horizon
                            ]
                            child.write_rows(r for r, _ in rows)
                else:
                    self._finish_window(event, open_starts, previous)
                progress.maybe_log(reader.windows_done, reader.windows_total)
        except BaseException:
            client.close()
            raise
        progress.log_summary(reader.windows_done)

    def _finish_window(
        self, done: WindowDone, open_starts: list[datetime], previous: datetime | None
    ) -> None:
        if done.empty_pages:
            open_starts.append(done.window.start)  # read it again: records may be missing
            self.logger.warning(
                "Window %s: pages %s stayed empty although more users were announced; the "
                "bookmark stays at the window's start",
                done.window,
                list(done.empty_pages),
            )
        window_end = done.window.end if previous is None else max(done.window.end, previous)
        now, lag = self.runtime.now(), self.settings.settle_lag
        bookmark = safe_bookmark(window_end, open_starts, now, lag)
        self.logger.info(
            "Window %s done: %d users, %d requests; bookmark %s (open periods since %s)",
            done.window,
            done.records,
            done.requests,
            bookmark.isoformat(),
            min(open_starts).isoformat() if open_starts else "none",
        )
        self.write_state(
            replication_key=self.replication_key,
            replication_key_value=bookmark.astimezone(timezone.utc).isoformat(),
        )


class UserRoutingStatusStream(DerivedStream):
    """Routing status periods (OFF_QUEUE, IDLE, INTERACTING, ...), written from the presence
    stream's read."""

    name = "user_routing_status"
    primary_keys: ClassVar[list[str]] = ["userId", "startTime"]
    replication_key = "startTime"
    periods_key = "routingStatus"
    parent_stream_type = UserPresenceStream


USER_STATUS_STREAMS: tuple[type[GenesysStream], ...] = (
    UserPresenceStream,
    UserRoutingStatusStream,
)
