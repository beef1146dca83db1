"""Python checks for what a JSON schema cannot say: dates, durations, URLs and hosts (pure).

Each parser takes the value (already of the schema's type) and the setting name, and returns the
parsed value or raises ``ConfigError("<setting>: <what is wrong>")``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pendulum

from tap_genesys_analytics.errors import ConfigError

#: Dates before this are certainly typos (Genesys Cloud holds nothing that old).
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[T ])")


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
    """A plain (non-pendulum) aware UTC datetime; a naive one is taken as UTC."""
    utc = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def instant(text: str, name: str) -> datetime:
    result = to_utc(parse_datetime(text, name))
    if result < EARLIEST_DATE:
        raise ConfigError(name, f"{iso(result)} is before {EARLIEST_DATE.date()}")
    return result


def parse_duration(text: str, name: str) -> timedelta:
    """Parse an ISO-8601 duration without years/months (their length is ambiguous)."""
    original, text = text.strip(), text.strip().upper()
    try:
        parsed = pendulum.parse(text) if text.startswith("P") else None
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        parsed = None
    if not isinstance(parsed, pendulum.Duration):
        raise ConfigError(name, f"{original!r} is not an ISO-8601 duration (e.g. PT1H, P1D)")
    if parsed.years or parsed.months:
        raise ConfigError(name, f"{original!r}: use days/hours (P30D), not years or months")
    return timedelta(seconds=parsed.total_seconds())


def format_duration(value: timedelta) -> str:
    """A compact ISO-8601 rendering (P3D, PT1H, PT5M, P1DT12H)."""
    days, rest = value.days, int(value.total_seconds()) - value.days * 86400
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"


def duration_between(low: str, high: str) -> Callable[[str, str], timedelta]:
    def parse(text: str, name: str) -> timedelta:
        value = parse_duration(text, name)
        if not parse_duration(low, name) <= value <= parse_duration(high, name):
            raise ConfigError(
                name, f"must be between {low} and {high}, got {format_duration(value)}"
            )
        return value

    return parse


def credential(text: str, name: str) -> str:
    if not text.strip():
        raise ConfigError(name, "must not be empty or whitespace")
    return text.strip()


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 only (not ``evil.localhost``)."""
    host = host.strip("[]").lower()
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url(text: str, name: str) -> str:
    text = text.strip()
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # .port raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(name, f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("https", "http") or not host:
        raise ConfigError(name, f"must be an https:// URL with a host, got {text!r}")
    if parts.username or parts.password:
        raise ConfigError(name, "must not embed credentials; use client_id/client_secret")
    if parts.query or parts.fragment:
        raise ConfigError(name, "must not have a query string or fragment")
    if parts.scheme.lower() == "http" and not is_loopback_host(host):
        raise ConfigError(
            name, f"plain http is only allowed for loopback hosts, got host {host!r}; use https"
        )
    return text.rstrip("/")


def sibling_url(url: str, prefix: str, other: str, missing: str, given: str) -> str:
    """Derive login_url from api_url (or back): api.<domain> <-> login.<domain> (SDK rule)."""
    parts = urlsplit(url)
    host = parts.hostname or ""  # lower-cased by urlsplit, so API.example.com matches too
    if is_loopback_host(host):
        return url  # a local server (the simulator) serves /oauth/token and /api/v2 alike
    if not host.startswith(prefix):
        raise ConfigError(
            missing, f"is required when {given} is set to a host not starting with {prefix!r}"
        )
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=other + host[len(prefix) :] + port).geturl()
