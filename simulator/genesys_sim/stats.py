"""Request counters a scenario can assert on (``sim.stats``)."""

from __future__ import annotations

import threading
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_path: dict[str, dict[str, int]] = {}
            self._by_status: dict[str, int] = {}
            self._retry_after: list[int] = []
            self._faults: dict[str, int] = {}
            self._tokens = 0
            self._records = 0
            self._pages = 0
            self._cache_hits = 0
            self._requests = 0
            self._multiget_requests = 0
            self._multiget_ids = 0  # ids asked
            self._multiget_records = 0  # records returned
            self._streams: dict[str, dict[str, int]] = {}

    def request(self, path: str, status: int) -> None:
        with self._lock:
            self._requests += 1
            per = self._by_path.setdefault(path, {})
            per[str(status)] = per.get(str(status), 0) + 1
            self._by_status[str(status)] = self._by_status.get(str(status), 0) + 1

    def retry_after(self, seconds: int) -> None:
        with self._lock:
            self._retry_after.append(seconds)

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def token(self) -> None:
        with self._lock:
            self._tokens += 1

    def page(self, records: int, cached: bool) -> None:
        with self._lock:
            self._pages += 1
            self._records += records
            self._cache_hits += int(cached)

    def multiget(self, ids: int, records: int) -> None:
        with self._lock:
            self._multiget_requests += 1
            self._multiget_ids += ids
            self._multiget_records += records

    def stream_end(self, kind: str, how: str) -> None:
        """A streamed body (trickle/oversize) ended: complete, client_closed or max_hang."""
        with self._lock:
            per = self._streams.setdefault(kind, {})
            per[how] = per.get(how, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests_total": self._requests,
                "requests": {p: dict(s) for p, s in self._by_path.items()},
                "status": dict(self._by_status),
                "rate_limited": self._by_status.get("429", 0),
                "retry_after_sent": list(self._retry_after),
                "faults_injected": dict(self._faults),
                "tokens_issued": self._tokens,
                "pages_served": self._pages,
                "records_served": self._records,
                "page_cache_hits": self._cache_hits,
                "multiget_requests": self._multiget_requests,
                "multiget_ids_requested": self._multiget_ids,
                "multiget_records": self._multiget_records,
                "streams": {k: dict(v) for k, v in self._streams.items()},
            }
