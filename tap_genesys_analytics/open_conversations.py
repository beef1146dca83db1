"""Conversations seen open, followed until they end (pure, no I/O).

Web messaging and email conversations stay open for days or weeks. A run re-reads only
``lookback`` before its bookmark, so a conversation that was open when its window was read
would never arrive ended. :class:`OpenConversations` remembers every conversation seen
without ``conversationEnd`` (id and start, in the stream's state); the next run asks for the
ones that fall before its re-read range by id (the multi-get), and forgets a conversation
once it is seen ended — or once it started longer ago than the horizon (abandoned, counted).

State form (compact: ~50 bytes per conversation, thousands stay small)::

    {"2024-05-01": {"<conversationId>": <milliseconds since that UTC midnight>, ...}, ...}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000


class OpenConversationsError(ValueError):
    """The state's ``open_conversations`` is not in the expected form."""


class OpenConversations:
    """Open conversations by id, with their start (whole milliseconds, UTC)."""

    def __init__(self, entries: Mapping[str, datetime] | None = None) -> None:
        """Start from ``entries`` (id -> conversationStart)."""
        self._starts: dict[str, datetime] = dict(entries or {})

    def __len__(self) -> int:
        return len(self._starts)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._starts

    def start_of(self, conversation_id: str) -> datetime | None:
        """The start of a followed conversation (None when it is not followed)."""
        return self._starts.get(conversation_id)

    def follow(self, conversation_id: str, start: datetime) -> None:
        """Follow a conversation seen open (it started at ``start``)."""
        self._starts[conversation_id] = start

    def end(self, conversation_id: str) -> None:
        """Forget a conversation seen ended (a no-op for one not followed)."""
        self._starts.pop(conversation_id, None)

    def due(self, before: datetime) -> list[str]:
        """Ids of followed conversations that started before ``before``, oldest first."""
        return sorted(
            (cid for cid, start in self._starts.items() if start < before),
            key=lambda cid: (self._starts[cid], cid),
        )

    def abandon_started_before(self, cutoff: datetime) -> list[str]:
        """Stop following conversations that started before ``cutoff``; their ids."""
        gone = [cid for cid, start in self._starts.items() if start < cutoff]
        for cid in gone:
            del self._starts[cid]
        return gone

    def forget(self, ids: Iterable[str]) -> None:
        """Stop following ``ids``."""
        for cid in ids:
            self._starts.pop(cid, None)

    # -- state --------------------------------------------------------------------------------

    def to_state(self) -> dict[str, dict[str, int]]:
        """The compact JSON form (see the module docstring), days and ids sorted."""
        days: dict[str, dict[str, int]] = {}
        for cid, when in sorted(self._starts.items(), key=lambda item: (item[1], item[0])):
            start = when.astimezone(timezone.utc)
            midnight = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
            days.setdefault(start.date().isoformat(), {})[cid] = (start - midnight) // _MS
        return days

    @classmethod
    def from_state(cls, value: Any) -> OpenConversations:
        """Parse the compact form; :class:`OpenConversationsError` names what is wrong."""
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise OpenConversationsError(f"must be an object, got {type(value).__name__}")
        entries: dict[str, datetime] = {}
        for day_text, ids in value.items():
            try:
                day = date.fromisoformat(str(day_text))
            except ValueError:
                raise OpenConversationsError(f"{day_text!r} is not a YYYY-MM-DD day") from None
            if not isinstance(ids, Mapping):
                raise OpenConversationsError(f"{day_text}: must be an object of id -> ms")
            midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            for cid, offset in ids.items():
                if isinstance(offset, bool) or not isinstance(offset, int):
                    raise OpenConversationsError(f"{day_text}.{cid}: must be an integer")
                if not 0 <= offset < _DAY_MS:
                    raise OpenConversationsError(f"{day_text}.{cid}: {offset} is not within a day")
                entries[str(cid)] = midnight + offset * _MS
        return cls(entries)
