"""The tap's streams, one module each (the catalog lists them in this order)."""

from __future__ import annotations

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

__all__ = ["STREAM_CLASSES", "ConversationDetailsStream", "GenesysStream"]
