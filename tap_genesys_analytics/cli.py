"""The command line: every input checked before the first request, and one error boundary.

Config comes from files, or ``--config ENV`` for ``TAP_GENESYS_ANALYTICS_*`` variables; state
and catalog files are checked too. One error boundary (:class:`_Command`) turns every
:class:`~tap_genesys_analytics.errors.TapError` into one stderr line
``tap-genesys-analytics: <label>: <message>`` and its exit code (config 2, others 1).
SIGTERM/SIGINT end a run at once with exit code 128 + signal; no STATE is written from the
handler, so the state stays at the last finished window. :class:`CommandLine` holds the SDK's
command-line hooks; the tap (tap.py) is built on it.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import click
from singer_sdk import Tap
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import Self, override

from tap_genesys_analytics.errors import ConfigError, StoppedError, TapError
from tap_genesys_analytics.parsers import parse_datetime, to_utc
from tap_genesys_analytics.preflight import preflight_tap
from tap_genesys_analytics.streams import INCREMENTAL, STREAM_NAMES

if t.TYPE_CHECKING:
    from types import FrameType

GC_GEN0_THRESHOLD = 10_000  # allocations between gen-0 collections (default 700)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class ConfigInput:
    """``--config`` values: the merged files, and whether ``ENV`` was given."""

    config: dict[str, t.Any] = field(default_factory=dict)
    parse_env: bool = False


class CommandLine(Tap):
    """The SDK's command-line hooks: inputs checked, then one tap run inside the boundary."""

    @classmethod
    def full_schema(cls) -> dict[str, t.Any]:
        """Our settings plus the SDK's built-in ones (stream_maps, flattening_*, ...)."""
        schema = json.loads(json.dumps(cls.config_jsonschema))
        cls.append_builtin_config(schema)
        return schema

    @classmethod
    def env_config(cls) -> dict[str, t.Any]:
        """``TAP_GENESYS_ANALYTICS_<SETTING>`` variables as raw text (typed by validation)."""
        prefix = cls.name.upper().replace("-", "_") + "_"
        names = cls.full_schema()["properties"]
        return {
            k: os.environ[prefix + k.upper()] for k in names if prefix + k.upper() in os.environ
        }

    @classmethod
    def from_cli(
        cls,
        config: ConfigInput | None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        **kwargs: t.Any,
    ) -> Self:
        """The tap for a CLI run: state and catalog files checked, config validated once."""
        config = config or ConfigInput()
        merged = {**config.config, **(cls.env_config() if config.parse_env else {})}
        state_dict = check_state(state.read(), cls.logger) if state is not None else None
        catalog_dict = load_json_object(catalog.read(), "catalog") if catalog else None
        level = cls.logger.level
        cls.logger.setLevel(max(logging.WARNING, cls.logger.getEffectiveLevel()))
        try:  # the SDK's INFO chatter ("Skipping parse of env var settings...") is no news
            return cls(config=merged, state=state_dict, catalog=catalog_dict, **kwargs)
        except ConfigError as exc:
            if config.parse_env or not cls.env_config():
                raise
            raise ConfigError(  # the SDK reads TAP_GENESYS_ANALYTICS_* only with --config ENV
                exc.setting,
                f"{exc.problem} ({cls.name.upper().replace('-', '_')}_* variables "
                "are set: pass --config ENV to read them)",
            ) from None
        finally:
            cls.logger.setLevel(level)

    @override
    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """``--config FILE ... | ENV``: an unreadable or non-JSON file is a ConfigError."""
        result = ConfigInput()
        for item in value:
            if item == "ENV":
                result.parse_env = True
                continue
            try:
                text = Path(item).read_text()
            except OSError as exc:
                raise ConfigError("config", f"cannot read {item}: {exc.strerror}") from None
            result.config |= load_json_object(text, "config", item)
        return result

    @override
    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: ConfigInput | None = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        preflight: bool = False,
    ) -> None:
        """Sync, after checking every input (bad input: one line, exit 2, no request)."""
        if about:
            cls.print_about(about_format)
            return
        if preflight:  # read-only checks of the selected streams; exit 0 or 2 (preflight.py)
            handle_stop_signals(cls.name)
            tap = cls.from_cli(config, None, catalog)
            handle_stop_signals(cls.name)
            click.get_current_context().exit(preflight_tap(tap, as_json=about_format == "json"))
        handle_stop_signals(cls.name)
        tap = cls.from_cli(config, state, catalog)
        cls.print_version(print_fn=cls.logger.info)
        handle_stop_signals(cls.name)  # again: constructing the tap installed the SDK's handler
        tune_gc()
        tap.sync_all()

    @override
    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """``--discover``: the catalog (config checked leniently: the catalog is static)."""
        if value:
            cls.from_cli(
                ctx.params.get("config"), validate_config=cls.dynamic_catalog, setup_mapper=False
            ).run_discovery()
            ctx.exit()

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test`` / ``--test=schema``: config checked like a sync."""
        if value == "disabled":
            return
        handle_stop_signals(cls.name)
        tap = cls.from_cli(ctx.params.get("config"))
        handle_stop_signals(cls.name)  # again: constructing the tap installed the SDK's handler
        if value == "schema":
            tap.write_schemas()
        else:
            tap.run_connection_test()
        ctx.exit()

    @override
    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command and options, run inside the one error boundary."""
        sdk = super().get_singer_command()
        preflight = click.Option(
            ["--preflight"],
            is_flag=True,
            help="Check permissions of the selected streams and "
            "measure the API limits (read-only, at most 40 requests); --format json for JSON.",
        )
        return _Command(
            name=sdk.name,
            callback=sdk.callback,
            params=[*sdk.params, preflight],
            help=sdk.help,
            context_settings=sdk.context_settings,
            logger=cls.logger,
        )


