"""Request validation, filters, interval matching and ordering.

See docs/genesys-api.md §1.1, §1.4, §2 and §6.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genesys_sim.config import SimConfig, parse_time
from genesys_sim.data import (
    DAY_MS,
    DataSet,
    Row,
    day_start_ms,
    days_touched,
    to_ms,
)
from genesys_sim.errors import PAGINATION_MESSAGE, bad_request, invalid_date, invalid_value

FILTER_KEYS = (
    "conversationFilters",
    "segmentFilters",
    "evaluationFilters",
    "surveyFilters",
    "resolutionFilters",
)
SYNC_FIELDS = frozenset({"interval", *FILTER_KEYS, "order", "orderBy", "aggregations", "paging"})
ASYNC_FIELDS = frozenset(
    {"interval", *FILTER_KEYS, "order", "orderBy", "limit", "startOfDayIntervalMatching"}
)
ORDERS = ["asc", "desc", "unordered"]
ORDER_BYS = ["conversationStart", "conversationEnd", "segmentStart", "segmentEnd"]
FILTER_TYPES = ["and", "or"]
PREDICATE_TYPES = ["dimension", "property", "metric"]
OPERATORS = ["matches", "exists", "notExists"]
PROPERTY_TYPES = ["bool", "integer", "real", "date", "string", "uuid"]


def _words(text: str) -> list[str]:
    return text.split()


# Enums copied from the official SDK models (PureCloudPlatformClientV2 *_detail_query_predicate).
SEGMENT_DIMENSIONS = frozenset(
    _words("""addressFrom addressTo agentAssistantId agentOwned ani
authenticated bargedParticipantId callbackNumber callbackScheduledTime canonicalExternalContactId
cleared coachedParticipantId conference deliveryPushed deliveryStatus destinationAddress
destinationConversationId detectedSpeechEnd detectedSpeechStart direction disconnectType dnis
edgeId engagementSource errorCode exitReason extendedDeliveryStatus externalContactId
externalOrganizationId flaggedReason flowId flowName flowOutType flowOutcome flowOutcomeId
flowOutcomeValue flowVersion groupId journeyActionId journeyActionMapId journeyCustomerId
journeyCustomerIdType journeyCustomerSessionId mediaCount mediaType messageType
monitoredParticipantId outboundCampaignId outboundContactId outboundContactListId participantName
protocolCallId provider purpose queueId recording remote remoteNameDisplayable requestedLanguageId
requestedRouting requestedRoutingSkillId scoredAgentId screenMonitoredUserId screenRecording
scriptId segmentEnd segmentType sessionDnis sipResponseCode skillExpressionId snippetRecording
subject teamId transferTargetAddress transferTargetName transferType usedRouting userId wrapUpCode
wrapUpNote""")
)
SEGMENT_METRICS = frozenset({"tSegmentDuration"})
CONVERSATION_DIMENSIONS = frozenset(
    _words("""accessAttribute conversationEnd conversationId
conversationInitiator conversationStart customerParticipation divisionId externalTag
mediaStatsMinConversationMos originatingDirection originatingSocialMediaPublic""")
)
CONVERSATION_METRICS = frozenset(
    _words("""nAgentDeclined nAlertExpired nBlindTransferred
