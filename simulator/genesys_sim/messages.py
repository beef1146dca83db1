"""A request and its answer as the application sees them (no sockets: ``server.py`` reads the
request off the wire and writes the ``Response``), and the one compact JSON encoder."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def to_json(obj: Any) -> bytes:
    """Compact JSON bytes (the API's own spacing)."""
    return _encode(obj).encode()


@dataclass
class Request:
    """One API request once routed (``routes.match``)."""

    method: str
    target: str  # path and query string as sent
    path: str  # without the query string and the trailing slash
    headers: Mapping[str, str]
    body: bytes
    groups: tuple[str, ...] = ()  # the route pattern's groups (a job id, a conversation id)
    client: str = ""  # OAuth client id of the bearer token, once admitted


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    action: str | None = None  # "reset": drop the connection; "close": close without answering
    #: body streamed from this iterator instead of ``body`` (``length`` bytes, or chunked)
    stream: Iterator[bytes] | None = None
    length: int = 0
    chunked: bool = False
    trickle_s: float = 0.0  # > 0: one body byte per trickle_s seconds
