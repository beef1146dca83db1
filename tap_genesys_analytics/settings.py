"""The tap's settings: one table of descriptors, from which come the JSON schema and `Settings`.

Each :class:`Setting` names its JSON Schema type (with bounds and enums), default, description,
secrecy, examples and, for what a schema cannot say, a Python parser (regions and URLs,
durations, dates, the filter grammar). `config_schema()` is what the SDK publishes (`--about`,
Meltano) and validates built-in settings with; `validate_settings(config)` checks every value
against the same schema (type and range work done by the JSON Schema validator), runs the
parsers, and returns a frozen `Settings` or raises `ConfigError` ("<setting>: <what is wrong>",
one line, the client secret masked). Strings are accepted wherever a number or an array is
expected (environment variables, Meltano). No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from jsonschema.exceptions import best_match
from singer_sdk import typing as th
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from tap_genesys_analytics.errors import ConfigError
from tap_genesys_analytics.filters import media_type_filter, one_filter_as_list, parse_filters
from tap_genesys_analytics.parsers import (
    credential,
    duration_between,
    instant,
    iso,
    sibling_url,
    url,
)
from tap_genesys_analytics.regions import REGIONS, resolve_region

#: Session media types, as enumerated by the official SDK (`AnalyticsSession.mediaType`).
MEDIA_TYPES: tuple[str, ...] = (
    "callback", "chat", "cobrowse", "email", "internalmessage", "message", "screenmonitoring",
    "screenshare", "unknown", "video", "voice",
)  # fmt: skip
DEFAULT_REGION = "us-east-1"
#: An end_date further ahead of "now" than this is treated as a typo.
MAX_END_DATE_AHEAD = timedelta(days=1)
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_FILTER_HELP = (
    'Each filter is {"type": "and"|"or", "clauses": [...], "predicates": [...]}; a predicate has '
    "dimension/metric/property, operator (matches, exists, notExists) and value or range. "
    "A JSON string is accepted too."
)


@dataclass(frozen=True)
class Setting:
    """One setting: its schema type (bounds, enums), default, docs and Python-only checks."""

    name: str
    type: th.JSONTypeHelper
    description: str
    default: Any = None
    required: bool = False
    secret: bool = False
    examples: list[Any] | None = None
    #: what a schema cannot say: (value, setting name) -> parsed value; raises ConfigError
    parse: Callable[[Any, str], Any] | None = None
    #: accepted spellings made canonical before the schema check (e.g. "Voice" -> "voice")
    prepare: Callable[[Any], Any] | None = None

    def property(self) -> th.Property:
        return th.Property(
            self.name, self.type, required=self.required, default=self.default,
            description=self.description, secret=self.secret, examples=self.examples,
        )  # fmt: skip


# --- a small parser used by the table -------------------------------------------------------


def _lower_items(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [v.strip().lower() if isinstance(v, str) else v for v in value]


# --- the table ------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting("client_id", th.StringType(), "OAuth client ID of a Genesys Cloud Client Credentials "
            "client (needs analytics:conversationDetail:view).", required=True,
            parse=credential),
    Setting("client_secret", th.StringType(), "OAuth client secret of that client.",
            required=True, secret=True, parse=credential),
    Setting("region", th.StringType(), "Genesys Cloud region: AWS-style name (eu-west-1), SDK key "
            "(eu_west_1) or domain (mypurecloud.ie). One of: "
            + ", ".join(r.name for r in REGIONS.values()) + ".", default=DEFAULT_REGION,
            examples=["us-east-1", "eu_west_1", "mypurecloud.de"],
            parse=lambda v, n: resolve_region(v).key),
    Setting("api_url", th.StringType(), "Override of the region's API base URL (private endpoint, "
            "local simulator). https only, except plain http for loopback hosts.",
            examples=["https://api.mypurecloud.com", "http://127.0.0.1:8080"], parse=url),
    Setting("login_url", th.StringType(), "Override of the region's login base URL (token "
            "endpoint is {login_url}/oauth/token). Derived from api_url (api. -> login.) when "
            "omitted.", parse=url),
    Setting("start_date", th.DateTimeType(), "Read conversations that started at or after this "
            "instant (ISO-8601; a date alone means midnight UTC).", required=True,
            examples=["2024-05-01", "2024-05-01T00:00:00Z"], parse=instant),
    Setting("end_date", th.DateTimeType(), "Read conversations that started before this instant "
            "(exclusive). Default: now minus settle_lag.", parse=instant),
    Setting("page_size", th.IntegerType(minimum=1, maximum=100),
            "Conversations per page of the details query (1-100).", default=100),
    Setting("window_size", th.DurationType(), "Length of one query window, ISO-8601 duration from "
            "PT1H to P7D (above a day: whole days). Windows are aligned to UTC days.",
            default="P1D", parse=duration_between("PT1H", "P7D")),
    Setting("lookback", th.DurationType(), "How far before the bookmark each run re-reads, to "
            "pick up late changes (Genesys data can change for ~48 h+ after a conversation). "
            "ISO-8601, PT0S to P90D.", default="P3D", parse=duration_between("PT0S", "P90D")),
    Setting("settle_lag", th.DurationType(), "Never read or bookmark closer to now than this "
            "(ISO-8601, PT0S to P7D).", default="PT5M", parse=duration_between("PT0S", "P7D")),
    Setting("open_conversation_horizon", th.DurationType(), "Conversations seen open (no "
            "conversationEnd) are read again until they end or started this long ago, then "
            "abandoned with a warning (ISO-8601, PT0S to P366D).", default="P30D",
            parse=duration_between("PT0S", "P366D")),
    Setting("media_types", th.ArrayType(th.StringType(allowed_values=list(MEDIA_TYPES))),
            "Shortcut: only conversations with a segment of these media types (becomes an "
            "'or' mediaType segment filter).", examples=[["voice", "callback"]],
            parse=lambda v, n: tuple(dict.fromkeys(v)), prepare=_lower_items),
    Setting("segment_filters", th.ArrayType(th.ObjectType(additional_properties=True)),
            "Raw segmentFilters passed to the details query. " + _FILTER_HELP, parse=parse_filters,
            prepare=one_filter_as_list),
    Setting("conversation_filters", th.ArrayType(th.ObjectType(additional_properties=True)),
            "Raw conversationFilters passed to the details query. " + _FILTER_HELP,
            parse=parse_filters, prepare=one_filter_as_list),
    # number or numeric text: Meltano passes it as a string (see scripts/plugin_definitions.py)
    Setting("request_timeout", th.CustomType({
        "type": ["number", "string"], "exclusiveMinimum": 0, "maximum": 600,
        "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"}), "Overall deadline in seconds of one HTTP "
            "request: connect and the whole response body (more than 0, at most 600; "
            "decimals allowed).", default=60.0),
    Setting("max_retries", th.IntegerType(minimum=0, maximum=20),
            "Retries per request after 429/5xx/timeouts (0-20); tries = retries + 1.", default=8),
    Setting("max_concurrency", th.IntegerType(minimum=1, maximum=16), "Requests in flight at "
            "once (1-16); records are still emitted in order. To reach the rate budget: at "
            "least page latency (s) x requests_per_minute / 60 + 1.", default=8),
    Setting("requests_per_minute", th.IntegerType(minimum=1, maximum=10000), "Request budget "
            "shared by all workers (Genesys default: 300/min per client-credentials token).",
            default=300),
    Setting("max_response_mb", th.IntegerType(minimum=1, maximum=1024), "Largest response "
            "body accepted, in MB (1-1024); a bigger one is an error naming window and page.",
            default=64),
    Setting("extraction_mode", th.StringType(allowed_values=["auto", "query", "jobs"]),
            "How conversation_details reads: 'query' (the details query only), 'jobs' (async "
            "jobs for every window older than the jobs' dataAvailabilityDate minus job_settle, "
            "the query after it) or 'auto' (jobs only when that history spans 7 days or more).",
            default="auto"),
    Setting("max_concurrent_jobs", th.IntegerType(minimum=1, maximum=10), "Async jobs queued "
            "or running at once (1-10); fewer when the API refuses more (409/429).", default=3),
    Setting("job_page_size", th.IntegerType(minimum=1, maximum=10000), "Conversations per "
            "results page of an async job (1-10000); halved for the run when the API refuses "
            "it.", default=1000),
    Setting("job_max_windows", th.IntegerType(minimum=1, maximum=31), "Windows one async job "
            "covers (1-31, at most 7 days); 1 = one job per window.", default=7),
    Setting("job_settle", th.DurationType(), "Job records are taken as final when the "
            "conversation ended this long before the jobs' dataAvailabilityDate; newer windows "
            "go through the query, newer records are read again by id (ISO-8601, PT0S to P7D).",
            default="P1D", parse=duration_between("PT0S", "P7D")),
    Setting("max_page_depth", th.IntegerType(minimum=1, maximum=1000), "A details-query "
            "window announcing more pages than this is cut into shallower windows (deep pages "
            "are slow); 1-1000.", default=50),
)  # fmt: skip
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: settings that no longer exist, with what replaced them (named in the unknown-key warning)
REMOVED = {"max_ongoing_age": "open_conversation_horizon"}


def config_schema() -> dict[str, Any]:
    """The settings' JSON schema (the SDK adds its built-in settings to it)."""
    return th.PropertiesList(*(s.property() for s in SETTINGS)).to_dict()


