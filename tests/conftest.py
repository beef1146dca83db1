"""Shared fixtures: a small simulator, a valid tap config for it, an in-process tap runner."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from singer_sdk.singerlib.encoding.base import GenericSingerWriter

from tap_genesys_analytics.runtime import Runtime

# The whole suite runs in a non-UTC local zone (here and in every subprocess it starts), so code
# that slips into host local time fails a test instead of passing by luck on a UTC machine.
os.environ["TZ"] = "America/New_York"
time.tzset()
assert time.localtime(0).tm_hour == 19, "tests/conftest.py: TZ=America/New_York did not apply"

SIM_CLIENT_ID = "sim-client"
SIM_CLIENT_SECRET = "sim-secret"
SIM_NOW = "2024-05-08T00:00:00Z"
SIM_DATA_START = "2024-05-01T00:00:00Z"


def tap_config_for(sim: Any, **overrides: Any) -> dict[str, Any]:
    """A valid tap config pointing at ``sim`` (no rate limit on our side unless overridden)."""
    config: dict[str, Any] = {
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
        "api_url": sim.base_url,
        "login_url": sim.base_url,
        "start_date": "2024-05-01T00:00:00Z",
        "end_date": "2024-05-04T00:00:00Z",
        "page_size": 100,
        "max_concurrency": 4,
        "requests_per_minute": 6000,
        "request_timeout": 10,
    }
    config.update(overrides)
    return config


class CollectingWriter(GenericSingerWriter):
    """Keeps every Singer message (as a JSON round-tripped dict) instead of printing it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def serialize_message(self, message: Any) -> str:
        return json.dumps(message.to_dict(), default=str)

    def write_message(self, message: Any) -> None:
        self.messages.append(json.loads(self.serialize_message(message)))


@dataclass
class TapRun:
    """Output of one in-process tap run."""

    messages: list[dict[str, Any]]
    tap: Any
    error: BaseException | None = None
    records: list[dict[str, Any]] = field(init=False)
    states: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = self.rows("conversation_details")
        self.states = [m["value"] for m in self.messages if m["type"] == "STATE"]

    def rows(self, stream: str) -> list[dict[str, Any]]:
        """The RECORD messages' records of one stream."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    @property
    def bookmarks(self) -> list[str | None]:
        return [
            s.get("bookmarks", {}).get("conversation_details", {}).get("replication_key_value")
            for s in self.states
        ]

    @property
    def ids(self) -> list[str]:
        return [r["conversationId"] for r in self.records]


def catalog_selecting(config: dict[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """The tap's discovered catalog with only ``streams`` selected."""
    from tap_genesys_analytics.tap import TapGenesysAnalytics

    wanted = set(streams)
    catalog: dict[str, Any] = TapGenesysAnalytics(config=copy.deepcopy(config)).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    streams: Iterable[str] | None = ("conversation_details",),
) -> TapRun:
    """Run the tap in-process with a catalog selecting ``streams`` (None: every stream); an
    exception is kept in ``run.error`` with the output so far."""
    from tap_genesys_analytics.tap import TapGenesysAnalytics

    catalog = None if streams is None else catalog_selecting(config, streams)
    writer = CollectingWriter()
    tap = TapGenesysAnalytics(
        config=copy.deepcopy(config),
        state=copy.deepcopy(state) if state else None,
        catalog=catalog,
        message_writer=writer,
    )
    tap.runtime = Injected.runtime or Runtime()  # type: ignore[attr-defined]
    error: BaseException | None = None
    try:
        tap.sync_all()
    except Exception as exc:
        error = exc
    return TapRun(writer.messages, tap, error)


#: Short backoffs and empty-page delays so fault tests take seconds.
FAST = Runtime(
    backoff_base_s=0.01, backoff_cap_s=0.05, retry_after_fallback_s=0.05, empty_page_delay_s=0.01
)


class Injected:
    """The Runtime the next in-process tap run gets (reset after every test)."""

    runtime: Runtime | None = None


def use_clock(now: Callable[[], Any]) -> None:
    """In-process tap runs of this test read "now" from ``now`` (a simulator's clock)."""
    Injected.runtime = dataclasses.replace(Injected.runtime or Runtime(), now=now)


@pytest.fixture(autouse=True)
def _reset_injected_runtime() -> Any:
    yield
    Injected.runtime = None


@pytest.fixture
def fast_stream() -> None:
    """Short client backoff and empty-page delay so fault tests take seconds."""
    Injected.runtime = dataclasses.replace(FAST, now=(Injected.runtime or FAST).now)


@pytest.fixture
def sim(genesys_sim: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, fast_stream: None) -> Any:
    """A small simulator (150 conversations a day, no rate limit) whose clock the tap uses."""
    server = genesys_sim(
        seed=42,
        conversations_per_day=150,
        data_start=SIM_DATA_START,
        now=SIM_NOW,
        rate_limit_per_minute=0,
    )
    use_clock(server.clock.now)
    return server


@pytest.fixture
def tap_config(sim: Any) -> dict[str, Any]:
    """A valid config for ``sim``: three days, 2024-05-01 to 2024-05-04."""
    return tap_config_for(sim)
