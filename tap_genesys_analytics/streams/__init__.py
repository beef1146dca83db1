"""The tap's streams, one module each (the catalog lists them in this order)."""

from __future__ import annotations

import typing as t

from tap_genesys_analytics.streams.base import GenesysStream
from tap_genesys_analytics.streams.conversation_children import CHILD_STREAMS
from tap_genesys_analytics.streams.conversation_details import ConversationDetailsStream
from tap_genesys_analytics.streams.reference import REFERENCE_STREAMS
from tap_genesys_analytics.streams.user_status import USER_STATUS_STREAMS

STREAM_CLASSES: tuple[type[GenesysStream], ...] = (
    ConversationDetailsStream,
    *CHILD_STREAMS,
    *USER_STATUS_STREAMS,
    *REFERENCE_STREAMS,
)
_CLASSES = t.cast("tuple[t.Any, ...]", STREAM_CLASSES)  # name, replication_key: class attributes
STREAM_NAMES: tuple[str, ...] = tuple(c.name for c in _CLASSES)
#: streams whose bookmark is a date-time (checked in a state file)
INCREMENTAL: frozenset[str] = frozenset(c.name for c in _CLASSES if c.replication_key)

__all__ = [
    "INCREMENTAL",
    "STREAM_CLASSES",
    "STREAM_NAMES",
    "ConversationDetailsStream",
    "GenesysStream",
]
