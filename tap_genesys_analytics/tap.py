"""tap-genesys-analytics: Genesys Cloud conversation detail records as a Singer tap."""

from __future__ import annotations

import copy
import gc
import io
import json
import os
import re
import sys
import typing as t

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.plugin_base import JSONSchemaValidator, SingerCommand, _format_validation_error
from singer_sdk.singerlib.encoding import GenericSingerWriter

from tap_genesys_analytics.errors import AuthError, ConfigError, GenesysAPIError
from tap_genesys_analytics.regions import REGIONS
from tap_genesys_analytics.settings import (
    DEFAULT_LOOKBACK,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_ONGOING_AGE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_REGION,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_SETTLE_LAG,
    DEFAULT_WINDOW_SIZE,
    MEDIA_TYPES,
    Settings,
    format_duration,
    parse_datetime,
    validate_settings,
)

#: singer-sdk[msgspec] encodes RECORD lines faster than the stdlib writer (docs/benchmarks.md)
_MessageWriter: type[GenericSingerWriter] = Tap.message_writer_class
try:
    from tap_genesys_analytics.writer import BufferedMsgSpecWriter

    _MessageWriter = BufferedMsgSpecWriter
except ImportError:  # pragma: no cover - singer-sdk installed without its msgspec extra
    pass

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

STREAM_NAME = "conversation_details"
CONFIG_ERROR_EXIT_CODE = 2
RUNTIME_ERROR_EXIT_CODE = 1
GC_GEN0_THRESHOLD = 10_000  # allocations between gen-0 collections (default 700)

_FILTER_HELP = (
    "Each filter is {\"type\": \"and\"|\"or\", \"clauses\": [...], \"predicates\": [...]}; "
    "a predicate has dimension/metric/property, operator (matches, exists, notExists) and "
    "value or range. A JSON string is accepted too."
)

#: Our own settings (the SDK adds stream_maps, flattening, ... on top).
SETTINGS_SCHEMA = th.PropertiesList(
    th.Property(
        "client_id", th.StringType, required=True,
        description="OAuth client ID of a Genesys Cloud Client Credentials client "
        "(needs analytics:conversationDetail:view).",
    ),
    th.Property(
        "client_secret", th.StringType, required=True, secret=True,
        description="OAuth client secret of that client.",
    ),
    th.Property(
        "region", th.StringType, default=DEFAULT_REGION,
        description="Genesys Cloud region: AWS-style name (eu-west-1), SDK key (eu_west_1) or "
        "domain (mypurecloud.ie). One of: " + ", ".join(r.name for r in REGIONS.values()) + ".",
        examples=["us-east-1", "eu_west_1", "mypurecloud.de"],
    ),
    th.Property(
        "api_url", th.StringType,
        description="Override of the region's API base URL (private endpoint, local simulator). "
        "https only, except plain http for loopback hosts.",
        examples=["https://api.mypurecloud.com", "http://127.0.0.1:8080"],
    ),
    th.Property(
        "login_url", th.StringType,
        description="Override of the region's login base URL (token endpoint is "
        "{login_url}/oauth/token). Derived from api_url (api. -> login.) when omitted.",
    ),
    th.Property(
        "start_date", th.DateTimeType, required=True,
        description="Read conversations that started at or after this instant "
        "(ISO-8601; a date alone means midnight UTC).",
        examples=["2024-05-01", "2024-05-01T00:00:00Z"],
    ),
    th.Property(
        "end_date", th.DateTimeType,
        description="Read conversations that started before this instant (exclusive). "
        "Default: now minus settle_lag.",
    ),
    th.Property(
        "page_size", th.IntegerType(minimum=1, maximum=100), default=DEFAULT_PAGE_SIZE,
        description="Conversations per page of the details query (1-100).",
    ),
    th.Property(
        "window_size", th.DurationType, default=DEFAULT_WINDOW_SIZE,
        description="Length of one query window, ISO-8601 duration from PT1H to P7D (above a "
        "day: whole days). Windows are aligned to UTC days.",
    ),
    th.Property(
        "lookback", th.DurationType, default=DEFAULT_LOOKBACK,
        description="How far before the bookmark each run re-reads, to pick up late changes "
        "(Genesys data can change for ~48 h+ after a conversation). ISO-8601, PT0S to P90D.",
    ),
    th.Property(
        "settle_lag", th.DurationType, default=DEFAULT_SETTLE_LAG,
        description="Never read or bookmark closer to now than this (ISO-8601, PT0S to P7D).",
    ),
    th.Property(
        "max_ongoing_age", th.DurationType, default=DEFAULT_MAX_ONGOING_AGE,
        description="An ongoing conversation (no conversationEnd) holds the bookmark back "
        "only while it started less than this long ago (ISO-8601, PT0S to P90D).",
    ),
    th.Property(
        "media_types", th.ArrayType(th.StringType(allowed_values=list(MEDIA_TYPES))),
        description="Shortcut: only conversations with a segment of these media types "
        "(becomes an 'or' mediaType segment filter).",
        examples=[["voice", "callback"]],
    ),
    th.Property(
        "segment_filters", th.ArrayType(th.ObjectType(additional_properties=True)),
        description="Raw segmentFilters passed to the details query. " + _FILTER_HELP,
    ),
    th.Property(
        "conversation_filters", th.ArrayType(th.ObjectType(additional_properties=True)),
        description="Raw conversationFilters passed to the details query. " + _FILTER_HELP,
    ),
    th.Property(
        "request_timeout", th.NumberType, default=DEFAULT_REQUEST_TIMEOUT,
        description="Seconds to wait for one HTTP response (more than 0, at most 600).",
    ),
    th.Property(
        "max_retries", th.IntegerType(minimum=0, maximum=20), default=DEFAULT_MAX_RETRIES,
        description="Retries per request after 429/5xx/timeouts (0-20); tries = retries + 1.",
    ),
    th.Property(
        "max_concurrency", th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_MAX_CONCURRENCY,
        description="Requests in flight at once (1-16); records are still emitted in order. "
        "To reach the rate budget: at least page latency (s) x requests_per_minute / 60 + 1.",
    ),
    th.Property(
        "requests_per_minute", th.IntegerType(minimum=1, maximum=10000),
        default=DEFAULT_REQUESTS_PER_MINUTE,
        description="Request budget shared by all workers (Genesys default: 300/min per "
        "client-credentials token).",
    ),
).to_dict()

