"""The simulator application: routes, auth, rate limit, faults, caching (transport-agnostic)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from genesys_sim.analyst import ANALYST_PATHS, CONTROL_PREFIX, AnalystApi, fault_target
from genesys_sim.auth import OAuthError, TokenStore
from genesys_sim.cache import LRU
from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig
from genesys_sim.control import handle_control
from genesys_sim.data import S_ID, S_START, DataSet, Row, days_touched, iso
from genesys_sim.errors import (
    ApiError,
    bad_request,
    correlation_id,
    not_found,
    rate_limited,
    server_error,
)
from genesys_sim.faults import FaultInjector, FaultRule
from genesys_sim.harsh import echo_auth_body, oversize_body, shift_rows
from genesys_sim.jobs import JobStore
from genesys_sim.multiget import (
    MULTIGET_PATH,
    ONE_RE,
    ONE_TEMPLATE,
    ConversationIndex,
    parse_ids,
)
from genesys_sim.query import (
    ASYNC_FIELDS,
    Matcher,
    Query,
    parse_common,
    sync_candidates,
    term_frequency,
    validate_async,
    validate_sync,
)
from genesys_sim.ratelimit import RateLimiter
from genesys_sim.stats import Stats

BASE = "/api/v2/analytics/conversations/details"
QUERY_PATH = f"{BASE}/query"
JOBS_PATH = f"{BASE}/jobs"
_JOB_RE = re.compile(rf"^{JOBS_PATH}/([0-9a-fA-F-]{{1,64}})(/results)?$")
HTML_BODY = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"</body></html>"
)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    action: str | None = None  # "reset": drop the connection; "close": close without answering
    #: body streamed from this iterator instead of ``body`` (``length`` bytes, or chunked)
    stream: Iterator[bytes] | None = None
    length: int = 0
    chunked: bool = False
    trickle_s: float = 0.0  # > 0: one body byte per trickle_s seconds


_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _json(obj: Any) -> bytes:
    return _encode(obj).encode()


class SimApp:
    """Everything except sockets: ``handle(method, target, headers, body) -> Response``."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.now)
        self.data = DataSet(config)
        self.analyst = AnalystApi(self.data, self.clock)  # user details, reference lists
        self.tokens = TokenStore(config, self.clock)
        self.limiter = RateLimiter(config)
        self.faults = FaultInjector(config.seed)
        self.jobs = JobStore(config, self.data, self.clock)
        self.stats = Stats()
        self.index = ConversationIndex(self.data)
        self.version = 0
        budget = max(16, config.cache_mb) << 20
        self._records = LRU(max_bytes=budget * 3 // 4)
        self._pages = LRU(max_bytes=budget // 4)
        self._matches = LRU(max_items=32)
        self._inflight: dict[tuple[Any, ...], Future[tuple[bytes, int, int]]] = {}
        self._inflight_lock = threading.Lock()
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-prefetch")
        self.sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self._prefetch.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ settings
    def update_config(self, **changes: Any) -> None:
        self.config.update(**changes)
        self.version += 1

    # ------------------------------------------------------------------ records
    def record_bytes(self, row: Row, now_ms: int, with_attributes: bool = False) -> bytes:
        phase = -1 if now_ms >= self.data.final_ms(row) else now_ms
        key = (row[S_ID], with_attributes, phase, self.version)
        raw = self._records.get(key)
        if raw is None:
            raw = _json(self.data.render(row, now_ms, with_attributes))
            self._records.put(key, raw, len(raw) + 100)
        return raw

    def matched(self, q: Query, now_ms: int) -> list[Row]:
        key = (q.match_key, now_ms, self.version, self.config.overlap_check)
        rows = self._matches.get(key)
        if rows is None:
            rows = sync_candidates(self.data, q, now_ms, self.config.overlap_check)
            self._matches.put(key, rows)
        return rows

    def _with_duplicates(self, rows: list[Row], q: Query, now_ms: int) -> list[Row]:
        """The index as the API pages it: some entries duplicated a few places later."""
        rule = self.faults.data_rule("duplicates")
        if rule is None or not rows:
            return rows
        key = ("dups", q.match_key, now_ms, self.version, self.faults.version)
        cached = self._matches.get(key)
        if cached is not None:
            return list(cached)
        rng = random.Random(f"{self.config.seed}:{q.match_key}")
        out: list[Row] = []
        pending: dict[int, list[Row]] = {}
        for i, row in enumerate(rows):
            out.append(row)
            if rng.random() < rule.dup_rate:
                pending.setdefault(i + 1 + rng.randrange(40), []).append(row)
            out.extend(pending.pop(i, ()))
        for later in pending.values():
            out.extend(later)
        self._matches.put(key, out)
        return out

    def _shifted(self, q: Query) -> bool | None:
        """None without a ``shift`` fault; else whether this query's index has moved."""
        rule = self.faults.data_rule("shift")
        return None if rule is None else q.match_key in rule.shifted

    def _page_key(self, q: Query, now_ms: int) -> tuple[Any, ...]:
        aggs = json.dumps(q.aggregations, sort_keys=True)
        return (
            q.match_key,
            q.page_size,
            q.page_number,
            aggs,
            now_ms,
            self.version,
            self.config.overlap_check,
            self.faults.version,
            self._shifted(q),
        )

    def _build_page(self, q: Query, now_ms: int) -> tuple[bytes, int, int]:
        """(body prefix up to totalHits, totalHits, records on page)."""
        unique = self.matched(q, now_ms)
        rows = self._with_duplicates(unique, q, now_ms)
        rule = self.faults.data_rule("shift")
        if rule is not None:
            rows = shift_rows(rows, rule.shift_rows, q.match_key in rule.shifted)
        first = (q.page_number - 1) * q.page_size
        page, seen = [], set()
        for row in rows[first : first + q.page_size]:
            if row[S_ID] not in seen:  # the real API filters duplicates: pages may run short
                seen.add(row[S_ID])
                page.append(row)
        parts = []
        if page:
            parts.append(
                b'"conversations":[' + b",".join(self.record_bytes(r, now_ms) for r in page) + b"]"
            )
        if q.aggregations:
            aggs = [
                term_frequency(self.data, unique, a, now_ms)
                if a["type"] == "termFrequency"
                else {"type": "numericRange", "metric": a.get("metric"), "results": []}
                for a in q.aggregations
            ]
            parts.append(b'"aggregations":' + _json(aggs))
        prefix = b"{" + b"".join(p + b"," for p in parts)
        return prefix, len(rows), len(page)

    def page(self, q: Query, now_ms: int) -> tuple[bytes, int, int, bool]:
        key = self._page_key(q, now_ms)
        cached = self._pages.get(key)
        hit = cached is not None
        if cached is None:
            with self._inflight_lock:
                fut = self._inflight.get(key)
            cached = fut.result() if fut is not None else self._build_page(q, now_ms)
            self._pages.put(key, cached, len(cached[0]) + 200)
        prefix, total, count = cached
        if count == q.page_size and self._shifted(q) is None:
            last = min(total, self.config.max_results)
            for ahead in range(1, self.config.prefetch_pages + 1):
                if (q.page_number + ahead - 1) * q.page_size >= last:
                    break
                self._prefetch_page(q, now_ms, q.page_number + ahead)
        return prefix, total, count, hit

    def _prefetch_page(self, q: Query, now_ms: int, number: int) -> None:
        """Build a later page of the same query in the background (one worker thread)."""
        nxt = Query(**{**q.__dict__, "page_number": number})
        key = self._page_key(nxt, now_ms)
        if self._pages.get(key) is not None:
            return
        with self._inflight_lock:
            if key in self._inflight:
                return
            fut = self._prefetch.submit(self._build_page, nxt, now_ms)
            self._inflight[key] = fut

        def done(f: Future[tuple[bytes, int, int]], key: tuple[Any, ...] = key) -> None:
            if f.exception() is None:
                result = f.result()
                self._pages.put(key, result, len(result[0]) + 200)
            with self._inflight_lock:
                self._inflight.pop(key, None)

        fut.add_done_callback(done)

    # ------------------------------------------------------------------ ground truth
    def ground_truth_rows(
        self,
        start_ms: int,
        end_ms: int,
        segment_filters: list[dict[str, Any]] | None = None,
        conversation_filters: list[dict[str, Any]] | None = None,
    ) -> list[Row]:
        body: dict[str, Any] = {"interval": f"{iso(start_ms)}/{iso(end_ms)}"}
        if segment_filters:
            body["segmentFilters"] = segment_filters
        if conversation_filters:
            body["conversationFilters"] = conversation_filters
        q = parse_common(body, ASYNC_FIELDS)
        now_ms = self.clock.now_ms()
        matcher = Matcher(self.data, q, now_ms)
        out = []
        for day in days_touched(start_ms, end_ms):
            for row in self.data.day(day):
                start = row[S_START]
                if start >= end_ms or start > now_ms:
                    break
                if start >= start_ms and self.data.in_range(start) and matcher.matches(row):
                    out.append(row)
        return out

    def warm(self, start_ms: int, end_ms: int, with_attributes: bool = False) -> int:
        """Render and cache every record starting in [start, end) at the current clock."""
        now_ms = self.clock.now_ms()
        rows = self.ground_truth_rows(start_ms, end_ms)
        for row in rows:
            self.record_bytes(row, now_ms, with_attributes)
        return len(rows)

    def ground_truth(self, start_ms: int, end_ms: int, **filters: Any) -> list[dict[str, Any]]:
        now_ms = self.clock.now_ms()
        return [
            json.loads(self.record_bytes(r, now_ms))
            for r in self.ground_truth_rows(start_ms, end_ms, **filters)
        ]

    # ------------------------------------------------------------------ HTTP entry
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        path = urlsplit(target).path.rstrip("/") or "/"
        if path.startswith(CONTROL_PREFIX):
            status, raw = self.analyst.control(method, path, body)
            return Response(status, raw)
        if path.startswith("/_sim"):
            status, payload = handle_control(self, method, path, body)
            return Response(status, _json(payload))
        cid = correlation_id()
        template, targets = self._classify(method, path)
        fired = self.faults.decide(targets)
        resp = self._handle_api(method, target, path, headers, body, fired, cid)
        resp.headers.setdefault("ININ-Correlation-Id", cid)
        self.stats.request(template, resp.status if resp.action is None else 0)
        if resp.status == 429 and "Retry-After" in resp.headers:
            self.stats.retry_after(int(resp.headers["Retry-After"]))
        return resp

    @staticmethod
    def _classify(method: str, path: str) -> tuple[str, set[str]]:
        if path == "/oauth/token":
            return path, {"token"}
        if path == QUERY_PATH:
            return path, {"query", "api"}
        if path == f"{JOBS_PATH}/availability":
            return path, {"jobs", "jobs_availability", "api"}
        m = _JOB_RE.match(path)
        if m:
            one = (
                "jobs_results"
                if m.group(2)
                else ("jobs_delete" if method == "DELETE" else "jobs_status")
            )
            return JOBS_PATH + "/{jobId}" + (m.group(2) or ""), {"jobs", one, "api"}
        if path == JOBS_PATH:
            return path, {"jobs", "jobs_create", "api"}
        if path == MULTIGET_PATH:
            return path, {"multiget", "api"}
        if ONE_RE.match(path):
            return ONE_TEMPLATE, {"multiget", "api"}
        if path in ANALYST_PATHS:
            return path, {"api", fault_target(path)}
        return "other", {"api"}

    def _handle_api(  # noqa: PLR0917
        self,
        method: str,
        target: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        fired: list[FaultRule],
        cid: str,
    ) -> Response:
        out_headers: dict[str, str] = {}
        try:
            for rule in fired:
                if rule.kind in ("revoke", "latency", "hang", "reset"):
                    self.stats.fault(rule.kind)
                if rule.kind == "revoke":
                    self.tokens.revoke_all()
                elif rule.kind == "latency":
                    self.sleep(rule.latency_s)
                elif rule.kind == "hang":
                    self.sleep(min(rule.hang_s, self.config.max_hang_s))
                    return Response(0, action="close")
                elif rule.kind == "reset":
                    return Response(0, action="reset")
            if path == "/oauth/token":
                for rule in fired:
                    if rule.kind == "echo_auth":
                        self.stats.fault("echo_auth")
                        text, ctype = echo_auth_body(headers, body, rule.auth_status)
                        return Response(rule.auth_status, text, content_type=ctype)
                self._status_faults(fired)
                resp = self._token(method, headers, body)
                trickle = [r for r in fired if r.kind == "trickle"]
                return self._post_faults(resp, trickle) if trickle else resp
            try:
                token = self.tokens.check(headers.get("Authorization"))
            except ApiError:
                _ok, rl, _r = self.limiter.hit("unauthenticated")
                out_headers.update(rl)
                raise
            allowed, rl, retry = self.limiter.hit(token)
            out_headers.update(rl)
            if not allowed:
                raise rate_limited(retry)
            self._status_faults(fired)
            resp = self._route(method, target, path, body, self.tokens.client_of(token))
            resp.headers.update(out_headers)
            return self._post_faults(resp, fired)
        except ApiError as err:
            out_headers.update(err.headers)
            return Response(err.status, _json(err.body(cid)), out_headers)

    def _status_faults(self, fired: list[FaultRule]) -> None:
        for rule in fired:
            if rule.kind == "status":
                self.stats.fault("status")
                err = server_error(rule.status)
                if rule.retry_after is not None:
                    err.headers["Retry-After"] = str(rule.retry_after)
                raise err
            if rule.kind == "rate_limit":
                self.stats.fault("rate_limit")
                raise rate_limited(rule.retry_after if rule.retry_after is not None else 1)

    def _post_faults(self, resp: Response, fired: list[FaultRule]) -> Response:
        if resp.status != 200:
            return resp
        for rule in fired:
            if (
                rule.kind == "empty_page"
                and resp.body.startswith(b'{"conversations"')
                and b'"totalHits":' in resp.body
            ):
                total = json.loads(resp.body).get("totalHits", 0)
                resp.body = _json({"totalHits": total})
            elif rule.kind == "total_hits" and b'"totalHits":' in resp.body:
                head, _, tail = resp.body.rpartition(b'"totalHits":')
                true_total = int(tail.rstrip(b"}"))
                hits = round(true_total * rule.factor) + rule.drift * (rule.fired - 1)
                resp.body = head + b'"totalHits":%d}' % max(0, hits)
            elif rule.kind == "truncated":
                resp.body = resp.body[: max(1, len(resp.body) // 2)]
            elif rule.kind == "html":
                resp.body, resp.content_type = HTML_BODY, "text/html"
            elif rule.kind == "trickle":
                resp.trickle_s = rule.trickle_interval_s
            elif rule.kind == "oversize":
                big = oversize_body(resp.body, rule.size_mb)
                if big is None:
                    continue
                resp.stream, resp.length = big
                resp.chunked, resp.body = rule.chunked, b""
            else:
                continue
            self.stats.fault(rule.kind)
        return resp

    # ------------------------------------------------------------------ endpoints
    def _token(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        if method != "POST":
            raise ApiError(405, "method.not.allowed", "Use POST for /oauth/token.")
        try:
            token = self.tokens.issue(headers.get("Authorization"), body)
        except OAuthError as err:
            return Response(err.status, _json(err.body))
        self.stats.token()
        return Response(200, _json(token))

    def _route(
        self, method: str, target: str, path: str, body: bytes, client: str = ""
    ) -> Response:
        now_ms = self.clock.now_ms()
        answer = self.analyst.handle(method, target, path, body, now_ms)  # analyst.py
        if answer is not None:
            return Response(*answer)
        if path == QUERY_PATH:
            self._method(method, "POST")
            return self._query(body, now_ms)
        if path == JOBS_PATH:
            self._method(method, "POST")
            q = validate_async(_load(body))
            job = self.jobs.create(q, now_ms, client)
            return Response(202, _json({"jobId": job.job_id}))
        if path == f"{JOBS_PATH}/availability":
            self._method(method, "GET")
            return Response(
                200, _json({"dataAvailabilityDate": iso(self.jobs.availability_ms(now_ms))})
            )
        if path == MULTIGET_PATH or ONE_RE.match(path):
            self._method(method, "GET")
            return self._by_id(path, target, now_ms)
        m = _JOB_RE.match(path)
        if m and m.group(2):
            self._method(method, "GET")
            return self._job_results(m.group(1), target, now_ms)
        if m:
            if method == "DELETE":
                self.jobs.delete(m.group(1))
                return Response(204)
            self._method(method, "GET")
            return Response(200, _json(self.jobs.status(m.group(1), now_ms)))
        raise not_found(path)

    @staticmethod
    def _method(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(405, "method.not.allowed", f"Method {method} is not allowed here.")

    def _query(self, body: bytes, now_ms: int) -> Response:
        q = validate_sync(_load(body), self.config)
        prefix, total, count, hit = self.page(q, now_ms)
        self.stats.page(count, hit)
        rule = self.faults.data_rule("shift")
        if (
            rule is not None
            and q.page_number == rule.after_page
            and q.match_key not in rule.shifted
        ):
            rule.shifted.add(q.match_key)  # later requests of this query see the moved index
            self.stats.fault("shift")
        self._latency(count, q.page_number)
        return Response(200, prefix + b'"totalHits":%d}' % total)

    def _by_id(self, path: str, target: str, now_ms: int) -> Response:
        """Multi-get and single get: records rendered at the clock as the query renders them."""
        one = ONE_RE.match(path)
        ids = [one.group(1)] if one else parse_ids(target, self.config.multiget_max_ids)
        rows = self.index.lookup(ids, now_ms)
        self.stats.multiget(len(ids), len(rows))
        self._latency(len(rows))
        if one:
            if not rows:
                raise not_found(f"conversation {ids[0]}")
            return Response(200, self.record_bytes(rows[0], now_ms))
        if not rows:  # no known id: the key is omitted, as on an empty query page
            return Response(200, b"{}")
        return Response(
            200,
            b'{"conversations":[' + b",".join(self.record_bytes(r, now_ms) for r in rows) + b"]}",
        )

    def conversations_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        """Ground truth for the multi-get: the known ids' records at the current clock."""
        now_ms = self.clock.now_ms()
        return [json.loads(self.record_bytes(r, now_ms)) for r in self.index.lookup(ids, now_ms)]

    def open_rows(self, start_ms: int, end_ms: int) -> list[Row]:
        """Conversations started in [start, end) that have no conversationEnd at the clock."""
        now_ms = self.clock.now_ms()
        return [r for r in self.ground_truth_rows(start_ms, end_ms) if self.data.end_ms(r) > now_ms]

    def _job_results(self, job_id: str, target: str, now_ms: int) -> Response:
        params = {k: v[-1] for k, v in parse_qs(urlsplit(target).query).items()}
        job, page, cursor = self.jobs.results_page(job_id, params, now_ms)
        parts = []
        if page:
            parts.append(
                b'"conversations":['
                + b",".join(self.record_bytes(r, job.view_ms, True) for r in page)
                + b"]"
            )
        if cursor:
            parts.append(b'"cursor":' + _json(cursor))
        parts.append(b'"dataAvailabilityDate":' + _json(iso(job.available_ms)))
        self.stats.page(len(page), False)
        self._latency(len(page))
        return Response(200, b"{" + b",".join(parts) + b"}")

    def _latency(self, records: int, page_number: int = 1) -> None:
        delay = (
            self.config.latency_s
            + self.config.latency_per_record_s * records
            + self.config.latency_per_page_s * (page_number - 1)
        )
        if delay > 0:
            self.sleep(delay)


def _load(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request("The request body could not be parsed as JSON.") from exc


__all__ = ["JOBS_PATH", "QUERY_PATH", "Response", "SimApp"]