nBotInteractions nCallbackAttempts nCallbackOverSla nCallbackScheduled nCfcOffered
nCobrowseSessions nConnected nConsult nConsultTransferred nConversations nError nFlow
nFlowMilestone nFlowOutcome nFlowOutcomeFailed nOffered nOutbound nOutboundAbandoned
nOutboundAttempted nOutboundConnected nOverSla nStateTransitionError nTakeover nTransferred
oAudioMessageCount oExternalAudioMessageCount oExternalMediaCount oFlowMilestone oMediaCount
oMessageCount oMessageSegmentCount oMessageTurn oSkillExpressionApplications tAbandon tAcd
tActiveCallback tActiveCallbackComplete tAcw tAgentResponseTime tAgentVideoConnected tAlert
tAnswered tAverageAgentResponseTime tAverageCustomerResponseTime tBarging tCallbackAbandon
tCallbackConnect tCallbackNotReached tCallbackVirtualWait tCfcAbandon tCfcAcd tCfcAnswered
tCfcFlowOut tCoaching tCoachingComplete tConnected tContacting tConversationDuration tDialing
tFirstConnect tFirstDial tFirstEngagement tFirstResponse tFlow tFlowDisconnect tFlowExit tFlowOut
tFlowOutcome tHandle tHeld tHeldComplete tIvr tMonitoring tMonitoringComplete tNotResponding tPark
tParkComplete tScreenMonitoring tShortAbandon tSnippetRecord tTalk tTalkComplete tTransmitting
tUserResponseTime tVoicemail""")
)
EVALUATION_DIMENSIONS = frozenset(
    _words("""assigneeApplicable assigneeId calibrationId
contextId deleted evaluationId evaluationStatus evaluatorId eventTime formId formName queueId
released rescored systemSubmitted userId""")
)
EVALUATION_METRICS = frozenset({"oTotalCriticalScore", "oTotalScore"})
SURVEY_DIMENSIONS = frozenset(
    _words("""eventTime queueId surveyCompletedDate surveyFormContextId
