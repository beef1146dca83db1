"""``POST /api/v2/analytics/users/details/query``: agent status history (``UserDetailsQuery``).

Validation reuses the conversation query's helpers (``query.py``): interval, filters (with the
SDK vocabularies of the three user filter lists), order, paging, the 100,000-result cap.

Which periods an interval returns: every presence / routing-status period **overlapping** the
interval (``startTime < end`` and ``endTime > start``, an open period counting as running until
the simulated clock). A period crossing a window edge is returned for both windows: a client
de-duplicates by (userId, startTime). An open period has no ``endTime``.

Paging counts users (``userDetails`` entries), ordered by ``userId`` (``desc`` reverses,
``unordered`` = ``asc``); ``totalHits`` = users with at least one period left after filtering;
``userDetails`` is omitted on an empty page. Filters: ``userFilters`` select users (dimension
``userId``); ``presenceFilters`` / ``routingStatusFilters`` select the periods of their list,
and a user is returned only if every given filter list kept at least one of its periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genesys_sim.config import SimConfig
from genesys_sim.data import DAY_MS, DataSet, iso
from genesys_sim.errors import bad_request
from genesys_sim.query import filter_matches
from genesys_sim.reference import ReferenceTables
from genesys_sim.status import PRESENCE, Period, StatusHistory
from genesys_sim.validate import (
    ORDERS,
    check_enum,
    check_fields,
    parse_interval,
    parse_paging,
    validate_filters,
)

USER_QUERY_PATH = "/api/v2/analytics/users/details/query"
USER_FILTER_KEYS = ("userFilters", "presenceFilters", "routingStatusFilters")
AGGREGATION_KEYS = {
    "presenceAggregations": ("systemPresence", "organizationPresenceId"),
    "routingStatusAggregations": ("routingStatus",),
}
USER_QUERY_FIELDS = frozenset({"interval", *USER_FILTER_KEYS, "order", *AGGREGATION_KEYS, "paging"})


@dataclass
class UserQuery:
    start_ms: int
    end_ms: int
    order: str = "asc"
    filters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 25
    page_number: int = 1
    aggregations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def validate_user_query(body: Any, cfg: SimConfig) -> UserQuery:
    """Validate a ``UserDetailsQuery`` body; raise ``ApiError`` (400) like the real API."""
    body = check_fields(body, USER_QUERY_FIELDS)
    start_ms, end_ms = parse_interval(body.get("interval"))
    order = check_enum(body.get("order", "asc"), ORDERS, "SortOrder", "order")
    filters = {key: validate_filters(body, key) for key in USER_FILTER_KEYS}
    max_days = cfg.max_interval_days_filtered if any(filters.values()) else cfg.max_interval_days
    if end_ms - start_ms > max_days * DAY_MS:
        raise bad_request(
            "You must specify a search interval as part of your query that does not exceed "
            f"{max_days} days.",
            "bad.request",
            "interval",
        )
    size, number = parse_paging(body, cfg)
    aggregations: dict[str, list[dict[str, Any]]] = {}
    for key, dims in AGGREGATION_KEYS.items():
        aggs = body.get(key) or []
        if not isinstance(aggs, list):
            raise bad_request(f"{key} must be an array.", "bad.request", key)
        for i, agg in enumerate(aggs):
            if not isinstance(agg, dict):
                raise bad_request(f"{key}[{i}] must be an object.", "bad.request", key)
            check_enum(
                agg.get("type"),
                ["termFrequency", "numericRange"],
                "AnalyticsQueryAggregation.type",
                f"{key}[{i}].type",
            )
            if agg["type"] == "termFrequency":
                check_enum(
                    agg.get("dimension"),
                    list(dims),
                    "AnalyticsQueryAggregation.dimension",
                    f"{key}[{i}].dimension",
                )
        aggregations[key] = aggs
    return UserQuery(start_ms, end_ms, order, filters, size, number, aggregations)


class UserDetails:
    """Answers user-details queries from the status history."""

    def __init__(self, data: DataSet, status: StatusHistory, reference: ReferenceTables) -> None:
        self.data, self.status, self.reference = data, status, reference

    def _presence(self, p: Period, now_ms: int) -> dict[str, str]:
        system, definition = PRESENCE[p.code]
        out = {"startTime": iso(p.start)}
        if p.end <= now_ms:
            out["endTime"] = iso(p.end)
        out["systemPresence"] = system
        out["organizationPresenceId"] = self.reference.presence_ids[definition]
        return out

    @staticmethod
    def _routing(p: Period, now_ms: int) -> dict[str, str]:
        out = {"startTime": iso(p.start)}
        if p.end <= now_ms:
            out["endTime"] = iso(p.end)
        out["routingStatus"] = p.code
        return out

    def matched(self, q: UserQuery, now_ms: int) -> list[dict[str, Any]]:
        """Every user detail the query matches, in page order (records as served)."""
        user_f = q.filters.get("userFilters") or []
        pres_f = q.filters.get("presenceFilters") or []
        rout_f = q.filters.get("routingStatusFilters") or []
        agents = self.data.entities.users
        out = []
        for u in sorted(range(len(agents)), key=lambda u: agents[u].id):
            user_id = agents[u].id
            if not all(filter_matches(f, {"userId": user_id}) for f in user_f):
                continue
            presence_periods, routing_periods = self.status.periods(u, q.start_ms, q.end_ms, now_ms)
            presence = [self._presence(p, now_ms) for p in presence_periods]
            routing = [self._routing(p, now_ms) for p in routing_periods]
            presence = [p for p in presence if all(filter_matches(f, p) for f in pres_f)]
            routing = [r for r in routing if all(filter_matches(f, r) for f in rout_f)]
            if (pres_f and not presence) or (rout_f and not routing) or not (presence or routing):
                continue
            detail: dict[str, Any] = {"userId": user_id}
            if presence:
                detail["primaryPresence"] = presence
            if routing:
                detail["routingStatus"] = routing
            out.append(detail)
        if q.order == "desc":
            out.reverse()
        return out

    def page(self, q: UserQuery, now_ms: int) -> dict[str, Any]:
        """The response body of one page (``AnalyticsUserDetailsQueryResponse``)."""
        details = self.matched(q, now_ms)
        first = (q.page_number - 1) * q.page_size
        body: dict[str, Any] = {}
        page = details[first : first + q.page_size]
        if page:
            body["userDetails"] = page
        aggs = [
            _term_frequency(details, key, agg) for key, lst in q.aggregations.items() for agg in lst
        ]
        if aggs:
            body["aggregations"] = aggs
        body["totalHits"] = len(details)
        return body


def _term_frequency(details: list[dict[str, Any]], key: str, agg: dict[str, Any]) -> dict[str, Any]:
    """Periods counted per value of the dimension (top ``size``, default 10)."""
    if agg["type"] != "termFrequency":
        return {"type": "numericRange", "metric": agg.get("metric"), "results": []}
    dim = agg["dimension"]
    records = "primaryPresence" if key == "presenceAggregations" else "routingStatus"
    counts: dict[str, int] = {}
    for detail in details:
        for rec in detail.get(records, []):
            counts[rec[dim]] = counts.get(rec[dim], 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: int(agg.get("size") or 10)]
    return {
        "type": "termFrequency",
        "dimension": dim,
        "results": [{"value": v, "count": c} for v, c in top],
    }
