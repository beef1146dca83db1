"""Typed, validated tap settings: every value is checked before the first request.

`validate_settings(config)` turns the raw config mapping (config file, Meltano, or
TAP_GENESYS_ANALYTICS_* env vars, where everything may arrive as a string) into a frozen
`Settings`, or raises `ConfigError` whose message is one line: "<setting>: <what is wrong>".
No I/O. The client secret is never echoed, neither in errors nor in `repr(settings)`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pendulum

from tap_genesys_analytics.errors import ConfigError
from tap_genesys_analytics.regions import resolve_region

#: Session media types, as enumerated by the official SDK (`AnalyticsSession.mediaType`).
MEDIA_TYPES: tuple[str, ...] = (
    "callback",
    "chat",
    "cobrowse",
    "email",
    "internalmessage",
    "message",
    "screenmonitoring",
    "screenshare",
    "unknown",
    "video",
    "voice",
)
FILTER_TYPES = ("and", "or")
PREDICATE_TYPES = ("dimension", "property", "metric")
PREDICATE_OPERATORS = ("matches", "exists", "notExists")
PROPERTY_TYPES = ("bool", "integer", "real", "date", "string", "uuid")
RANGE_KEYS = ("gt", "gte", "lt", "lte")

DEFAULT_REGION = "us-east-1"
DEFAULT_PAGE_SIZE = 100
DEFAULT_WINDOW_SIZE = "P1D"
DEFAULT_LOOKBACK = "P3D"
DEFAULT_SETTLE_LAG = "PT5M"
DEFAULT_MAX_ONGOING_AGE = "P2D"
DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 8
DEFAULT_MAX_CONCURRENCY = 8  # keeps 300 requests/min busy up to ~1.5 s page latency
DEFAULT_REQUESTS_PER_MINUTE = 300

#: An end_date further ahead of "now" than this is treated as a typo.
MAX_END_DATE_AHEAD = timedelta(days=1)
#: Dates before this are certainly typos (Genesys Cloud holds nothing that old).
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[T ])")


@dataclass(frozen=True)
class Settings:
    """Resolved tap settings (aware UTC datetimes, parsed durations, region -> URLs)."""

    client_id: str
    client_secret: str = field(repr=False)
    api_url: str
    login_url: str
    region: str
    start_date: datetime
    end_date: datetime | None
    page_size: int = DEFAULT_PAGE_SIZE
    window_size: timedelta = timedelta(days=1)
    lookback: timedelta = timedelta(days=3)
    settle_lag: timedelta = timedelta(minutes=5)
    max_ongoing_age: timedelta = timedelta(days=2)
    media_types: tuple[str, ...] = ()
    segment_filters: tuple[dict, ...] = ()
    conversation_filters: tuple[dict, ...] = ()
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE

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


def media_type_filter(media_types: tuple[str, ...]) -> dict:
    """The segment filter the `media_types` shortcut stands for (an "or" of mediaType)."""
    return {
        "type": "or",
        "predicates": [
            {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": m}
            for m in media_types
        ],
    }


def validate_settings(config: Mapping[str, Any], *, now: datetime | None = None) -> Settings:
    """Validate and resolve the raw config; raise `ConfigError` on the first bad setting."""
    try:
        return _validate(config, now or datetime.now(timezone.utc))
    except ConfigError as exc:
        secret = config.get("client_secret")
        if isinstance(secret, str) and secret.strip() and secret.strip() in exc.problem:
            raise ConfigError(exc.setting, exc.problem.replace(secret.strip(), "***")) from None
        raise


def _validate(config: Mapping[str, Any], now: datetime) -> Settings:
    client_id = _credential(config, "client_id")
    client_secret = _credential(config, "client_secret")
    region, api_url, login_url = _endpoints(config)
    start_date = _datetime(config, "start_date", required=True)
    end_date = _datetime(config, "end_date", required=False)
    assert start_date is not None
    if start_date > now:
        raise ConfigError("start_date", f"{_iso(start_date)} is in the future")
    if end_date is not None:
        if end_date <= start_date:
            raise ConfigError(
                "end_date", f"{_iso(end_date)} must be after start_date {_iso(start_date)}"
            )
        if end_date > now + MAX_END_DATE_AHEAD:
            raise ConfigError(
                "end_date",
                f"{_iso(end_date)} is more than a day in the future; "
                "leave it unset to read up to now",
            )
    window_size = _duration(config, "window_size", DEFAULT_WINDOW_SIZE,
                            timedelta(hours=1), timedelta(days=7))
    if window_size > timedelta(days=1) and window_size % timedelta(days=1):
        raise ConfigError("window_size", "sizes above one day must be whole days, e.g. P2D")
    return Settings(
        client_id=client_id,
        client_secret=client_secret,
        api_url=api_url,
        login_url=login_url,
        region=region,
        start_date=start_date,
        end_date=end_date,
        page_size=_integer(config, "page_size", DEFAULT_PAGE_SIZE, 1, 100),
        window_size=window_size,
        lookback=_duration(config, "lookback", DEFAULT_LOOKBACK,
                           timedelta(0), timedelta(days=90)),
        settle_lag=_duration(config, "settle_lag", DEFAULT_SETTLE_LAG,
                             timedelta(0), timedelta(days=7)),
        max_ongoing_age=_duration(config, "max_ongoing_age", DEFAULT_MAX_ONGOING_AGE,
                                  timedelta(0), timedelta(days=90)),
        media_types=_media_types(config),
        segment_filters=_filters(config, "segment_filters"),
        conversation_filters=_filters(config, "conversation_filters"),
        request_timeout=_number(config, "request_timeout", DEFAULT_REQUEST_TIMEOUT, 600.0),
        max_retries=_integer(config, "max_retries", DEFAULT_MAX_RETRIES, 0, 20),
        max_concurrency=_integer(config, "max_concurrency", DEFAULT_MAX_CONCURRENCY, 1, 16),
        requests_per_minute=_integer(
            config, "requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE, 1, 10000
        ),
    )


# --- helpers -------------------------------------------------------------------------------


def _value(config: Mapping[str, Any], name: str) -> Any:
    """The configured value, with None and blank strings meaning "not set"."""
    value = config.get(name)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _kind(value: Any) -> str:
    return type(value).__name__


def _credential(config: Mapping[str, Any], name: str) -> str:
    raw = config.get(name)
    if raw is None:
        raise ConfigError(name, "is required")
    if not isinstance(raw, str):
        raise ConfigError(name, f"must be a string, got {_kind(raw)}")
    if not raw.strip():
        raise ConfigError(name, "must not be empty or whitespace")
    return raw.strip()


def _endpoints(config: Mapping[str, Any]) -> tuple[str, str, str]:
    raw_region = _value(config, "region")
    if raw_region is not None and not isinstance(raw_region, str):
        raise ConfigError("region", f"must be a string, got {_kind(raw_region)}")
    api_url = _url(config, "api_url")
    login_url = _url(config, "login_url")
    if api_url and not login_url:
        login_url = _sibling_url(api_url, "api.", "login.", "login_url", "api_url")
    elif login_url and not api_url:
        api_url = _sibling_url(login_url, "login.", "api.", "api_url", "login_url")
    if api_url and login_url:
        key = resolve_region(raw_region).key if raw_region else "custom"
        return key, api_url, login_url
    region = resolve_region(raw_region or DEFAULT_REGION)
    return region.key, region.api_url, region.login_url


def _url(config: Mapping[str, Any], name: str) -> str | None:
    raw = _value(config, name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ConfigError(name, f"must be a string URL, got {_kind(raw)}")
    text = raw.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(name, f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(name, f"must be an https:// URL with a host, got {text!r}")
    if parts.username or parts.password:
        raise ConfigError(name, "must not embed credentials; use client_id/client_secret")
    if parts.query or parts.fragment:
        raise ConfigError(name, "must not have a query string or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            name, f"plain http is only allowed for loopback hosts, got host {host!r}; use https"
        )
    return text.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sibling_url(url: str, prefix: str, other: str, missing: str, given: str) -> str:
    """Derive login_url from api_url (or back): api.<domain> <-> login.<domain> (SDK rule)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        return url  # a local server (the simulator) serves /oauth/token and /api/v2 alike
    if not host.startswith(prefix):
        raise ConfigError(
            missing, f"is required when {given} is set to a host not starting with {prefix!r}"
        )
    netloc = parts.netloc.replace(host, other + host[len(prefix):], 1)
    return parts._replace(netloc=netloc).geturl()


