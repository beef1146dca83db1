"""Fixtures of the fault-injection suite.

- ``fault_sim``: a simulator factory whose only client has a distinctive secret; every token it
  issues is recorded, and a :class:`RequestWatch` lets a test wait for "request N arrived"
  (before it is answered) to pick deterministic kill points.
- ``SecretScan``: every scenario feeds all the text it captured (stdout, stderr, Meltano logs,
  STATE, records) to one scanner that fails on the secret, any issued token or an
  Authorization header.
- ``run_tap_cli``: the tap's own command line against the simulator (subprocess, like Meltano
  runs it), with every output line kept.
- PostgreSQL and Meltano fixtures come from ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import catalog_selecting, tap_config_for
from tests.e2e.conftest import meltano, meltano_plugins, pg_database, pg_server  # noqa: F401

CLIENT_ID = "fault-client"
SECRET = "fault-S3cret-9c41e7ab-never-print-me"
QUERY_PATH = "/api/v2/analytics/conversations/details/query"
TOKEN_PATH = "/oauth/token"
TAP = Path(sys.executable).with_name("tap-genesys-analytics")
ENV_PREFIX = "TAP_GENESYS_ANALYTICS_"
_BEARER_VALUE = re.compile(r"(?i)\bbearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{8,}")
#: an Authorization header with its value (a redacted one, "Authorization: [REDACTED]", is fine)
_AUTH_VALUE = re.compile(r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(?!\[REDACTED\])[^\s'\"]{4,}")


# -- simulator instrumentation -----------------------------------------------------------------


class RequestWatch:
    """Counts requests as they arrive at the simulator; tests wait for "query request N"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.answered: list[tuple[str, float, int]] = []  # (path, arrival time, status)
        self._waiters: list[tuple[str, int, threading.Event]] = []

    def arrived(self, path: str) -> None:
        with self._lock:
            n = self.counts[path] = self.counts.get(path, 0) + 1
            for kind, wanted, event in self._waiters:
                if kind == path and n >= wanted:
                    event.set()

    def when(self, path: str, n: int) -> threading.Event:
        """An event set once the ``n``-th request to ``path`` has arrived."""
        event = threading.Event()
        with self._lock:
            self._waiters.append((path, n, event))
            if self.counts.get(path, 0) >= n:
                event.set()
        return event

    def queries(self) -> int:
        with self._lock:
            return self.counts.get(QUERY_PATH, 0)


