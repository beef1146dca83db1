"""Real-API harshness the other modules switch on: a live index that shifts under a pager
(``shift``), oversized streamed bodies (``oversize``) and a token endpoint that echoes the
client's credentials (``echo_auth``). docs/simulator.md "Faults" describes each kind."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from genesys_sim.data import Row

MB = 1 << 20
_CHUNK = 64 * 1024
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def shift_rows(rows: list[Row], shift: int, shifted: bool) -> list[Row]:
    """The index of one query as a pager sees it under the ``shift`` fault.

    ``shift > 0``: the first ``shift`` rows are not indexed yet until the shift happens, then
    they appear at the front (a late-indexed early conversation): later pages start ``shift``
    rows later. ``shift < 0``: once shifted, the first ``-shift`` rows move to the end (an early
    row re-indexed later): later pages start ``-shift`` rows earlier.
    """
    n = abs(shift)
    if shift > 0:
        return rows if shifted else rows[n:]
    return rows[n:] + rows[:n] if shifted else rows


def oversize_body(body: bytes, size_mb: float) -> tuple[Iterator[bytes], int] | None:
    """A valid JSON body of about ``size_mb`` MB: the page's ``conversations`` followed by copies
    of its first record, generated chunk by chunk (never built in memory). Returns the chunk
    iterator and the exact length, or None when the response carries no conversation."""
    try:
        obj: Any = json.loads(body)
    except ValueError:
        return None
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if not convs:
        return None
    rest = {k: v for k, v in obj.items() if k != "conversations"}
    head = b'{"conversations":[' + b",".join(_encode(c).encode() for c in convs)
    filler = b"," + _encode(convs[0]).encode()
    tail = b"]" + (b"," + _encode(rest).encode()[1:-1] if rest else b"") + b"}"
    copies = max(0, -(-(int(size_mb * MB) - len(head) - len(tail)) // len(filler)))

    def chunks() -> Iterator[bytes]:
        yield head
        batch = max(1, _CHUNK // len(filler))
        left = copies
        while left > 0:
            step = min(batch, left)
            yield filler * step
            left -= step
        yield tail

    return chunks(), len(head) + copies * len(filler) + len(tail)


_ECHO_FILLER = (
    "The client credentials presented to the token endpoint could not be verified against the "
    "registered OAuth clients of this organization. Check that the client id and secret belong "
    "to a Client Credentials grant of the same region, that the secret has not been rotated and "
    "that the Authorization header is encoded as HTTP Basic base64(client_id:client_secret). "
)


def echo_auth_body(headers: Mapping[str, str], form: bytes, status: int) -> tuple[bytes, str]:
    """(body, content type) of a token-endpoint error that echoes the caller's credentials.

    400/401: OAuth JSON ``{"error", "description"}``; 500: a plain-text (non-JSON) page. The
    text holds the ``Authorization`` header value, the decoded ``id:secret`` (and form
    credentials, if any) at its start and again after more than 400 characters.
    """
    auth = headers.get("Authorization") or ""
    decoded = ""
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
    fields = {k: v[0] for k, v in parse_qs(form.decode("utf-8", "replace")).items()}
    if fields.get("client_id") or fields.get("client_secret"):
        decoded += f" form {fields.get('client_id', '')}:{fields.get('client_secret', '')}"
    echo = f"Authorization: {auth} (client credentials {decoded})"
    text = f"Client authentication failed. {echo}. {_ECHO_FILLER}Request was: {echo}."
    if status == 500:
        page = f"Internal Server Error\n\nUnhandled exception in token service: {text}\n"
        return page.encode(), "text/plain"
    error = "invalid_request" if status == 400 else "invalid_client"
    return _encode({"error": error, "description": text}).encode(), "application/json"