def _datetime(config: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    raw = _value(config, name)
    if raw is None:
        if required:
            raise ConfigError(name, "is required (ISO-8601 date or date-time, e.g. 2024-05-01)")
        return None
    if isinstance(raw, datetime):
        parsed = raw if raw.tzinfo else raw.replace(tzinfo=timezone.utc)
    elif isinstance(raw, str):
        parsed = parse_datetime(raw, name)
    else:
        raise ConfigError(name, f"must be an ISO-8601 date or date-time string, got {_kind(raw)}")
    result = to_utc(parsed)
    if result < EARLIEST_DATE:
        raise ConfigError(name, f"{_iso(result)} is before {EARLIEST_DATE.date()}")
    return result


def parse_datetime(text: str, name: str) -> datetime:
    """Parse an ISO-8601 date or date-time (date-only = midnight UTC; no offset = UTC)."""
    text = text.strip()
    if not _DATE_PREFIX.match(text):
        raise ConfigError(name, f"{text!r} is not an ISO-8601 date or date-time (YYYY-MM-DD...)")
    try:
        parsed = pendulum.parse(text, exact=True)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ConfigError(name, f"{text!r} is not a valid ISO-8601 date or date-time") from exc
    if isinstance(parsed, datetime):
        return parsed
    if isinstance(parsed, pendulum.Date):
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=timezone.utc)
    raise ConfigError(name, f"{text!r} is not an ISO-8601 date or date-time")


