"""What a ``Query`` (``validate.py``) matches: filters, interval matching, ordering,
aggregations. See docs/genesys-api.md §1.2, §1.3 and §2.
"""

from __future__ import annotations

from typing import Any

from genesys_sim.config import parse_time
from genesys_sim.data import DAY_MS, DataSet, Row, day_start_ms, days_touched, to_ms
from genesys_sim.validate import Query

FAST_SEGMENT_DIMS = frozenset(
    {
        "purpose",
        "mediaType",
        "direction",
        "segmentType",
        "queueId",
        "userId",
        "wrapUpCode",
        "disconnectType",
    }
)
FAST_CONVERSATION_DIMS = frozenset(
    {
        "conversationId",
        "originatingDirection",
        "divisionId",
        "conversationInitiator",
        "customerParticipation",
        "conversationStart",
        "conversationEnd",
    }
)


# ------------------------------------------------------------------------------ filters
def _value_matches(actual: Any, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, (list, tuple)):
        return any(_value_matches(a, wanted) for a in actual)
    if isinstance(actual, bool):
        actual = "true" if actual else "false"
    return str(actual).lower() == str(wanted).lower()


def _in_range(value: Any, rng: dict[str, float]) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if "gt" in rng and not v > rng["gt"]:
            continue
        if "gte" in rng and not v >= rng["gte"]:
            continue
        if "lt" in rng and not v < rng["lt"]:
            continue
        if "lte" in rng and not v <= rng["lte"]:
            continue
        return True
    return False


def predicate_matches(pred: dict[str, Any], dims: dict[str, Any]) -> bool:
    name = pred.get("dimension") or pred.get("metric")
    # custom segment properties (no dimension/metric): the simulator emits none
    actual = None if name is None else dims.get(name)
    operator = pred.get("operator", "matches")
    present = actual is not None and actual != []
    if operator == "exists":
        return present
    if operator == "notExists":
        return not present
    if "range" in pred:
        return present and _in_range(actual, pred["range"])
    return _value_matches(actual, pred.get("value", ""))


def _combine(kind: str, results: list[bool]) -> bool:
    return all(results) if kind == "and" else any(results)


def filter_matches(flt: dict[str, Any], dims: dict[str, Any]) -> bool:
    results = [predicate_matches(p, dims) for p in flt.get("predicates") or []]
    for clause in flt.get("clauses") or []:
        results.append(
            _combine(clause["type"], [predicate_matches(p, dims) for p in clause["predicates"]])
        )
    return _combine(flt["type"], results)


