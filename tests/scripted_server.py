"""A small scripted HTTP server on 127.0.0.1 for client-policy tests.

Each request to the query path takes the next scripted :class:`Reply` (the last one repeats).
A reply is a status/headers/body, or a fault: ``reset`` (close without answering), ``hang``
(answer after ``delay_s`` of real time: it exercises the client's socket deadline),
``truncate`` (promise more bytes than sent).

Time is injected: ``clock`` stamps each request (:attr:`Seen.at`) and ``sleep`` waits a reply's
``delay_s`` (a :class:`~tests.virtual_time.VirtualTime` makes both virtual, so tests assert
exact instants and sleep for nothing).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"conversations": [], "totalHits": 0})
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None  # "reset" | "hang" | "truncate" | "html"
    delay_s: float = 0.0  # waited with the server's sleep before answering ("hang": real time)


@dataclass
class Seen:
    """One request the server received."""

    at: float  # the server's clock when the request arrived
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedServer:
    """Threaded loopback server answering from a script; records every request."""

    #: how often serve_forever checks for shutdown (each test's teardown waits up to this)
    POLL_INTERVAL_S = 0.01

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.script: list[Reply] = [Reply()]
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no delayed-ACK stall between kept-alive requests

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                reply = server._next(self, raw)
                try:
                    server._answer(self, reply)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(self.POLL_INTERVAL_S,), daemon=True
        )

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def set_script(self, *replies: Reply) -> None:
        with self._lock:
            self.script = list(replies)

    def _next(self, handler: BaseHTTPRequestHandler, raw: bytes) -> Reply:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        with self._lock:
            self.seen.append(Seen(self.clock(), dict(handler.headers.items()), body))
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay_s:
            (time.sleep if reply.fault == "hang" else self.sleep)(reply.delay_s)
        if reply.fault == "reset":
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            handler.connection.close()
            handler.close_connection = True
            return
        if reply.fault == "html":
            payload = b"<html><body>502 Bad Gateway</body></html>"
            content_type = "text/html"
        else:
            payload = json.dumps(reply.body).encode()
            content_type = "application/json"
        handler.send_response(reply.status)
        handler.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.fault == "truncate":
            handler.send_header("Content-Length", str(len(payload) + 500))
            handler.end_headers()
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
