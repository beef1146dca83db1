"""The tap's streams, one module each (the catalog lists them in this order)."""

from __future__ import annotations

from tap_genesys_analytics.streams.base import GenesysStream
from tap_genesys_analytics.streams.conversation_children import CHILD_STREAMS
from tap_genesys_analytics.streams.conversation_details import ConversationDetailsStream

STREAM_CLASSES: tuple[type[GenesysStream], ...] = (ConversationDetailsStream, *CHILD_STREAMS)

__all__ = ["STREAM_CLASSES", "ConversationDetailsStream", "GenesysStream"]