def _names(filters: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for flt in filters:
        preds = list(flt.get("predicates") or [])
        for clause in flt.get("clauses") or []:
            preds += clause["predicates"]
        for p in preds:
            names.add(p.get("dimension") or p.get("metric") or "<property>")
    return names


def segment_dims_from_record(conv: dict[str, Any]) -> list[dict[str, Any]]:
    """Every segment of a rendered record flattened with its participant/session dimensions."""
    rows = []
    for part in conv.get("participants", []):
        pdims = {k: v for k, v in part.items() if not isinstance(v, (list, dict))}
        for sess in part.get("sessions", []):
            sdims = {k: v for k, v in sess.items() if not isinstance(v, (list, dict))}
            sdims["requestedRouting"] = sess.get("requestedRoutings")
            sdims["callbackNumber"] = sess.get("callbackNumbers")
            sdims["destinationAddress"] = sess.get("destinationAddresses")
            for key, value in (sess.get("flow") or {}).items():
                if not isinstance(value, (list, dict)):
                    sdims[key] = value
            for seg in sess.get("segments", []):
                row = {**pdims, **sdims}
                row.update({k: v for k, v in seg.items() if not isinstance(v, (list, dict))})
                row["requestedRoutingSkillId"] = seg.get("requestedRoutingSkillIds")
                row["sipResponseCode"] = seg.get("sipResponseCodes")
                row["scoredAgentId"] = [a.get("scoredAgentId") for a in seg.get("scoredAgents", [])]
                if "segmentEnd" in seg:
                    end = to_ms(parse_time(seg["segmentEnd"]))
                    row["tSegmentDuration"] = end - to_ms(parse_time(seg["segmentStart"]))
                rows.append(row)
    return rows


def conversation_dims_from_record(conv: dict[str, Any]) -> dict[str, Any]:
    dims: dict[str, Any] = {k: v for k, v in conv.items() if not isinstance(v, (list, dict))}
    dims["divisionId"] = conv.get("divisionIds")
    dims["accessAttribute"] = conv.get("accessAttributes")
    metrics: dict[str, list[int]] = {}
    for part in conv.get("participants", []):
        for sess in part.get("sessions", []):
            for m in sess.get("metrics", []):
                metrics.setdefault(m["name"], []).append(m["value"])
    dims.update(metrics)
    return dims


class Matcher:
    """Evaluates a query's filters for skeleton rows at a given ``now``."""

    def __init__(self, data: DataSet, q: Query, now_ms: int) -> None:
        self.data, self.q, self.now = data, q, now_ms
        self.seg = q.filters.get("segmentFilters") or []
        self.conv = q.filters.get("conversationFilters") or []
        self.other = [
            f
            for k in ("evaluationFilters", "surveyFilters", "resolutionFilters")
            for f in q.filters.get(k) or []
        ]
        self.fast_seg = _names(self.seg) <= FAST_SEGMENT_DIMS
        self.fast_conv = _names(self.conv) <= FAST_CONVERSATION_DIMS

    def matches(self, row: Row) -> bool:
        if not (self.seg or self.conv or self.other):
            return True
        record = None
        if self.conv:
            if self.fast_conv:
                cdims: dict[str, Any] = self.data.conversation_dims(row, self.now)
            else:
                record = self.data.render(row, self.now)
                cdims = conversation_dims_from_record(record)
            if not all(filter_matches(f, cdims) for f in self.conv):
                return False
        if self.seg:
            if self.fast_seg:
                rows: list[dict[str, Any]] = list(self.data.segment_dims(row, self.now))
            else:
                record = record or self.data.render(row, self.now)
                rows = segment_dims_from_record(record)
            for flt in self.seg:
                if not any(filter_matches(flt, r) for r in rows):
                    return False
        # no evaluations/surveys/resolutions are generated: only notExists-style filters pass
        return all(filter_matches(f, {}) for f in self.other)


# ------------------------------------------------------------------------------ matching
def sync_candidates(data: DataSet, q: Query, now_ms: int, overlap: bool) -> list[Row]:
    """Sync rule (§1.2): start day among the days touched AND (optionally) activity overlap."""
    out: list[Row] = []
    matcher = Matcher(data, q, now_ms)
    for day in days_touched(q.start_ms, q.end_ms):
        if day_start_ms(day) > now_ms:
            break
        for row in data.day(day):
            start = row.start
            if start > now_ms:
                break
            if not data.in_range(start):
                continue
            if overlap:
                end = min(data.end_ms(row), now_ms)  # ongoing: active until now
                if start >= q.end_ms or end < q.start_ms:
                    continue
            if matcher.matches(row):
                out.append(row)
    return order_rows(data, out, q, now_ms)


def job_candidates(data: DataSet, q: Query, view_ms: int, available_ms: int) -> list[Row]:
    """Jobs rule (§2): any activity within the interval; started before data availability."""
    out: list[Row] = []
    matcher = Matcher(data, q, view_ms)
    lower = q.start_ms - data.max_span_days * DAY_MS
    if q.start_of_day:
        lower = day_start_ms(days_touched(q.start_ms, q.end_ms)[0])
    for day in days_touched(lower, min(q.end_ms, available_ms + 1)):
        for row in data.day(day):
            start = row.start
            if start > available_ms or start >= q.end_ms:
                break
            if start < lower or not data.in_range(start):
                continue
            if min(data.end_ms(row), view_ms) < q.start_ms:
                continue
            if matcher.matches(row):
                out.append(row)
    rows = order_rows(data, out, q, view_ms)
    return rows[: q.limit] if q.limit else rows


def order_rows(data: DataSet, rows: list[Row], q: Query, now_ms: int) -> list[Row]:
    """asc/desc by conversationStart (segmentStart ~ start) or conversationEnd (segmentEnd ~ end).

    Ongoing conversations (no end yet) sort after ended ones ascending. Ties: conversationId.
    """
    if q.order_by in ("conversationEnd", "segmentEnd"):
        inf = 1 << 62

        def end_key(r: Row) -> tuple[int, int, str]:
            end = data.end_ms(r)
            return (end if end <= now_ms else inf, r.start, r.conversation_id)

        rows = sorted(rows, key=end_key)
    else:
        rows = sorted(rows, key=lambda r: (r.start, r.conversation_id))
    if q.order == "desc":
        rows.reverse()
    return rows


def term_frequency(
    data: DataSet, rows: list[Row], agg: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """Simple termFrequency aggregation: conversations counted per dimension value."""
    dim = agg["dimension"]
    counts: dict[str, int] = {}
    for row in rows:
        if dim in FAST_CONVERSATION_DIMS:
            values = {data.conversation_dims(row, now_ms).get(dim)}
        elif dim in FAST_SEGMENT_DIMS:
            values = {d.get(dim) for d in data.segment_dims(row, now_ms)}
        else:
            rec = data.render(row, now_ms)
            values = {str(d.get(dim)) for d in segment_dims_from_record(rec) if d.get(dim)}
        for v in values - {None}:
            counts[str(v)] = counts.get(str(v), 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: int(agg.get("size") or 10)]
    return {
        "type": "termFrequency",
        "dimension": dim,
        "results": [{"value": v, "count": c} for v, c in top],
    }