# --- Settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Resolved tap settings (aware UTC datetimes, parsed durations, region -> URLs)."""

    client_id: str
    client_secret: str = field(repr=False)
    api_url: str
    login_url: str
    region: str  # canonical SDK key, "custom" for URL overrides without a region
    start_date: datetime
    end_date: datetime | None
    page_size: int
    window_size: timedelta
    lookback: timedelta
    settle_lag: timedelta
    open_conversation_horizon: timedelta
    media_types: tuple[str, ...]
    segment_filters: tuple[dict, ...]
    conversation_filters: tuple[dict, ...]
    request_timeout: float
    max_retries: int
    max_concurrency: int
    requests_per_minute: int
    max_response_mb: int
    extraction_mode: str = "auto"
    max_concurrent_jobs: int = 3
    job_page_size: int = 1000
    job_max_windows: int = 7
    job_settle: timedelta = timedelta(days=1)
    max_page_depth: int = 50

    def query_segment_filters(self) -> list[dict]:
        """`segmentFilters` for the query body: raw filters plus the media-type shortcut."""
        filters = [dict(f) for f in self.segment_filters]
        if self.media_types:
            filters.append(media_type_filter(self.media_types))
        return filters

    def query_conversation_filters(self) -> list[dict]:
        """`conversationFilters` for the query body."""
        return [dict(f) for f in self.conversation_filters]

    @property
    def has_filters(self) -> bool:
        """True when the query carries filters (the API then allows 31-day intervals)."""
        return bool(self.segment_filters or self.conversation_filters or self.media_types)

    @property
    def max_response_bytes(self) -> int:
        """``max_response_mb`` in bytes."""
        return self.max_response_mb * 1024 * 1024


