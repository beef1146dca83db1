"""tap-genesys-analytics: Genesys Cloud conversation detail records as a Singer tap.

The tap is its streams (streams/) and its settings (settings.py), validated once; the command
line (cli.py) checks every input before the first request and is the one error boundary.
"""

from __future__ import annotations

import difflib
import logging
import sys
import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import SyncLifecycleSignal
from singer_sdk.singerlib.encoding import GenericSingerWriter
from typing_extensions import override

from tap_genesys_analytics.cli import CommandLine
from tap_genesys_analytics.errors import ConfigError, TapError
from tap_genesys_analytics.settings import (
    BY_NAME,
    REMOVED,
    Settings,
    coerce,
    config_schema,
    schema_error,
    validate_settings,
)
from tap_genesys_analytics.streams import STREAM_CLASSES

#: singer-sdk[msgspec] encodes RECORD lines faster than the stdlib writer (docs/benchmarks.md)
_MessageWriter: type[GenericSingerWriter] = Tap.message_writer_class
try:
    from tap_genesys_analytics.writer import BufferedMsgSpecWriter

    _MessageWriter = BufferedMsgSpecWriter
except ImportError:  # pragma: no cover - singer-sdk installed without its msgspec extra
    pass

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

_SDK_SYNC_ERROR = "An unhandled error occurred while syncing"


class TapGenesysAnalytics(CommandLine):
    """Genesys Cloud analytics conversation detail records (sync details query)."""

    name = "tap-genesys-analytics"
    message_writer_class = _MessageWriter
    config_jsonschema = config_schema()  # the SDK adds its built-in settings to it
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (validated once; raises ConfigError if invalid)."""
        if self._settings is None:
            self._settings = validate_settings(self.config)
        return self._settings

    @override
    def discover_streams(self) -> list[Stream]:
        """The tap's streams (each chosen by the catalog's per-stream selection)."""
        streams: list[Stream] = [cls(self) for cls in STREAM_CLASSES]
        for stream in streams:
            stream.logger.addFilter(_HandledErrorFilter())
        return streams

    # Private SDK hook, called by ``PluginBase.__init__``: no public hook validates config with
    # structured errors (the SDK flattens them into text). Ours validates once, with the same
    # schema, into Settings; the SDK's built-in settings are checked against their schema and
    # written back typed into ``self._config`` (the public ``config`` is read-only). Tests:
    # tests/test_tap_cli.py (validated once during construction, bad config, ENV, built-ins).
    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate every setting once (ConfigError naming the first bad one)."""
        schema = self.full_schema()
        try:
            self._settings = validate_settings(self._config)
            for key, prop in schema["properties"].items():
                if key not in BY_NAME and self._config.get(key) is not None:
                    self._config[key] = value = coerce(prop, self._config[key], key)
                    schema_error(prop, value, key)
        except ConfigError as exc:
            if raise_errors:
                raise
            self.logger.warning("Config problem (ignored in this mode): %s", exc)
            return [str(exc)]
        for key in sorted(set(self._config) - set(schema["properties"])):
            if not key.startswith("_"):  # Meltano's extras (_select, ...) are not settings
                self.logger.warning("%s", unknown_key_message(key, schema["properties"]))
        return []


class _HandledErrorFilter(logging.Filter):
    """Drops the SDK's "An unhandled error occurred" line when the error is handled above it.

    ``Stream.sync`` logs it for every exception, also for our TapErrors (which the boundary
    prints as one line) and the SDK's own control flow (``--test`` stops after one record).
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        handled = isinstance(sys.exc_info()[1], (TapError, SyncLifecycleSignal))
        return not (handled and str(record.msg).startswith(_SDK_SYNC_ERROR))


def unknown_key_message(key: str, known: t.Iterable[str]) -> str:
    """The warning for a config key that is no setting: the closest known one named."""
    if key in REMOVED:
        return f"config key {key!r} is no longer a setting (replaced by {REMOVED[key]!r}); ignored"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"config key {key!r} is not a setting of this tap and is ignored{hint}"
