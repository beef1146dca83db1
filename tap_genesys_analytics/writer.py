"""Singer message writer: the SDK's msgspec encoder, with fewer, larger writes to stdout.

The SDK's ``MsgSpecWriter`` writes and flushes every message, one system call per RECORD (and,
with page fetching running in worker threads, one GIL hand-off each). This writer collects
RECORD lines and writes them in blocks of :data:`FLUSH_BYTES`; every other message (SCHEMA,
STATE, ...) first writes out all records before it and is flushed at once, so a STATE never
reaches the target before the records it covers, and nothing waits in the buffer at a
bookmark. Records still buffered when the process exits are written by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding import SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message

#: RECORD bytes collected before one write (about 55 conversation records).
FLUSH_BYTES = 256 * 1024


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec-encoded Singer messages; RECORD lines written in blocks, others flushed at once."""

    def __init__(self) -> None:
        """An empty buffer, written out at exit if anything is left in it."""
        super().__init__()
        self._buffer = bytearray()
        self._lock = threading.Lock()
        atexit.register(self._flush_at_exit)

    def write_message(self, message: Message) -> None:
        """Buffer a RECORD line; write everything out before any other message."""
        with self._lock:
            self._buffer += self.format_message(message)
            if message.type is SingerMessageType.RECORD and len(self._buffer) < FLUSH_BYTES:
                return
            self._write_out()

    def flush(self) -> None:
        """Write out buffered lines now."""
        with self._lock:
            self._write_out()

    def _flush_at_exit(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # stdout closed: the reader is gone
            self.flush()

    def _write_out(self) -> None:
        if self._buffer:
            sys.stdout.buffer.write(self._buffer)
            self._buffer.clear()
        sys.stdout.flush()