def to_utc(value: datetime) -> datetime:
    """A plain (non-pendulum) aware UTC datetime."""
    utc = value.astimezone(timezone.utc)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond,
        tzinfo=timezone.utc,
    )


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def parse_duration(text: str, name: str) -> timedelta:
    """Parse an ISO-8601 duration without years/months (their length is ambiguous)."""
    original, text = text.strip(), text.strip().upper()
    if not text.startswith("P"):
        raise ConfigError(name, f"{original!r} is not an ISO-8601 duration (e.g. PT1H, P1D)")
    try:
        parsed = pendulum.parse(text)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ConfigError(name, f"{original!r} is not a valid ISO-8601 duration") from exc
    if not isinstance(parsed, pendulum.Duration):
        raise ConfigError(name, f"{original!r} is not an ISO-8601 duration")
    if parsed.years or parsed.months:
        raise ConfigError(name, f"{original!r}: use days/hours (P30D), not years or months")
    return timedelta(seconds=parsed.total_seconds())


def _duration(
    config: Mapping[str, Any], name: str, default: str, low: timedelta, high: timedelta
) -> timedelta:
    raw = _value(config, name)
    if raw is None:
        raw = default
    if isinstance(raw, timedelta):
        value = raw
    elif isinstance(raw, str):
        value = parse_duration(raw, name)
    else:
        raise ConfigError(name, f"must be an ISO-8601 duration string, got {_kind(raw)}")
    if not low <= value <= high:
        raise ConfigError(
            name, f"must be between {format_duration(low)} and {format_duration(high)}, "
            f"got {format_duration(value)}"
        )
    return value


def format_duration(value: timedelta) -> str:
    """A compact ISO-8601 rendering (P3D, PT1H, PT5M, P1DT12H)."""
    days, rest = value.days, int(value.total_seconds()) - value.days * 86400
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"


