"""Query request bodies: their grammar and limits, checked into a ``Query``.

The sync details query, the async job query and the user-details query (``users.py``) share
intervals, filters and paging. See docs/genesys-api.md §1.1, §1.4, §2 and §6; what a ``Query``
matches is ``query.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genesys_sim.config import SimConfig, parse_time
from genesys_sim.data import DAY_MS, to_ms
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


def check_enum(value: Any, allowed: list[str], type_name: str, field_name: str) -> str:
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
        check_enum(pred["type"], PREDICATE_TYPES, f"{model}.type", f"{where}.type")
    if "operator" in pred:
        check_enum(pred["operator"], OPERATORS, f"{model}.operator", f"{where}.operator")
    if "dimension" in pred:
        check_enum(pred["dimension"], sorted(dims), f"{model}.dimension", f"{where}.dimension")
    if "metric" in pred:
        check_enum(pred["metric"], sorted(metrics), f"{model}.metric", f"{where}.metric")
    if "propertyType" in pred:
        check_enum(pred["propertyType"], PROPERTY_TYPES, f"{model}.propertyType", where)
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


def validate_filters(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
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
        check_enum(flt.get("type"), FILTER_TYPES, f"{model}.type", f"{where}.type")
        for j, clause in enumerate(flt.get("clauses") or []):
            cwhere = f"{where}.clauses[{j}]"
            if not isinstance(clause, dict):
                raise bad_request(f"{cwhere} must be an object.", "bad.request", cwhere)
            check_enum(
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


def check_fields(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """A query body: a JSON object of known fields only (400 otherwise, as the API says)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for name in body:
        if name not in allowed:
            raise bad_request(f'Unrecognized field "{name}".', "bad.request", name)
    return body


def parse_common(body: Any, allowed: frozenset[str]) -> Query:
    body = check_fields(body, allowed)
    start_ms, end_ms = parse_interval(body.get("interval"))
    order = check_enum(body.get("order", "asc"), ORDERS, "SortOrder", "order")
    order_by = check_enum(body.get("orderBy", "conversationStart"), ORDER_BYS, "OrderBy", "orderBy")
    filters = {key: validate_filters(body, key) for key in FILTER_KEYS}
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
        check_enum(
            agg.get("type"),
            ["termFrequency", "numericRange"],
            "AnalyticsQueryAggregation.type",
            f"aggregations[{i}].type",
        )
        if agg["type"] == "termFrequency":
            check_enum(
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
