"""The simulator application: one request from routing to answer (transport-agnostic).

``handle`` routes (``routes.py``), lets the fault rules decide (``faults.py``) and runs the
request: connection faults, the token grant or auth and rate limit, refusal faults, the
endpoint, body faults (each stage applied by ``effects.py``). Endpoints answer from the data
(``data.py``, ``query.py``, ``jobs.py``, ``multiget.py``, ``analyst.py``) serialised by
``pages.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from genesys_sim.analyst import CONTROL_PREFIX, AnalystApi
from genesys_sim.auth import OAuthError, TokenStore
from genesys_sim.clock import SimClock
from genesys_sim.config import SERVING_ONLY_FIELDS, SimConfig
from genesys_sim.control import handle_control
from genesys_sim.data import DataSet, Row, days_touched, iso
from genesys_sim.effects import Exchange, Stage, page_served
from genesys_sim.effects import apply as apply_effects
from genesys_sim.errors import ApiError, bad_request, correlation_id, not_found, rate_limited
from genesys_sim.faults import FaultInjector, FaultRule
from genesys_sim.jobs import JobStore
from genesys_sim.messages import Request, Response, to_json
from genesys_sim.multiget import ConversationIndex, parse_ids
from genesys_sim.pages import Pages
from genesys_sim.query import Matcher
from genesys_sim.ratelimit import RateLimiter
from genesys_sim.routes import JOBS_PATH, QUERY_PATH, Match, match
from genesys_sim.stats import Stats
from genesys_sim.validate import ASYNC_FIELDS, parse_common, validate_async, validate_sync

Endpoint = Callable[[Request, int], Response]


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
        self.pages = Pages(config, self.data, self.faults)
        self._records = self.pages.records  # (tests look at the caches)
        self._prefetch = self.pages.prefetcher
        #: every delay (latency settings, latency and hang faults); tests replace it
        self.sleep: Callable[[float], None] = time.sleep
        #: ENDPOINTS -> the method answering it
        self._endpoints: dict[str, Endpoint] = {
            "token": self._token,
            "query": self._query,
            "availability": self._availability,
            "job_create": self._job_create,
            "job_status": self._job_status,
            "job_delete": self._job_delete,
            "job_results": self._job_results,
            "by_ids": self._by_ids,
            "by_id": self._by_id,
            "user_details": self._user_details,
            "list": self._list,
        }

    def close(self) -> None:
        self.pages.close()

    def update_config(self, **changes: Any) -> None:
        self.config.update(**changes)
        if set(changes) - SERVING_ONLY_FIELDS:  # what is served may differ: drop cached bytes
            self.pages.version += 1

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
                start = row.start
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
            self.pages.record(row, now_ms, with_attributes)
        return len(rows)

    def ground_truth(self, start_ms: int, end_ms: int, **filters: Any) -> list[dict[str, Any]]:
        now_ms = self.clock.now_ms()
        return [
            json.loads(self.pages.record(r, now_ms))
            for r in self.ground_truth_rows(start_ms, end_ms, **filters)
        ]

    def conversations_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        """Ground truth for the multi-get: the known ids' records at the current clock."""
        now_ms = self.clock.now_ms()
        return [json.loads(self.pages.record(r, now_ms)) for r in self.index.lookup(ids, now_ms)]

    def open_rows(self, start_ms: int, end_ms: int) -> list[Row]:
        """Conversations started in [start, end) that have no conversationEnd at the clock."""
        now_ms = self.clock.now_ms()
        return [r for r in self.ground_truth_rows(start_ms, end_ms) if self.data.end_ms(r) > now_ms]

    # ------------------------------------------------------------------ HTTP entry
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        path = urlsplit(target).path.rstrip("/") or "/"
        if path.startswith(CONTROL_PREFIX):
            status, raw = self.analyst.control(method, path, body)
            return Response(status, raw)
        if path.startswith("/_sim"):
            status, payload = handle_control(self, method, path, body)
            return Response(status, to_json(payload))
        cid = correlation_id()
        found = match(method, path)
        fired = self.faults.decide(set(found.targets))
        req = Request(method, target, path, headers, body, found.groups)
        resp = self._exchange(req, found, fired, cid)
        resp.headers.setdefault("ININ-Correlation-Id", cid)
        self.stats.request(found.template, resp.status if resp.action is None else 0)
        if resp.status == 429 and "Retry-After" in resp.headers:
            self.stats.retry_after(int(resp.headers["Retry-After"]))
        return resp

    def _exchange(self, req: Request, found: Match, fired: list[FaultRule], cid: str) -> Response:
        """The request's stages; an ApiError anywhere becomes its ErrorBody answer."""
        ex = Exchange(self, req.headers, req.body, token_endpoint=found.public)
        out_headers: dict[str, str] = {}
        try:
            answer = apply_effects(Stage.CONNECTION, fired, ex)
            if answer is None and found.public:
                answer = apply_effects(Stage.CREDENTIALS, fired, ex)
            if answer is not None:
                return answer
            if not found.public:
                req.client = self._admit(req.headers, out_headers)
            apply_effects(Stage.REFUSAL, fired, ex)
            ex.response = self._dispatch(req, found)
            ex.response.headers.update(out_headers)
            return apply_effects(Stage.BODY, fired, ex) or ex.response
        except ApiError as err:
            out_headers.update(err.headers)
            return Response(err.status, to_json(err.body(cid)), out_headers)

    def _admit(self, headers: Mapping[str, str], out_headers: dict[str, str]) -> str:
        """Bearer token check and rate limit (its headers go to ``out_headers`` either way);
        returns the token's OAuth client id."""
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
        return self.tokens.client_of(token)

    def _dispatch(self, req: Request, found: Match) -> Response:
        now_ms = self.clock.now_ms()
        if not found.public:
            self.analyst.check_allowed(req.path)  # the 403 switch, any API path
        if found.route is None:
            raise not_found(req.path)
        if found.endpoint is None:
            message = found.route.not_allowed.format(method=req.method)
            raise ApiError(405, "method.not.allowed", message)
        return self._endpoints[found.endpoint](req, now_ms)

    # ------------------------------------------------------------------ endpoints
    def _token(self, req: Request, now_ms: int) -> Response:
        try:
            token = self.tokens.issue(req.headers.get("Authorization"), req.body)
        except OAuthError as err:
            return Response(err.status, to_json(err.body))
        self.stats.token()
        return Response(200, to_json(token))

    def _query(self, req: Request, now_ms: int) -> Response:
        q = validate_sync(_load(req.body), self.config)
        page, hit = self.pages.page(q, now_ms)
        self.stats.page(page.records, hit)
        page_served(self.faults, self.stats, q.match_key, q.page_number)
        self._latency(page.records, q.page_number)
        return Response(200, page.prefix + b'"totalHits":%d}' % page.total)

    def _availability(self, req: Request, now_ms: int) -> Response:
        available = iso(self.jobs.availability_ms(now_ms))
        return Response(200, to_json({"dataAvailabilityDate": available}))

    def _job_create(self, req: Request, now_ms: int) -> Response:
        job = self.jobs.create(validate_async(_load(req.body)), now_ms, req.client)
        return Response(202, to_json({"jobId": job.job_id}))

    def _job_status(self, req: Request, now_ms: int) -> Response:
        return Response(200, to_json(self.jobs.status(req.groups[0], now_ms)))

    def _job_delete(self, req: Request, now_ms: int) -> Response:
        self.jobs.delete(req.groups[0])
        return Response(204)

    def _job_results(self, req: Request, now_ms: int) -> Response:
        params = {k: v[-1] for k, v in parse_qs(urlsplit(req.target).query).items()}
        job, rows, cursor = self.jobs.results_page(req.groups[0], params, now_ms)
        body = self.pages.job_results(rows, job.view_ms, cursor, job.available_ms)
        self.stats.page(len(rows), False)
        self._latency(len(rows))
        return Response(200, body)

    def _by_ids(self, req: Request, now_ms: int) -> Response:
        """Multi-get: records rendered at the clock as the query renders them."""
        ids = parse_ids(req.target, self.config.multiget_max_ids)
        rows = self._lookup(ids, now_ms)
        return Response(200, self.pages.by_ids(rows, now_ms))

    def _by_id(self, req: Request, now_ms: int) -> Response:
        rows = self._lookup(list(req.groups), now_ms)
        if not rows:
            raise not_found(f"conversation {req.groups[0]}")
        return Response(200, self.pages.record(rows[0], now_ms))

    def _lookup(self, ids: list[str], now_ms: int) -> list[Row]:
        rows = self.index.lookup(ids, now_ms)
        self.stats.multiget(len(ids), len(rows))
        self._latency(len(rows))
        return rows

    def _user_details(self, req: Request, now_ms: int) -> Response:
        return Response(200, self.analyst.user_details(req.body, now_ms))

    def _list(self, req: Request, now_ms: int) -> Response:
        return Response(200, self.analyst.listing(req.path, req.target, now_ms))

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


__all__ = ["JOBS_PATH", "QUERY_PATH", "Request", "Response", "SimApp"]
