"""Serving bytes: records, query pages, job-results pages and multi-get bodies, with the caches.

Records are encoded once per (conversation, view) — a finished conversation's bytes never
change — and whole page prefixes once per (query, page, clock, settings); after a full page the
next ``prefetch_pages`` pages of the same query are built in one background thread. What a
query matches is ``query.py``; how INDEX faults page it is ``effects.py``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from genesys_sim.cache import LRU
from genesys_sim.config import SimConfig
from genesys_sim.data import DataSet, Row, iso
from genesys_sim.effects import index_is_live, index_state, paged_index
from genesys_sim.faults import FaultInjector
from genesys_sim.messages import to_json
from genesys_sim.query import sync_candidates, term_frequency
from genesys_sim.validate import Query


class Page(NamedTuple):
    """A sync query page up to ``totalHits`` (the caller closes it with the count it reports)."""

    prefix: bytes  # b'{"conversations":[...],"aggregations":[...],' (parts present only)
    total: int  # entries of the query's index (duplicates included)
    records: int  # records on the page


class Pages:
    """Everything the API serves as JSON bytes from skeleton rows, cached."""

    def __init__(self, config: SimConfig, data: DataSet, faults: FaultInjector) -> None:
        self.config, self.data, self.faults = config, data, faults
        self.version = 0  # runtime settings changed: cached bytes no longer apply
        budget = max(16, config.cache_mb) << 20
        self.records = LRU(max_bytes=budget * 3 // 4)
        self.prefixes = LRU(max_bytes=budget // 4)
        self.matches = LRU(max_items=32)
        self._inflight: dict[tuple[Any, ...], Future[Page]] = {}
        self._inflight_lock = threading.Lock()
        self.prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-prefetch")

    def close(self) -> None:
        self.prefetcher.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ records
    def record(self, row: Row, now_ms: int, with_attributes: bool = False) -> bytes:
        """One conversation as the API renders it at ``now_ms``."""
        phase = -1 if now_ms >= self.data.final_ms(row) else now_ms
        key = (row.conversation_id, with_attributes, phase, self.version)
        raw = self.records.get(key)
        if raw is None:
            raw = to_json(self.data.render(row, now_ms, with_attributes))
            self.records.put(key, raw, len(raw) + 100)
        return raw

    def conversations(self, rows: list[Row], now_ms: int, with_attributes: bool = False) -> bytes:
        """``"conversations":[...]`` of ``rows``."""
        records = b",".join(self.record(r, now_ms, with_attributes) for r in rows)
        return b'"conversations":[' + records + b"]"

    # ------------------------------------------------------------------ sync query
    def matched(self, q: Query, now_ms: int) -> list[Row]:
        """The rows a query matches, in its order (each once)."""
        key = (q.match_key, now_ms, self.version, self.config.overlap_check)
        rows = self.matches.get(key)
        if rows is None:
            rows = sync_candidates(self.data, q, now_ms, self.config.overlap_check)
            self.matches.put(key, rows)
        return rows

    def _paged_index(self, q: Query, now_ms: int, unique: list[Row]) -> list[Row]:
        """The query's index as the API pages it (INDEX faults: duplicates, a shift)."""
        state = index_state(self.faults, q.match_key)
        if state is None:
            return unique
        key = ("index", q.match_key, now_ms, self.version, self.faults.version, state)
        rows = self.matches.get(key)
        if rows is None:
            rows = paged_index(self.faults, unique, q.match_key, self.config.seed)
            self.matches.put(key, rows)
        return list(rows)

    def _key(self, q: Query, now_ms: int) -> tuple[Any, ...]:
        return (
            q.match_key,
            q.page_size,
            q.page_number,
            json.dumps(q.aggregations, sort_keys=True),
            now_ms,
            self.version,
            self.config.overlap_check,
            self.faults.version,
            index_state(self.faults, q.match_key),
        )

    def _build(self, q: Query, now_ms: int) -> Page:
        unique = self.matched(q, now_ms)
        rows = self._paged_index(q, now_ms, unique)
        first = (q.page_number - 1) * q.page_size
        page, seen = [], set()
        for row in rows[first : first + q.page_size]:
            if row.conversation_id not in seen:  # the API filters duplicates: pages run short
                seen.add(row.conversation_id)
                page.append(row)
        parts = []
        if page:
            parts.append(self.conversations(page, now_ms))
        if q.aggregations:
            aggs = [
                term_frequency(self.data, unique, a, now_ms)
                if a["type"] == "termFrequency"
                else {"type": "numericRange", "metric": a.get("metric"), "results": []}
                for a in q.aggregations
            ]
            parts.append(b'"aggregations":' + to_json(aggs))
        return Page(b"{" + b"".join(p + b"," for p in parts), len(rows), len(page))

    def page(self, q: Query, now_ms: int) -> tuple[Page, bool]:
        """(the page, whether it came from the cache); may start building the next pages."""
        key = self._key(q, now_ms)
        cached = self.prefixes.get(key)
        hit = cached is not None
        if cached is None:
            with self._inflight_lock:
                fut = self._inflight.get(key)
            cached = fut.result() if fut is not None else self._build(q, now_ms)
            self.prefixes.put(key, cached, len(cached.prefix) + 200)
        if cached.records == q.page_size and not index_is_live(self.faults):
            last = min(cached.total, self.config.max_results)
            for ahead in range(1, self.config.prefetch_pages + 1):
                if (q.page_number + ahead - 1) * q.page_size >= last:
                    break
                self._prefetch(q, now_ms, q.page_number + ahead)
        return cached, hit

    def _prefetch(self, q: Query, now_ms: int, number: int) -> None:
        """Build a later page of the same query in the background (one worker thread)."""
        nxt = Query(**{**q.__dict__, "page_number": number})
        key = self._key(nxt, now_ms)
        if self.prefixes.get(key) is not None:
            return
        with self._inflight_lock:
            if key in self._inflight:
                return
            fut = self.prefetcher.submit(self._build, nxt, now_ms)
            self._inflight[key] = fut

        def done(f: Future[Page], key: tuple[Any, ...] = key) -> None:
            if f.exception() is None:
                result = f.result()
                self.prefixes.put(key, result, len(result.prefix) + 200)
            with self._inflight_lock:
                self._inflight.pop(key, None)

        fut.add_done_callback(done)

    # ------------------------------------------------------------------ other bodies
    def job_results(
        self, rows: list[Row], view_ms: int, cursor: str | None, available_ms: int
    ) -> bytes:
        """A job-results page: records as of the job's view, cursor, dataAvailabilityDate."""
        parts = []
        if rows:
            parts.append(self.conversations(rows, view_ms, True))
        if cursor:
            parts.append(b'"cursor":' + to_json(cursor))
        parts.append(b'"dataAvailabilityDate":' + to_json(iso(available_ms)))
        return b"{" + b",".join(parts) + b"}"

    def by_ids(self, rows: list[Row], now_ms: int) -> bytes:
        """The multi-get body: no known id -> ``{}`` (the key omitted, as on an empty page)."""
        return b"{" + self.conversations(rows, now_ms) + b"}" if rows else b"{}"