class _Command(SingerCommand):
    """The error boundary: a TapError becomes one stderr line and its exit code."""

    @override
    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            return super().main(*args, **kwargs)
        except TapError as exc:
            click.echo(f"{self.name}: {exc.label}: {exc}", err=True)
            sys.exit(exc.exit_code)


# --- stop signals and the collector -------------------------------------------------------


def handle_stop_signals(program: str) -> None:
    """SIGTERM/SIGINT: one stderr line, exit 128 + signal at once, no STATE from the handler.

    Replaces the SDK's handler (installed by ``PluginBase.__init__``), which writes STATE
    through the message writer's lock; the main thread may hold that lock while blocked on a
    full stdout pipe, so the SDK's handler deadlocks, and it exits 0 when it does exit.
    """
    if threading.current_thread() is threading.main_thread():  # signal.signal's own rule
        for signum in STOP_SIGNALS:
            signal.signal(signum, partial(_stop, program))


def _stop(program: str, signum: int, frame: FrameType | None) -> None:
    error = StoppedError(
        f"{signal.Signals(signum).name} received; exiting without waiting for requests in "
        "flight (the state stays at the last finished window)"
    )
    # os.write/os._exit: no lock the interrupted main thread may hold (stderr's, the
    # writer's), no waiting for worker threads, no atexit flush of unfinished windows.
    os.write(2, f"{program}: {error.label}: {error}\n".encode())
    os._exit(128 + signum)


def tune_gc() -> None:
    """Fewer cyclic-GC passes during a sync (measured: ~10 % less CPU per record).

    Every page decodes thousands of small acyclic dicts and lists; with the default gen-0
    threshold (700 allocations) the collector runs several times per page and keeps
    re-scanning the prefetched pages. Objects that exist before the sync are frozen out.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


# --- input files --------------------------------------------------------------------------


def load_json_object(text: str, what: str, where: str | None = None) -> dict[str, t.Any]:
    """A JSON object from a file's text, or ConfigError("<what>: ...") saying what is wrong."""
    label = f"{where} " if where else "file "
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(what, f"{label}is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(what, f"{label}must hold a JSON object, got {type(value).__name__}")
    return value


def check_state(text: str, logger: logging.Logger, now: datetime | None = None) -> dict:
    """A state file checked: never a silent full re-extraction, never a silent no-op."""
    state = load_json_object(text, "state")
    if set(state) == {"singer_state"} and isinstance(state["singer_state"], dict):
        logger.warning("state: the file is a `meltano state get` payload; using its 'singer_state'")
        state = state["singer_state"]
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise ConfigError("state", "'bookmarks' must be an object")
    foreign = sorted(set(bookmarks) - set(STREAM_NAMES))
    if foreign and len(foreign) == len(bookmarks):
        raise ConfigError(
            "state",
            f"bookmarks are for stream(s) {', '.join(foreign)}, none of this tap's "
            f"streams ({', '.join(STREAM_NAMES)}): another tap's state? Remove it to start at "
            "start_date",
        )
    if foreign:
        logger.warning("state: ignoring bookmarks of unknown stream(s) %s", ", ".join(foreign))
    now = now or datetime.now(timezone.utc)
    for stream in sorted(set(bookmarks) & INCREMENTAL):
        _check_stream_state(bookmarks[stream], f"bookmarks.{stream}", now)
    return state


def _check_stream_state(stream_state: t.Any, where: str, now: datetime) -> None:
    if not isinstance(stream_state, dict):
        raise ConfigError("state", f"{where} must be an object")
    partitions = stream_state.get("partitions", [])
    if not isinstance(partitions, list):
        raise ConfigError("state", f"{where}.partitions must be an array")
    entries = [
        (where, stream_state),
        *((f"{where}.partitions[{i}]", p) for i, p in enumerate(partitions)),
    ]
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
            bookmark = to_utc(parse_datetime(value, "state"))
        except ConfigError:
            raise ConfigError(
                "state",
                f"{path}.replication_key_value {value!r} is not an ISO-8601 "
                "date-time; fix or remove the state rather than re-extracting everything",
            ) from None
        if bookmark > now:
            raise ConfigError(
                "state",
                f"{path}.replication_key_value {value} is later than now "
                f"({now.isoformat(timespec='seconds')}): the tap would read nothing; fix or "
                "remove the state",
            )