def validate_settings(config: Mapping[str, Any], *, now: datetime | None = None) -> Settings:
    """Validate and resolve the raw config; raise `ConfigError` on the first bad setting."""
    try:
        values = {s.name: check_setting(s, config.get(s.name)) for s in SETTINGS}
        region_given = coerce({"type": "string"}, config.get("region"), "region") is not None
        return _resolve(values, region_given, now or datetime.now(timezone.utc))
    except ConfigError as exc:
        secret = config.get("client_secret")
        if isinstance(secret, str) and secret.strip() and secret.strip() in exc.problem:
            raise ConfigError(exc.setting, exc.problem.replace(secret.strip(), "***")) from None
        raise


def check_setting(setting: Setting, raw: Any) -> Any:
    """One setting: text as its type, schema check, then its parser; None/blank -> default."""
    value = coerce(setting.type.type_dict, raw, setting.name)
    if value is None:
        if setting.required:
            raise ConfigError(setting.name, "is required")
        value = setting.default
    else:
        if setting.prepare is not None:
            value = setting.prepare(value)
        schema_error(setting.type.type_dict, value, setting.name)
    if setting.parse is None or value is None:
        return value
    return setting.parse(value, setting.name)


def coerce(schema: Mapping[str, Any], raw: Any, name: str) -> Any:
    """Text (env vars, Meltano) as the schema's type; None or blank text means "not set"."""
    types = set(th_types(schema))
    if isinstance(raw, Decimal):  # singer-sdk reads JSON config numbers as Decimal
        return int(raw) if raw == raw.to_integral_value() else float(raw)
    if isinstance(raw, datetime):  # programmatic use
        return raw.isoformat()
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text:
        return None
    if "integer" in types and _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            return raw
    if "boolean" in types:
        return text.lower() in ("true", "1", "yes", "on")
    if "array" in types and not text.startswith("[") and name == "media_types":
        return [part.strip() for part in text.split(",") if part.strip()]
    if types & {"array", "object"}:
        try:
            return json.loads(text)
        except ValueError:
            kind = "array" if "array" in types else "object"
            raise ConfigError(name, f"is not valid JSON (expected a JSON {kind})") from None
    return raw


