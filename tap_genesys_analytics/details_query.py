"""What the readers of the details-query family share: the query's description, its events,
and the API's timestamps.

A :class:`DetailsQuery` says where a family of the analytics details query is POSTed and which
items of a page a window keeps; :data:`CONVERSATIONS` is the conversation details query's (the
user details query's is in streams/user_status.py). Readers — the concurrent query reader
(window_reader.py) and the async-jobs reader (job_windows.py) — yield :class:`WindowPage` and
:class:`WindowDone` events, in window order. :func:`parse_instant` reads the API's timestamps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from tap_genesys_analytics.errors import ExtractError
from tap_genesys_analytics.windows import Window, to_millis

logger = logging.getLogger("tap_genesys_analytics.details_query")


class QueryClient(Protocol):
    """What the reader needs from :class:`~tap_genesys_analytics.client.GenesysClient`."""

    def post_query(
        self,
        body: dict[str, Any],
        *,
        what: str,
        on_send: Callable[[], None] | None = None,
        path: str = ...,
        permission: str = ...,
    ) -> dict[str, Any]: ...


class DetailsQuery(Protocol):
    """One family of analytics details query: where it is POSTed and how its pages read.

    The conversation details query and the user details query page alike (interval,
    ``paging``, ``totalHits``); they differ in path, in the key holding the page's items and in
    which items a window keeps (:meth:`owned`).
    """

    path: str
    items_key: str
    permission: str

    def owned(
        self, window: Window, page: int, items: list[Any], seen: set[str]
    ) -> list[dict[str, Any]]:
        """The items of a page this window emits (each once: ``seen`` is the window's ids).

        Raises :class:`ExtractError` (naming window and page) for an item of the wrong shape.
        """
        ...


def parse_instant(value: str) -> datetime:
    """Parse an API timestamp (``2024-05-01T10:00:00.123Z``) into an aware UTC datetime,
    floored to the millisecond (the precision of windows and bookmarks).

    Raises ``ValueError`` for anything that is not an ISO-8601 date-time string. (Per record:
    the common case — UTC, whole milliseconds — takes no conversion.)
    """
    if not isinstance(value, str):
        raise ValueError(f"not a date-time string: {value!r}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    elif parsed.utcoffset():
        parsed = parsed.astimezone(timezone.utc)
    return to_millis(parsed) if parsed.microsecond % 1000 else parsed


@dataclass
class WindowPage:
    """Records of one page that this window owns and has not emitted yet (in page order)."""

    window: Window
    records: list[dict[str, Any]]


@dataclass
class WindowDone:
    """Every record of ``window`` has been yielded."""

    window: Window
    records: int
    pages: int
    requests: int
    elapsed_s: float
    total_hits: int | None
    windows_done: int
    windows_total: int
    #: pages that stayed empty (after their retries) although totalHits announced more
    empty_pages: tuple[int, ...] = ()
    #: a later page held records: the empty pages certainly lost records (else totalHits may
    #: just have over-counted the window's end)
    gap_confirmed: bool = False


class ConversationPages:
    """The conversation details query: a window owns the conversations starting in it."""

    path = "/api/v2/analytics/conversations/details/query"
    items_key = "conversations"
    permission = "analytics:conversationDetail:view"

    def owned(
        self, window: Window, page: int, conversations: list[Any], seen: set[str]
    ) -> list[dict[str, Any]]:
        """Conversations starting inside the window, each once."""
        owned = []
        for record in conversations:
            if not isinstance(record, dict):
                raise ExtractError(
                    f"window {window} page {page}: a conversation is a "
                    f"{type(record).__name__}, not an object"
                )
            conversation_id = record.get("conversationId")
            start = record.get("conversationStart")
            if not conversation_id or not start:
                logger.warning(
                    "window %s: dropped a conversation without conversationId or "
                    "conversationStart (keys: %s)",
                    window,
                    ", ".join(sorted(record)[:10]),
                )
                continue
            if conversation_id in seen:
                continue
            try:
                started = parse_instant(start)
            except ValueError:
                raise ExtractError(
                    f"window {window} page {page}: conversation {conversation_id} has "
                    f"conversationStart {str(start)[:40]!r}, not an ISO-8601 date-time"
                ) from None
            if window.owns(started):
                seen.add(conversation_id)
                owned.append(record)
        return owned


CONVERSATIONS = ConversationPages()
