"""The processes a benchmark measures: the simulator server and the tap's command line.

The simulator runs as ``genesys-sim serve`` in its own process (loopback, free port) and is
driven through its control endpoint. The tap runs as its real CLI in a child process whose
stdout goes to ``/dev/null``; its CPU seconds come from ``os.wait4`` (the kernel's accounting
for exactly that child), its peak RSS from its own ``VmHWM`` (polled), its progress from the log
lines it writes to stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
TAP = BIN / "tap-genesys-analytics"
SIM = BIN / "genesys-sim"
CLIENT_ID, CLIENT_SECRET = "sim-client", "sim-secret"

_WINDOW_DONE = re.compile(r"Window (\S+) done: (\d+) records, (\d+) pages, (\d+) requests")
_HTTP = re.compile(r"HTTP: (.*) in ([\d.]+) s$")
_METRIC = re.compile(r"(\w+)=([\d.]+)")


class Simulator:
    """``genesys-sim serve`` as a child process, with its control endpoint."""

    def __init__(self, args: Sequence[str]) -> None:
        """Start the server (free port) and wait for its URL."""
        self.proc = subprocess.Popen(
            [str(SIM), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("genesys-sim listening on "):
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1]
        self.session = requests.Session()

    def control(self, method: str, path: str, body: Any = None, timeout: float = 600) -> Any:
        """Call ``/_sim/<path>``; returns the decoded JSON answer."""
        response = self.session.request(
            method, f"{self.url}/_sim/{path}", json=body, timeout=timeout
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def configure(self, **settings: Any) -> None:
        """Change runtime settings (latency, rate limit)."""
        self.control("POST", "config", settings)

    def stats(self) -> dict[str, Any]:
        """Request counters since the last :meth:`reset_stats`."""
        return dict(self.control("GET", "stats"))

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.control("DELETE", "stats")

    def warm(self, start: str, end: str, attributes: bool = False) -> int:
        """Pre-render the records of ``[start, end)`` so serving is not what is measured
        (``attributes``: the variant job results serve, with participant attributes)."""
        body = {"start": start, "end": end, "attributes": attributes}
        return int(self.control("POST", "warm", body)["warmed"])

    def stop(self) -> None:
        """Terminate the server process."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class TapRun:
    """What one run of the tap CLI did, from the kernel's accounting and its own log."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    records: int
    pages: int
    requests: int
    http: dict[str, float]
    #: (seconds since the process started, cumulative pages) at each finished window
    progress: list[tuple[float, int]] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        """Records per second of process wall time (start-up included)."""
        return self.records / self.wall_s if self.wall_s else 0.0


def catalog_for(config_path: str, streams: tuple[str, ...]) -> str:
    """A catalog file (from ``--discover``) selecting only ``streams``; its path."""
    found = subprocess.run(
        [str(TAP), "--config", config_path, "--discover"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    catalog = json.loads(found)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(catalog, handle)
        return handle.name


def run_tap(
    config: dict[str, Any],
    timeout_s: float = 1800,
    streams: tuple[str, ...] = ("conversation_details",),
) -> TapRun:
    """Run ``tap-genesys-analytics --config --catalog`` once; stdout to /dev/null.

    The figures are about ``conversation_details``: the catalog selects it alone by default
    (the analyst streams would add their own reads to every comparison).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
        config_path = handle.name
    catalog_path = catalog_for(config_path, streams)
    tail: list[str] = []
    progress: list[tuple[float, int]] = []
    totals = {"records": 0, "pages": 0, "requests": 0}
    http: dict[str, float] = {}
    try:
        with open(os.devnull, "wb") as devnull:
            started = time.monotonic()
            proc = subprocess.Popen(
                [str(TAP), "--config", config_path, "--catalog", catalog_path],
                stdout=devnull,
                stderr=subprocess.PIPE,
                text=True,
            )

            def read_log() -> None:
                assert proc.stderr is not None
                for raw in proc.stderr:
                    line = raw.rstrip()
                    tail.append(line)
                    del tail[:-40]
                    if done := _WINDOW_DONE.search(line):
                        totals["records"] += int(done.group(2))
                        totals["pages"] += int(done.group(3))
                        totals["requests"] += int(done.group(4))
                        progress.append((time.monotonic() - started, totals["pages"]))
                    elif metrics := _HTTP.search(line):
                        http.update({k: float(v) for k, v in _METRIC.findall(metrics.group(1))})

            reader = threading.Thread(target=read_log, daemon=True)
            reader.start()
            peak_kb = [0]
            watcher = threading.Thread(target=_watch_peak_rss, args=(proc, peak_kb), daemon=True)
            watcher.start()
            timer = threading.Timer(timeout_s, proc.kill)
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
            timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            reader.join(timeout=10)
            watcher.join(timeout=10)
    finally:
        os.unlink(config_path)
        os.unlink(catalog_path)
    if proc.returncode != 0:
        raise RuntimeError(
            f"tap exited {proc.returncode}; last log lines:\n" + "\n".join(tail[-15:])
        )
    return TapRun(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        # ru_maxrss of a child also counts the parent's memory it was forked from (the kernel
        # records the pre-exec high-water mark), so the peak comes from the tap's own VmHWM
        peak_rss_mb=(peak_kb[0] or usage.ru_maxrss) / 1024,
        records=totals["records"],
        pages=totals["pages"],
        requests=totals["requests"],
        http=http,
        progress=progress,
    )


def _watch_peak_rss(proc: subprocess.Popen[str], peak_kb: list[int]) -> None:
    """Poll the process's own high-water mark (``VmHWM``, kB) until it exits."""
    path = f"/proc/{proc.pid}/status"
    while proc.returncode is None:
        try:
            with open(path) as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak_kb[0] = max(peak_kb[0], int(line.split()[1]))
                        break
        except (OSError, ValueError):
            return  # gone (or no /proc): the caller falls back to ru_maxrss
        time.sleep(0.02)


def tap_config(sim: Simulator, start: str, end: str, **settings: Any) -> dict[str, Any]:
    """A tap config reading ``[start, end)`` from the simulator."""
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_url": sim.url,
        "start_date": start,
        "end_date": end,
        **settings,
    }