def schema_error(schema: dict[str, Any], value: Any, name: str) -> None:
    """The JSON Schema validator's verdict on one value, as a one-line ConfigError."""
    error = best_match(DEFAULT_JSONSCHEMA_VALIDATOR(schema).iter_errors(value))
    if error is None:
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = f"{where} " if where else ""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    bounds = (
        f"more than {low} and at most {schema.get('maximum')}"
        if "exclusiveMinimum" in schema
        else f"between {low} and {schema.get('maximum')}"
    )
    bounds = bounds if low is not None else ""
    kind, got = error.validator, error.instance
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        problem = f"must be {bounds}, got {got!r}"
    elif kind in ("type", "pattern"):
        expected = " or ".join(sorted(set(th_types(error.schema)) - {"null"}))
        if kind == "pattern" or "number" in expected:
            expected = "number"
        what = f"{expected} {bounds}".strip()
        problem = f"{where}must be a{'n' if what[0] in 'aeiou' else ''} {what}, got {got!r}"
    elif kind == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        problem = f"{where}{got!r} is not allowed; allowed: {allowed}"
    else:
        problem = f"{where}{error.message}"
    raise ConfigError(name, problem)


def th_types(schema: Mapping[str, Any]) -> list[str]:
    types = schema.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _resolve(v: dict[str, Any], region_given: bool, now: datetime) -> Settings:
    """Cross-setting rules: endpoints from region/overrides, date order, whole-day windows."""
    api_url, login_url = v.pop("api_url"), v.pop("login_url")
    if api_url and not login_url:
        login_url = sibling_url(api_url, "api.", "login.", "login_url", "api_url")
    elif login_url and not api_url:
        api_url = sibling_url(login_url, "login.", "api.", "api_url", "login_url")
    if not api_url:
        api_url, login_url = REGIONS[v["region"]].api_url, REGIONS[v["region"]].login_url
    elif not region_given:
        v["region"] = "custom"
    for key in ("media_types", "segment_filters", "conversation_filters"):
        v[key] = v[key] or ()
    start, end = v["start_date"], v["end_date"]
    if start > now:
        raise ConfigError("start_date", f"{iso(start)} is in the future")
    if end is not None and end <= start:
        raise ConfigError("end_date", f"{iso(end)} must be after start_date {iso(start)}")
    if end is not None and end > now + MAX_END_DATE_AHEAD:
        raise ConfigError(
            "end_date",
            f"{iso(end)} is more than a day in the future; leave it unset to read up to now",
        )
    if v["window_size"] > timedelta(days=1) and v["window_size"] % timedelta(days=1):
        raise ConfigError("window_size", "sizes above one day must be whole days, e.g. P2D")
    v["request_timeout"] = float(v["request_timeout"])
    return Settings(api_url=api_url, login_url=login_url, **v)
