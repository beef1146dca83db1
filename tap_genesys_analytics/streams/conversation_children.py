"""Normalized conversation tables, derived from the conversation details records.

``conversation_participants``, ``conversation_sessions``, ``conversation_segments`` and
``conversation_session_metrics`` cost no request: the ``conversation_details`` stream hands
each record it reads to its selected children, which write their rows right after the parent
record and before the window's STATE (so they follow the parent's bookmark). Selecting a child
alone reads the details query but writes no ``conversation_details`` record (the SDK syncs a
deselected parent that has selected children without writing its records).

Every row carries ``conversationId`` and ``conversationStart``; keys are stable across re-reads
of a conversation (a segment is known by its session, start and type; a metric by its session,
name and emit date), so a later read that adds a wrap-up segment upserts instead of
duplicating. The schemas are the parent's (generated from the official SDK models) cut at the
child's level: one source of truth for field names and types.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, ClassVar

from typing_extensions import override

from tap_genesys_analytics.schemas import load_schema
from tap_genesys_analytics.streams.base import DerivedStream
from tap_genesys_analytics.streams.conversation_details import ConversationDetailsStream

_PARENT_FIELDS = ("conversationId", "conversationStart")


class ConversationChildStream(DerivedStream):
    """Rows found at ``level`` inside each conversation (participants, sessions, ...)."""

    parent_stream_type = ConversationDetailsStream
    replication_key = "conversationStart"
    #: path of list fields from the conversation down to this table's rows
    level: ClassVar[tuple[str, ...]] = ()
    #: nested lists that have tables of their own (dropped from this table's rows)
    nested: ClassVar[tuple[str, ...]] = ()

    @override
    def stream_schema(self) -> dict[str, Any]:
        """The parent's schema cut at ``level`` (minus ``nested``), with the ids."""
        parent = load_schema(ConversationDetailsStream.name)
        node = parent
        ids: dict[str, Any] = {f: parent["properties"][f] for f in _PARENT_FIELDS}
        for name in self.level:
            node = node["properties"][name]["items"]
            for id_field in ("participantId", "sessionId"):
                if id_field in node["properties"] and id_field not in ids:
                    ids[id_field] = node["properties"][id_field]
        properties = {
            **copy.deepcopy(ids),
            **{k: copy.deepcopy(v) for k, v in node["properties"].items() if k not in self.nested},
        }
        for key in self.primary_keys:
            properties[key] = {**properties[key], "type": _not_null(properties[key]["type"])}
        return {"type": "object", "properties": properties, "required": list(self.primary_keys)}

    @override
    def rows_of(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """This table's rows of one conversation (copies: the parent record stays intact)."""
        conversation = record
        base = {f: conversation[f] for f in _PARENT_FIELDS if f in conversation}
        return [
            {**ids, **{k: v for k, v in item.items() if k not in self.nested}}
            for ids, item in _walk(conversation, self.level, base)
        ]


def _walk(
    node: dict[str, Any], level: tuple[str, ...], ids: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    if not level:
        yield ids, node
        return
    for item in node.get(level[0]) or ():
        if not isinstance(item, dict):
            continue
        item_ids = dict(ids)
        for id_field in ("participantId", "sessionId"):
            if id_field in item and id_field not in item_ids:
                item_ids[id_field] = item[id_field]
        yield from _walk(item, level[1:], item_ids)


def _not_null(types: Any) -> Any:
    if isinstance(types, list):
        return [t for t in types if t != "null"] or types
    return types


class ConversationParticipantsStream(ConversationChildStream):
    """One row per participant of a conversation."""

    name = "conversation_participants"
    primary_keys: ClassVar[list[str]] = ["conversationId", "participantId"]
    level = ("participants",)
    nested = ("sessions",)


class ConversationSessionsStream(ConversationChildStream):
    """One row per session of a participant."""

    name = "conversation_sessions"
    primary_keys: ClassVar[list[str]] = ["conversationId", "participantId", "sessionId"]
    level = ("participants", "sessions")
    nested = ("segments", "metrics")


class ConversationSegmentsStream(ConversationChildStream):
    """One row per segment of a session (alert, interact, hold, wrapup, ...)."""

    name = "conversation_segments"
    primary_keys: ClassVar[list[str]] = [
        "conversationId",
        "participantId",
        "sessionId",
        "segmentStart",
        "segmentType",
    ]
    level = ("participants", "sessions", "segments")


class ConversationSessionMetricsStream(ConversationChildStream):
    """One row per metric of a session (tHandle, tTalk, nConnected, ...)."""

    name = "conversation_session_metrics"
    primary_keys: ClassVar[list[str]] = [
        "conversationId",
        "participantId",
        "sessionId",
        "name",
        "emitDate",
    ]
    level = ("participants", "sessions", "metrics")


CHILD_STREAMS: tuple[type[ConversationChildStream], ...] = (
    ConversationParticipantsStream,
    ConversationSessionsStream,
    ConversationSegmentsStream,
    ConversationSessionMetricsStream,
)