def instrument(sim: Any) -> Any:
    """Record every issued token (``sim.issued_tokens``) and arrivals (``sim.watch``)."""
    app = sim.app
    watch = RequestWatch()
    issued: list[str] = []
    handle, issue = app.handle, app.tokens.issue

    def watched_handle(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        path, arrived = target.split("?", 1)[0], time.monotonic()
        watch.arrived(path)
        response = handle(method, target, *args, **kwargs)
        watch.answered.append((path, arrived, int(getattr(response, "status", 0))))
        return response

    def recording_issue(*args: Any, **kwargs: Any) -> Any:
        answer = issue(*args, **kwargs)
        issued.append(str(answer["access_token"]))
        return answer

    app.handle = watched_handle
    app.tokens.issue = recording_issue
    sim.watch = watch
    sim.issued_tokens = issued
    return sim


@pytest.fixture
def fault_sim(genesys_sim: Callable[..., Any]) -> Callable[..., Any]:
    """Factory of instrumented simulators accepting only ``CLIENT_ID``/``SECRET``."""

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("seed", 42)
        kwargs.setdefault("clients", {CLIENT_ID: SECRET})
        return instrument(genesys_sim(**kwargs))

    return make


@pytest.fixture
def sim(fault_sim: Callable[..., Any], secret_scan: SecretScan) -> Any:
    """3 days (2024-05-01 to 2024-05-04) x ~100 conversations (354); page size 10 -> 36 pages."""
    server = fault_sim(
        conversations_per_day=100,
        data_start="2024-05-01T00:00:00Z",
        now="2024-05-04T06:00:00Z",
        rate_limit_per_minute=0,
    )
    secret_scan.sim = server
    return server


def query_statuses(sim: Any) -> dict[str, int]:
    """Status -> count of the details-query responses the simulator sent (0 = dropped)."""
    return dict(sim.stats["requests"].get(QUERY_PATH, {}))


def token_requests(sim: Any) -> int:
    return sum(int(n) for n in sim.stats["requests"].get(TOKEN_PATH, {}).values())


# -- secrets -----------------------------------------------------------------------------------


@dataclass
class SecretScan:
    """Collects captured output; :meth:`check` fails on any secret, token or auth header."""

    sim: Any = None
    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, text: str | bytes | None) -> None:
        if text is None:
            return
        self.texts.append(
            (where, text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
        )

    def needles(self) -> list[str]:
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        tokens = list(getattr(self.sim, "issued_tokens", []) or [])
        return [SECRET, basic, *tokens, *(f"Bearer {t}" for t in tokens)]

    def check(self) -> int:
        """Assert nothing leaked; returns the number of characters scanned."""
        needles = self.needles()
        scanned = 0
        for where, text in self.texts:
            scanned += len(text)
            for needle in needles:
                assert needle not in text, f"{where} contains a secret/token/auth header"
            assert not _BEARER_VALUE.search(text), f"{where} contains a bearer value"
            assert not _AUTH_VALUE.search(text), f"{where} contains an Authorization value"
        return scanned


@pytest.fixture
def secret_scan() -> Iterator[SecretScan]:
    """Every scenario scans what it captured; the scan also runs at teardown."""
    scan = SecretScan()
    yield scan
    scan.check()


# -- the tap's command line --------------------------------------------------------------------


def tap_config(sim: Any, **overrides: Any) -> dict[str, Any]:
    """A config for the simulator with the distinctive secret, small pages and no lookback.

    An override of ``None`` removes the setting.
    """
    fault_defaults: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "page_size": 10,
        "requests_per_minute": 10000,
        "request_timeout": 5,
        "lookback": "PT0S",
    }
    config = tap_config_for(sim, **{**fault_defaults, **overrides})
    return {k: v for k, v in config.items() if v is not None}


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def bookmarks(self) -> list[str]:
        return [
            m["value"]["bookmarks"]["conversation_details"]["replication_key_value"]
            for m in self.messages
            if m["type"] == "STATE"
        ]

    def log_lines(self, fragment: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if fragment in line]

    def http_metrics(self) -> dict[str, float]:
        """The numbers of the tap's final ``HTTP: name=value, ...`` log line."""
        lines = self.log_lines("HTTP: requests_sent=")
        assert lines, self.stderr[-2000:]
        text = lines[-1].split("HTTP: ", 1)[1].rsplit(" in ", 1)[0]
        return {k: float(v) for k, v in (p.split("=") for p in text.split(", "))}


def catalog_file(tmp_path: Path, streams: tuple[str, ...] = ("conversation_details",)) -> str:
    """A catalog selecting only ``streams`` (the fault scenarios are about conversation_details;
    the analyst tables have their own tests); its path."""
    config = {"client_id": "x", "client_secret": "y", "start_date": "2024-05-01"}
    catalog = catalog_selecting(config, streams)
    path = tmp_path / "tap-catalog.json"
    path.write_text(json.dumps(catalog))
    return str(path)


def run_tap_cli(
    config: dict[str, Any],
    tmp_path: Path,
    *,
    state: dict[str, Any] | str | None = None,
    scan: SecretScan | None = None,
    timeout: float = 300,
) -> CliRun:
    """``tap-genesys-analytics --config ... [--state ...]``; all output captured (and scanned)."""
    config_path = tmp_path / "tap-config.json"
    config_path.write_text(json.dumps(config))
    command = [str(TAP), "--config", str(config_path), "--catalog", catalog_file(tmp_path)]
    if state is not None:
        state_path = tmp_path / "tap-state.json"
        state_path.write_text(state if isinstance(state, str) else json.dumps(state))
        command += ["--state", str(state_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    started = time.monotonic()
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path, check=False
    )
    run = CliRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if scan is not None:
        scan.add("tap stdout", run.stdout)
        scan.add("tap stderr", run.stderr)
    return run