surveyFormId surveyId surveyPartialResponse surveyPromoterScore surveyStatus surveyType
userId""")
)
SURVEY_METRICS = frozenset({"oSurveyTotalScore"})
RESOLUTION_METRICS = frozenset({"nNextContactAvoided"})

FILTER_VOCAB = {
    "segmentFilters": ("SegmentDetailQueryPredicate", SEGMENT_DIMENSIONS, SEGMENT_METRICS),
    "conversationFilters": (
        "ConversationDetailQueryPredicate",
        CONVERSATION_DIMENSIONS,
        CONVERSATION_METRICS,
    ),
    "evaluationFilters": (
        "EvaluationDetailQueryPredicate",
        EVALUATION_DIMENSIONS,
        EVALUATION_METRICS,
    ),
    "surveyFilters": ("SurveyDetailQueryPredicate", SURVEY_DIMENSIONS, SURVEY_METRICS),
    "resolutionFilters": ("ResolutionDetailQueryPredicate", frozenset(), RESOLUTION_METRICS),
    # UserDetailsQuery (users.py)
    "userFilters": ("UserDetailQueryPredicate", frozenset({"userId"}), frozenset()),
    "presenceFilters": (
        "PresenceDetailQueryPredicate",
        frozenset({"organizationPresenceId", "systemPresence"}),
        frozenset(),
    ),
    "routingStatusFilters": (
        "RoutingStatusDetailQueryPredicate",
        frozenset({"routingStatus"}),
        frozenset(),
    ),
}
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
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$")


@dataclass
class Query:
    """A validated sync or async query."""

    start_ms: int
    end_ms: int
    order: str = "asc"
    order_by: str = "conversationStart"
    filters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 25
    page_number: int = 1
    aggregations: list[dict[str, Any]] = field(default_factory=list)
    limit: int | None = None
    start_of_day: bool = False
    match_key: str = ""

    @property
    def filtered(self) -> bool:
        return any(self.filters.get(k) for k in FILTER_KEYS)


# ------------------------------------------------------------------------------ validation
def parse_iso(value: Any, field_name: str) -> datetime:
    if not isinstance(value, str) or not _ISO_RE.match(value.strip()):
        raise invalid_date(field_name)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise invalid_date(field_name) from exc


def parse_interval(value: Any) -> tuple[int, int]:
    if value is None:
        raise bad_request("The interval field is required.", "bad.request", "interval")
    if not isinstance(value, str) or value.count("/") != 1:
        raise invalid_date("interval")
    start_text, end_text = value.split("/")
    start, end = parse_iso(start_text, "interval"), parse_iso(end_text, "interval")
    if end <= start:
        raise bad_request("The interval start must be before its end.", "bad.request", "interval")
    return to_ms(start), to_ms(end)


def _enum(value: Any, allowed: list[str], type_name: str, field_name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise invalid_value(value, type_name, allowed, field_name)
    return value


def _int(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"Field {field_name} must be an integer.", "bad.request", field_name)
    return value


def _validate_predicate(pred: Any, key: str, where: str) -> None:
    model, dims, metrics = FILTER_VOCAB[key]
    if not isinstance(pred, dict):
        raise bad_request(f"{where} must be an object.", "bad.request", where)
    allowed = {"type", "dimension", "metric", "operator", "value", "range"}
    if key == "segmentFilters":
        allowed |= {"propertyType", "property"}
    for name in pred:
        if name not in allowed:
            raise bad_request(f'Unrecognized field "{name}" in {model}.', "bad.request", where)
    if "type" in pred:
        _enum(pred["type"], PREDICATE_TYPES, f"{model}.type", f"{where}.type")
    if "operator" in pred:
        _enum(pred["operator"], OPERATORS, f"{model}.operator", f"{where}.operator")
    if "dimension" in pred:
        _enum(pred["dimension"], sorted(dims), f"{model}.dimension", f"{where}.dimension")
    if "metric" in pred:
        _enum(pred["metric"], sorted(metrics), f"{model}.metric", f"{where}.metric")
    if "propertyType" in pred:
        _enum(pred["propertyType"], PROPERTY_TYPES, f"{model}.propertyType", where)
    if "range" in pred:
        rng = pred["range"]
        if not isinstance(rng, dict) or any(
            k not in ("gt", "gte", "lt", "lte") or not isinstance(v, (int, float))
            for k, v in rng.items()
        ):
            raise bad_request(
                f"{where}.range must hold numeric gt/gte/lt/lte.", "bad.request", f"{where}.range"
            )
    if not any(k in pred for k in ("dimension", "metric", "property")):
        raise bad_request(f"{where} needs a dimension, metric or property.", "bad.request", where)
    operator = pred.get("operator", "matches")
    if operator == "matches" and "value" not in pred and "range" not in pred:
        raise bad_request(
            f"{where} needs a value or range for operator matches.", "bad.request", where
        )


def _validate_filters(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    filters = body.get(key)
    if filters is None:
        return []
    predicate_model, _dims, _metrics = FILTER_VOCAB[key]
    model = predicate_model.replace("Predicate", "Filter")
    if not isinstance(filters, list):
        raise bad_request(f"{key} must be an array.", "bad.request", key)
    for i, flt in enumerate(filters):
        where = f"{key}[{i}]"
        if not isinstance(flt, dict):
            raise bad_request(f"{where} must be an object.", "bad.request", where)
        for name in flt:
            if name not in ("type", "clauses", "predicates"):
                raise bad_request(f'Unrecognized field "{name}" in {model}.', "bad.request", where)
        _enum(flt.get("type"), FILTER_TYPES, f"{model}.type", f"{where}.type")
        for j, clause in enumerate(flt.get("clauses") or []):
            cwhere = f"{where}.clauses[{j}]"
            if not isinstance(clause, dict):
                raise bad_request(f"{cwhere} must be an object.", "bad.request", cwhere)
            _enum(
                clause.get("type"),
                FILTER_TYPES,
                model.replace("Filter", "Clause") + ".type",
                f"{cwhere}.type",
            )
            preds = clause.get("predicates")
            if not isinstance(preds, list) or not preds:
                raise bad_request(f"{cwhere}.predicates is required.", "bad.request", cwhere)
            for k, pred in enumerate(preds):
                _validate_predicate(pred, key, f"{cwhere}.predicates[{k}]")
        for k, pred in enumerate(flt.get("predicates") or []):
            _validate_predicate(pred, key, f"{where}.predicates[{k}]")
        if not flt.get("clauses") and not flt.get("predicates"):
            raise bad_request(f"{where} needs predicates or clauses.", "bad.request", where)
    return filters


def parse_common(body: Any, allowed: frozenset[str]) -> Query:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for name in body:
        if name not in allowed:
            raise bad_request(f'Unrecognized field "{name}".', "bad.request", name)
    start_ms, end_ms = parse_interval(body.get("interval"))
    order = _enum(body.get("order", "asc"), ORDERS, "SortOrder", "order")
    order_by = _enum(body.get("orderBy", "conversationStart"), ORDER_BYS, "OrderBy", "orderBy")
    filters = {key: _validate_filters(body, key) for key in FILTER_KEYS}
    q = Query(start_ms, end_ms, order, order_by, filters)
    return q


def parse_paging(body: dict[str, Any], cfg: SimConfig) -> tuple[int, int]:
    """``paging`` {pageSize, pageNumber} of a sync query body -> (size, number), checked."""
    paging = body.get("paging") or {}
    if not isinstance(paging, dict) or any(k not in ("pageSize", "pageNumber") for k in paging):
        raise bad_request("paging must be {pageSize, pageNumber}.", "bad.request", "paging")
    size = _int(paging.get("pageSize", cfg.default_page_size), "paging.pageSize")
    number = _int(paging.get("pageNumber", 1), "paging.pageNumber")
    if not 1 <= size <= cfg.max_page_size:
        raise bad_request(
            f"Page size must be between 1 and {cfg.max_page_size}.",
            "bad.request",
            "paging.pageSize",
        )
    if number < 1:
        raise bad_request("Page number must be 1 or greater.", "bad.request", "paging.pageNumber")
    if size * number > cfg.max_results:
        raise bad_request(PAGINATION_MESSAGE, "bad.request", "paging")
    return size, number


def validate_sync(body: Any, cfg: SimConfig) -> Query:
    """Validate a ``ConversationQuery`` body; raise ``ApiError`` (400) like the real API."""
    q = parse_common(body, SYNC_FIELDS)
    max_days = cfg.max_interval_days_filtered if q.filtered else cfg.max_interval_days
    if q.end_ms - q.start_ms > max_days * DAY_MS:
        raise bad_request(
            "You must specify a search interval as part of your query that does not exceed "
            f"{max_days} days.",
            "bad.request",
            "interval",
        )
    q.page_size, q.page_number = parse_paging(body, cfg)
    aggs = body.get("aggregations") or []
    if not isinstance(aggs, list):
        raise bad_request("aggregations must be an array.", "bad.request", "aggregations")
    for i, agg in enumerate(aggs):
        if not isinstance(agg, dict):
            raise bad_request("aggregation must be an object.", "bad.request", "aggregations")
        _enum(
            agg.get("type"),
            ["termFrequency", "numericRange"],
            "AnalyticsQueryAggregation.type",
            f"aggregations[{i}].type",
        )
        if agg["type"] == "termFrequency":
            _enum(
                agg.get("dimension"),
                sorted(SEGMENT_DIMENSIONS | CONVERSATION_DIMENSIONS),
                "AnalyticsQueryAggregation.dimension",
                f"aggregations[{i}].dimension",
            )
    q.aggregations = aggs
    q.match_key = _match_key(q, "sync")
    return q


def validate_async(body: Any) -> Query:
    """Validate an ``AsyncConversationQuery`` body (no paging, no aggregations)."""
    q = parse_common(body, ASYNC_FIELDS)
    if "limit" in body:
        q.limit = _int(body["limit"], "limit")
        if q.limit < 1:
            raise bad_request("limit must be 1 or greater.", "bad.request", "limit")
    sod = body.get("startOfDayIntervalMatching", False)
    if not isinstance(sod, bool):
        raise bad_request(
            "startOfDayIntervalMatching must be a boolean.",
            "bad.request",
            "startOfDayIntervalMatching",
        )
    q.start_of_day = sod
    q.match_key = _match_key(q, "async")
    return q


def _match_key(q: Query, kind: str) -> str:
    return json.dumps(
        [kind, q.start_ms, q.end_ms, q.order, q.order_by, q.filters, q.limit, q.start_of_day],
        sort_keys=True,
        separators=(",", ":"),
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