_INTEGER_SETTINGS = ("page_size", "max_retries", "max_concurrency", "requests_per_minute")
_DURATION_SETTINGS = ("window_size", "lookback", "settle_lag", "max_ongoing_age")
_SDK_ERROR_PATH = re.compile(r" in config\['([^']+)'\]")
_SDK_REQUIRED = re.compile(r"^'([^']+)' is a required property")


class TapGenesysAnalytics(Tap):
    """Genesys Cloud analytics conversation detail records (sync details query)."""

    name = "tap-genesys-analytics"
    message_writer_class = _MessageWriter
    config_jsonschema = copy.deepcopy(SETTINGS_SCHEMA)  # the SDK adds its settings to it
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (validated once; raises ConfigError if invalid)."""
        if self._settings is None:
            self._settings = validate_settings(self.config)
        return self._settings

    def discover_streams(self) -> list[Stream]:
        """The one stream, ``conversation_details``."""
        from tap_genesys_analytics.streams import ConversationDetailsStream

        return [ConversationDetailsStream(self)]

    # --- validation -------------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Our checks first (one line naming the setting), then the SDK's JSON schema."""
        try:
            self._settings = validate_settings(self._config)
            _normalize(self._config, self._settings)
            try:
                return super()._validate_config(raise_errors=True)
            except ConfigValidationError as exc:
                raise _from_schema_errors(exc.errors, self._config) from None
        except ConfigError as exc:
            if raise_errors:
                raise
            self.logger.warning("Config problem (ignored in this mode): %s", exc)
            return [str(exc)]

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:
        """TAP_GENESYS_ANALYTICS_* variables; our settings stay raw strings until validated."""
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        ours = SETTINGS_SCHEMA["properties"]
        result: dict[str, t.Any] = {}
        for key, spec in schema["properties"].items():
            if key in ours:
                continue
            try:  # the SDK's own parsing (and .env loading) for its built-in settings
                result |= parse_environment_config(
                    {"properties": {key: spec}}, cls._env_var_prefix
                )
            except ValueError as exc:
                variable = cls._env_var_prefix + key.upper()
                raise ConfigError(key, f"{variable} cannot be parsed ({exc})") from None
        for key in ours:
            value = os.environ.get(cls._env_var_prefix + key.upper())
            if value is not None:
                result[key] = value
        return result

    # --- command line -----------------------------------------------------------------------

    @classmethod
    def check_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Our checks, then the SDK's JSON schema (incl. stream maps etc.) on a copy."""
        normalized = dict(config)
        settings = validate_settings(normalized)
        _normalize(normalized, settings)
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        errors = [
            _format_validation_error(e)
            for e in JSONSchemaValidator(schema).iter_errors(normalized)
        ]
        if errors:
            raise _from_schema_errors(errors, normalized)
        return settings

    @classmethod
    def preflight(
        cls, config: t.Any, state: t.IO[str] | None = None, catalog: t.IO[str] | None = None,
    ) -> tuple[io.StringIO | None, io.StringIO | None]:
        """Check config, state and catalog before anything else runs or logs."""
        raw = dict(config.config) if config is not None else {}
        if config is not None and config.parse_env:
            raw.update(cls._env_var_config)
        cls.check_config(raw)
        state_text = state.read() if state is not None else None
        if state_text is not None:
            check_state(state_text)
        catalog_text = catalog.read() if catalog is not None else None
        if catalog_text is not None:
            _load_json_object(catalog_text, "catalog")
        return (
            io.StringIO(state_text) if state_text is not None else None,
            io.StringIO(catalog_text) if catalog_text is not None else None,
        )

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """Sync, after checking every input (bad input: one line, exit 2, no request)."""
        if not about:
            state, catalog = cls.preflight(config, state, catalog)
            tune_gc()
        super().invoke(
            about=about, about_format=about_format, config=config, state=state, catalog=catalog
        )

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: check the config first, like a sync."""
        if value != "disabled":
            cls.preflight(ctx.params.get("config"))
        super().cb_test(ctx, param, value)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK command, with our one-line error handling around it."""
        command = super().get_singer_command()
        command.__class__ = _GenesysCommand
        return command


