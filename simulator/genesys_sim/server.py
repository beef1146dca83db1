"""HTTP/1.1 keep-alive server on loopback and the ``SimServer`` context manager."""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from genesys_sim.api import SimApp
from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig, parse_time
from genesys_sim.data import to_ms
from genesys_sim.errors import correlation_id, error_body
from genesys_sim.faults import FaultInjector
from genesys_sim.jobs import JobStore
from genesys_sim.messages import Response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "genesys-sim"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self) -> None:
        app: SimApp = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        resp = app.handle(self.command, self.path, self.headers, body)  # type: ignore[arg-type]
        if resp.action == "reset":
            # RST instead of FIN: the client sees "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if resp.action == "close":
            self.close_connection = True
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.body or resp.stream is not None or resp.status != 204:
            self.send_header("Content-Type", resp.content_type + "; charset=UTF-8")
        if resp.stream is not None and resp.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            length = resp.length if resp.stream is not None else len(resp.body)
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if resp.trickle_s > 0:
            self._trickle(app, resp)
        elif resp.stream is not None:
            try:
                for chunk in _framed(resp):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                app.stats.stream_end("oversize", "client_closed")
                raise
            app.stats.stream_end("oversize", "complete")
        elif resp.body:
            self.wfile.write(resp.body)

    def _trickle(self, app: SimApp, resp: Response) -> None:
        """One body byte per ``trickle_s``; stop when the client disconnects or after
        ``max_hang_s`` (then the connection is closed with the body incomplete)."""
        deadline = time.monotonic() + app.config.max_hang_s
        sock = self.connection
        how = "complete"
        try:
            for chunk in _framed(resp):
                for i in range(len(chunk)):
                    if time.monotonic() >= deadline:
                        how = "max_hang"
                        return
                    self.wfile.write(chunk[i : i + 1])
                    if _peer_closed(sock, resp.trickle_s):
                        how = "client_closed"
                        return
        except (BrokenPipeError, ConnectionResetError):
            how = "client_closed"
        finally:
            app.stats.stream_end("trickle", how)
            if how != "complete":
                self.close_connection = True

    def _safe(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a simulator bug must surface as a 500, not a dead socket
            sys.stderr.write(
                f"genesys-sim: internal error on {self.command} {self.path}: {exc!r}\n"
            )
            body = json.dumps(
                error_body(500, "internal.server.error", "Simulator error.", correlation_id())
            ).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _safe


def _framed(resp: Response) -> Iterator[bytes]:
    """The body bytes as sent: the stream (chunk-framed when chunked) or ``resp.body``."""
    if resp.stream is None:
        yield resp.body
        return
    for chunk in resp.stream:
        if chunk:
            yield b"%x\r\n%b\r\n" % (len(chunk), chunk) if resp.chunked else chunk
    if resp.chunked:
        yield b"0\r\n\r\n"


def _peer_closed(sock: socket.socket, wait_s: float) -> bool:
    """Wait ``wait_s``; True as soon as the client has closed its side of the connection."""
    end = time.monotonic() + wait_s
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return False
        try:
            if not sock.recv(1, socket.MSG_PEEK):
                return True
        except OSError:
            return True
        time.sleep(left)  # the client sent more (a pipelined request): just wait
    return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128


class SimServer:
    """A running simulator: ``with SimServer(SimConfig(...)) as sim: sim.base_url``."""

    def __init__(self, config: SimConfig | None = None, **kwargs: Any) -> None:
        self.config = config or SimConfig(**kwargs)
        self.app = SimApp(self.config)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> SimServer:
        if self._httpd is None:
            self._httpd = _HTTPServer((self.config.host, self.config.port), _Handler)
            self._httpd.app = self.app  # type: ignore[attr-defined]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="genesys-sim",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            self.app.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addressing
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scenario API
    @property
    def clock(self) -> SimClock:
        return self.app.clock

    @property
    def faults(self) -> FaultInjector:
        return self.app.faults

    @property
    def jobs(self) -> JobStore:
        return self.app.jobs

    @property
    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def revoke_tokens(self) -> int:
        return self.app.tokens.revoke_all()

    def configure(self, **changes: Any) -> None:
        """Change runtime settings (latency, rate limit, overlap check, ...)."""
        self.app.update_config(**changes)

    def ground_truth(
        self,
        start: datetime | str,
        end: datetime | str,
        segment_filters: list[dict[str, Any]] | None = None,
        conversation_filters: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Conversations with conversationStart in [start, end), exactly as the sync API
        returns them at the current simulated clock (filters as in the query body)."""
        return self.app.ground_truth(
            to_ms(parse_time(start)),
            to_ms(parse_time(end)),
            segment_filters=segment_filters,
            conversation_filters=conversation_filters,
        )

    def ground_truth_ids(
        self,
        start: datetime | str,
        end: datetime | str,
        segment_filters: list[dict[str, Any]] | None = None,
        conversation_filters: list[dict[str, Any]] | None = None,
    ) -> list[str]:
        """Just the conversationIds of ``ground_truth`` (cheap for large volumes)."""
        rows = self.app.ground_truth_rows(
            to_ms(parse_time(start)),
            to_ms(parse_time(end)),
            segment_filters=segment_filters,
            conversation_filters=conversation_filters,
        )
        return [r.conversation_id for r in rows]

    def open_conversation_ids(self, start: datetime | str, end: datetime | str) -> list[str]:
        """Ids of the conversations started in [start, end) that are still open (no
        conversationEnd) at the current simulated clock, ascending by start."""
        rows = self.app.open_rows(to_ms(parse_time(start)), to_ms(parse_time(end)))
        return [r.conversation_id for r in rows]

    def conversations_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        """The records the multi-get returns for ``ids`` at the current clock (unknown ids and
        conversations not started yet are left out; request order, each id once)."""
        return self.app.conversations_by_id(list(dict.fromkeys(ids)))

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """One record as ``GET .../conversations/{id}/details`` returns it, or None (404)."""
        found = self.app.conversations_by_id([conversation_id])
        return found[0] if found else None

    def warm(self, start: datetime | str, end: datetime | str, attributes: bool = False) -> int:
        """Pre-render the records starting in [start, end) so that later pages are served
        from cache (benchmarks: keep the simulator from being the bottleneck). Returns count.
        ``attributes``: the variant job results serve (participant attributes included)."""
        return self.app.warm(to_ms(parse_time(start)), to_ms(parse_time(end)), attributes)

    def advance(self, seconds: float | timedelta) -> datetime:
        return self.clock.advance(seconds)

    # analyst tables (analyst.py; docs/simulator.md "Analyst tables")
    def ground_truth_users_details(
        self, start: datetime | str, end: datetime | str
    ) -> list[dict[str, Any]]:
        """Every user detail of the user-details query over [start, end) at the current clock
        (all pages concatenated, ascending userId, no filters): what a full read returns."""
        return self.app.analyst.ground_truth_users_details(
            to_ms(parse_time(start)), to_ms(parse_time(end))
        )

    def reference(self, name: str) -> list[dict[str, Any]]:
        """The full reference table ``name`` (``users``, ``queues``, ``wrapupcodes``,
        ``skills``, ``languages``, ``divisions``, ``groups``, ``presence_definitions``,
        ``flows``) at the current clock; users of every state, deleted ones included."""
        return self.app.analyst.reference_table(name)
