"""Conversations by id (docs/genesys-api.md §1.6).

``GET .../conversations/details?id=a,b,c`` (multi-get) and
``GET .../conversations/{conversationId}/details``. The id index and the id list parsing;
``pages.py`` renders the records exactly as the details query does at the current clock."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

from genesys_sim.data import DataSet, Row, day_of, to_ms
from genesys_sim.errors import bad_request

MULTIGET_PATH = "/api/v2/analytics/conversations/details"
ONE_TEMPLATE = "/api/v2/analytics/conversations/{conversationId}/details"
ONE_RE = re.compile(r"^/api/v2/analytics/conversations/([^/]+)/details$")


def parse_ids(target: str, max_ids: int) -> list[str]:
    """The ``id`` query parameter (comma-separated, repeatable), de-duplicated in order.

    Missing → 400; more than ``max_ids`` distinct ids → 400 naming the limit.
    """
    values = parse_qs(urlsplit(target).query).get("id", [])
    ids = list(dict.fromkeys(i.strip() for v in values for i in v.split(",") if i.strip()))
    if not ids:
        raise bad_request(
            "The id query parameter (comma-separated conversation ids) is required.",
            "bad.request",
            "id",
        )
    if len(ids) > max_ids:
        raise bad_request(
            f"Too many conversation ids: {len(ids)} given, at most {max_ids} ids per request.",
            "bad.request",
            "id",
        )
    return ids


class ConversationIndex:
    """conversationId → skeleton row over every day from data_start up to the clock.

    Days are indexed once, when a lookup first needs them (a 120,000-conversation day costs its
    skeleton generation, about a second)."""

    def __init__(self, data: DataSet) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {}
        self._next_day: date = day_of(to_ms(data.config.start_dt))

    def _index_until(self, now_ms: int) -> None:
        end = self.data.config.end_dt
        last_ms = now_ms if end is None else min(now_ms, to_ms(end) - 1)
        last = day_of(last_ms)
        while self._next_day <= last:
            for row in self.data.day(self._next_day):
                self._rows[row.conversation_id] = row
            self._next_day += timedelta(days=1)

    def lookup(self, ids: list[str], now_ms: int) -> list[Row]:
        """Rows of the ids that exist at ``now_ms`` (started, within the data range), in the
        order asked; unknown ids are left out."""
        with self._lock:
            self._index_until(now_ms)
            rows = [self._rows.get(i) for i in ids]
        return [
            r for r in rows if r is not None and r.start <= now_ms and self.data.in_range(r.start)
        ]