class _GenesysCommand(SingerCommand):
    """Turns known failures into one stderr line and an exit code (no traceback)."""

    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            return super().main(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"{self.name}: config error: {exc}", err=True)
            sys.exit(CONFIG_ERROR_EXIT_CODE)
        except AuthError as exc:
            click.echo(f"{self.name}: authentication error: {exc}", err=True)
            sys.exit(RUNTIME_ERROR_EXIT_CODE)
        except GenesysAPIError as exc:
            click.echo(f"{self.name}: error: {exc}", err=True)
            sys.exit(RUNTIME_ERROR_EXIT_CODE)


# --- helpers -----------------------------------------------------------------------------


def tune_gc() -> None:
    """Fewer cyclic-GC passes during a sync (measured: ~10 % less CPU per record).

    Every page decodes thousands of small dicts and lists (acyclic, freed by reference
    counting); with the default gen-0 threshold (700 allocations) the collector runs several
    times per page and keeps re-scanning the prefetched pages. Objects that exist before the
    sync (modules, schema, settings) are frozen out of the collector's scans.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


def _normalize(config: dict[str, t.Any], settings: Settings) -> None:
    """Rewrite accepted spellings (strings from env vars, JSON text) as schema-typed values."""
    def present(key: str) -> bool:
        value = config.get(key)
        return value is not None and not (isinstance(value, str) and not value.strip())

    for key in _INTEGER_SETTINGS:
        if present(key):
            config[key] = getattr(settings, key)
    if present("request_timeout"):
        config["request_timeout"] = settings.request_timeout
    for key in _DURATION_SETTINGS:
        if present(key):
            config[key] = format_duration(getattr(settings, key))
    for key in ("media_types", "segment_filters", "conversation_filters"):
        if present(key):
            config[key] = [dict(v) if isinstance(v, dict) else v for v in getattr(settings, key)]
    config["start_date"] = settings.start_date.isoformat()
    if settings.end_date is not None:
        config["end_date"] = settings.end_date.isoformat()
    elif "end_date" in config:
        config.pop("end_date")
    for key in ("client_id", "client_secret"):
        config[key] = getattr(settings, key)


def _from_schema_errors(errors: list[str], config: t.Mapping[str, t.Any]) -> ConfigError:
    """The first JSON-schema error as a ConfigError naming the setting (secret masked)."""
    message = errors[0] if errors else "Config validation failed"
    match = _SDK_ERROR_PATH.search(message) or _SDK_REQUIRED.search(message)
    setting = match.group(1) if match else "config"
    message = _SDK_ERROR_PATH.sub("", message)
    secret = config.get("client_secret")
    if isinstance(secret, str) and secret:
        message = message.replace(secret, "***")
    return ConfigError(setting, message)


def _load_json_object(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(what, f"file is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(what, f"file must hold a JSON object, got {type(value).__name__}")
    return value


def check_state(text: str) -> dict:
    """Parse a state file; a malformed one is an error, never a silent full re-extraction."""
    state = _load_json_object(text, "state")
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise ConfigError("state", "'bookmarks' must be an object")
    stream_state = bookmarks.get(STREAM_NAME)
    if stream_state is None:
        return state
    where = f"bookmarks.{STREAM_NAME}"
    if not isinstance(stream_state, dict):
        raise ConfigError("state", f"{where} must be an object")
    entries = [(where, stream_state)]
    partitions = stream_state.get("partitions", [])
    if not isinstance(partitions, list):
        raise ConfigError("state", f"{where}.partitions must be an array")
    entries += [(f"{where}.partitions[{i}]", p) for i, p in enumerate(partitions)]
    for path, entry in entries:
        if not isinstance(entry, dict):
            raise ConfigError("state", f"{path} must be an object")
        value = entry.get("replication_key_value")
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(
                "state", f"{path}.replication_key_value must be an ISO-8601 date-time string"
            )
        try:
            parse_datetime(value, "state")
        except ConfigError:
            raise ConfigError(
                "state",
                f"{path}.replication_key_value {value!r} is not an ISO-8601 date-time; "
                "fix or remove the state rather than re-extracting everything",
            ) from None
    return state
