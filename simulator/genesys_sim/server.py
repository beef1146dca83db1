"""HTTP/1.1 keep-alive server on loopback and the ``SimServer`` context manager."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
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
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if resp.action == "close":
            self.close_connection = True
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.body or resp.status != 204:
            self.send_header("Content-Type", resp.content_type + "; charset=UTF-8")
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body:
            self.wfile.write(resp.body)

    def _safe(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a simulator bug must surface as a 500, not a dead socket
            sys.stderr.write(f"genesys-sim: internal error on {self.command} {self.path}: "
                             f"{exc!r}\n")
            body = json.dumps(error_body(500, "internal.server.error", "Simulator error.",
                                         correlation_id())).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _safe


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
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="genesys-sim", daemon=True)
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

    def ground_truth(self, start: datetime | str, end: datetime | str,
                     segment_filters: list[dict[str, Any]] | None = None,
                     conversation_filters: list[dict[str, Any]] | None = None
                     ) -> list[dict[str, Any]]:
        """Conversations with conversationStart in [start, end), exactly as the sync API
        returns them at the current simulated clock (filters as in the query body)."""
        return self.app.ground_truth(to_ms(parse_time(start)), to_ms(parse_time(end)),
                                     segment_filters=segment_filters,
                                     conversation_filters=conversation_filters)

    def ground_truth_ids(self, start: datetime | str, end: datetime | str,
                         segment_filters: list[dict[str, Any]] | None = None,
                         conversation_filters: list[dict[str, Any]] | None = None) -> list[str]:
        """Just the conversationIds of ``ground_truth`` (cheap for large volumes)."""
        rows = self.app.ground_truth_rows(to_ms(parse_time(start)), to_ms(parse_time(end)),
                                          segment_filters=segment_filters,
                                          conversation_filters=conversation_filters)
        return [r[13] for r in rows]

    def warm(self, start: datetime | str, end: datetime | str) -> int:
        """Pre-render the records starting in [start, end) so that later pages are served
        from cache (benchmarks: keep the simulator from being the bottleneck). Returns count."""
        return self.app.warm(to_ms(parse_time(start)), to_ms(parse_time(end)))

    def advance(self, seconds: float | timedelta) -> datetime:
        return self.clock.advance(seconds)