def _integer(config: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = _value(config, name)
    if raw is None:
        return default
    integral = (
        (isinstance(raw, int) and not isinstance(raw, bool))
        or (isinstance(raw, float) and raw.is_integer())
        or (isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw) is not None)
    )
    if not integral:
        raise ConfigError(name, f"must be an integer between {low} and {high}, got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _number(config: Mapping[str, Any], name: str, default: float, high: float) -> float:
    raw = _value(config, name)
    if raw is None:
        return default
    value: float | None = None
    # singer-sdk reads JSON config floats as Decimal (Meltano `decimal` kind, config files)
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            value = None
    if value is None or math.isnan(value):
        raise ConfigError(name, f"must be a number of seconds, got {raw!r}")
    if not 0 < value <= high:
        raise ConfigError(name, f"must be more than 0 and at most {high:g} seconds, got {raw!r}")
    return value


def _json_text(raw: Any, name: str) -> Any:
    """Values may arrive as JSON text (env vars, Meltano); decode those."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigError(name, "is not valid JSON (expected a JSON array)") from None


def _media_types(config: Mapping[str, Any]) -> tuple[str, ...]:
    name = "media_types"
    raw = _value(config, name)
    if raw is None:
        return ()
    if isinstance(raw, str) and not raw.strip().startswith("["):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    raw = _json_text(raw, name)
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(name, f"must be an array of media types, got {_kind(raw)}")
    lookup = {m.lower(): m for m in MEDIA_TYPES}
    result: list[str] = []
    for item in raw:
        canonical = lookup.get(item.strip().lower()) if isinstance(item, str) else None
        if canonical is None:
            raise ConfigError(
                name, f"{item!r} is not a media type; allowed: {', '.join(MEDIA_TYPES)}"
            )
        if canonical not in result:
            result.append(canonical)
    return tuple(result)


def _filters(config: Mapping[str, Any], name: str) -> tuple[dict, ...]:
    raw = _value(config, name)
    if raw is None:
        return ()
    raw = _json_text(raw, name)
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(name, f"must be a JSON array of filter objects, got {_kind(raw)}")
    for index, item in enumerate(raw):
        _check_filter(item, name, f"[{index}]")
    return tuple(dict(item) for item in raw)


def _check_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], name: str, where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise ConfigError(
            name, f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def _check_enum(
    obj: Mapping[str, Any], key: str, allowed: tuple[str, ...], name: str, where: str,
    *, required: bool,
) -> None:
    if key not in obj:
        if required:
            raise ConfigError(name, f"{where}.{key} is required (one of {', '.join(allowed)})")
        return
    if obj[key] not in allowed:
        raise ConfigError(
            name, f"{where}.{key} must be one of {', '.join(allowed)}, got {obj[key]!r}"
        )


def _check_list(
    obj: Mapping[str, Any], key: str, name: str, where: str,
    check: Callable[[Any, str, str], None],
) -> int:
    items = obj.get(key)
    if items is None:
        return 0
    if not isinstance(items, list):
        raise ConfigError(name, f"{where}.{key} must be an array, got {_kind(items)}")
    for index, item in enumerate(items):
        check(item, name, f"{where}.{key}[{index}]")
    return len(items)


def _check_filter(item: Any, name: str, where: str) -> None:
    if not isinstance(item, Mapping):
        raise ConfigError(name, f"{where} must be a filter object, got {_kind(item)}")
    _check_keys(item, ("type", "clauses", "predicates"), name, where)
    _check_enum(item, "type", FILTER_TYPES, name, where, required=True)
    count = _check_list(item, "clauses", name, where, _check_clause)
    count += _check_list(item, "predicates", name, where, _check_predicate)
    if not count:
        raise ConfigError(name, f"{where} needs at least one clause or predicate")


def _check_clause(item: Any, name: str, where: str) -> None:
    if not isinstance(item, Mapping):
        raise ConfigError(name, f"{where} must be a clause object, got {_kind(item)}")
    _check_keys(item, ("type", "predicates"), name, where)
    _check_enum(item, "type", FILTER_TYPES, name, where, required=True)
    if not _check_list(item, "predicates", name, where, _check_predicate):
        raise ConfigError(name, f"{where}.predicates must be a non-empty array")


def _check_predicate(item: Any, name: str, where: str) -> None:
    if not isinstance(item, Mapping):
        raise ConfigError(name, f"{where} must be a predicate object, got {_kind(item)}")
    keys = ("type", "dimension", "metric", "property", "propertyType", "operator", "value",
            "range")
    _check_keys(item, keys, name, where)
    _check_enum(item, "type", PREDICATE_TYPES, name, where, required=False)
    _check_enum(item, "operator", PREDICATE_OPERATORS, name, where, required=False)
    _check_enum(item, "propertyType", PROPERTY_TYPES, name, where, required=False)
    for key in ("dimension", "metric", "property", "value"):
        if key in item and not isinstance(item[key], str):
            raise ConfigError(name, f"{where}.{key} must be a string, got {_kind(item[key])}")
    if not any(item.get(key) for key in ("dimension", "metric", "property")):
        raise ConfigError(name, f"{where} needs a dimension, metric or property")
    if "range" in item:
        _check_range(item["range"], name, f"{where}.range")
    if item.get("operator", "matches") == "matches" and "value" not in item and (
        "range" not in item
    ):
        raise ConfigError(name, f"{where} with operator 'matches' needs a value or a range")


def _check_range(item: Any, name: str, where: str) -> None:
    if not isinstance(item, Mapping) or not item:
        raise ConfigError(name, f"{where} must be an object with gt/gte/lt/lte")
    _check_keys(item, RANGE_KEYS, name, where)
    for key, bound in item.items():
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ConfigError(name, f"{where}.{key} must be a number, got {_kind(bound)}")
