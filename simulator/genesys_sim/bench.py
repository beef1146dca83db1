"""``genesys-sim bench``: pages/s served for 100-record pages (cold and from the page cache)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from genesys_sim.config import SimConfig
from genesys_sim.server import SimServer

QUERY = "/api/v2/analytics/conversations/details/query"
HOT_DAY = "2024-05-03"
INTERVAL = f"{HOT_DAY}T00:00:00.000Z/2024-05-04T00:00:00.000Z"


def _token(base: str) -> str:
    resp = requests.post(
        base + "/oauth/token",
        auth=("sim-client", "sim-secret"),
        data={"grant_type": "client_credentials"},
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _pass(
    base: str, token: str, pages: int, clients: int, interval: str = INTERVAL
) -> tuple[float, int]:
    """Fetch pages 1..pages (split over ``clients`` keep-alive sessions); (seconds, bytes)."""
    numbers = list(range(1, pages + 1))
    total = [0]
    lock = threading.Lock()

    def worker(mine: list[int]) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        for n in mine:
            body = {"interval": interval, "paging": {"pageSize": 100, "pageNumber": n}}
            resp = session.post(base + QUERY, json=body, headers=headers, timeout=60)
            resp.raise_for_status()
            with lock:
                total[0] += len(resp.content)

    threads = [threading.Thread(target=worker, args=(numbers[i::clients],)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, total[0]


def run(pages: int = 300, clients: int = 1, in_process: bool = False) -> dict[str, Any]:
    """Serve a 120,000-conversation day; measure a cold pass then a cached pass."""
    args = ["serve", "--port", "0", "--rate-limit", "0", "--hot-day", f"{HOT_DAY}=120000"]
    proc = None
    sim = None
    if in_process:
        sim = SimServer(SimConfig(rate_limit_per_minute=0, hot_days={HOT_DAY: 120_000})).start()
        base = sim.base_url
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genesys_sim.cli", *args], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[-1]
    try:
        token = _token(base)
        warm = requests.post(
            base + QUERY,
            json={"interval": INTERVAL, "paging": {"pageSize": 1, "pageNumber": 1}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )  # builds the day skeleton and the match list
        warm.raise_for_status()
        cold_s, size = _pass(base, token, pages, clients)
        cached_s, _ = _pass(base, token, pages, clients)
        # pre-rendered records (SimServer.warm / POST /_sim/warm), pages never served before
        warm_t = time.perf_counter()
        warmed = requests.post(
            base + "/_sim/warm",
            json={"start": f"{HOT_DAY}T00:00:00Z", "end": f"{HOT_DAY}T16:00:00Z"},
            timeout=600,
        ).json()["warmed"]
        warm_s = time.perf_counter() - warm_t
        window = f"{HOT_DAY}T10:00:00.000Z/{HOT_DAY}T16:00:00.000Z"
        warm_pass_s, _ = _pass(base, token, pages, clients, window)
    finally:
        if sim is not None:
            sim.stop()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    return {
        "pages": pages,
        "clients": clients,
        "server": "in-process" if in_process else "process",
        "avg_page_kb": round(size / pages / 1024, 1),
        "cold_pages_per_s": round(pages / cold_s, 1),
        "cached_pages_per_s": round(pages / cached_s, 1),
        "warmed_records": warmed,
        "warm_s": round(warm_s, 1),
        "warmed_pages_per_s": round(pages / warm_pass_s, 1),
    }


def main(pages: int, clients: int, in_process: bool) -> int:
    print(json.dumps(run(pages, clients, in_process)))
    return 0
