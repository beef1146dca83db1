"""The tap's command line: bad input stops before any request with one stderr line, exit 2."""

from __future__ import annotations

import array
import fcntl
import json
import os
import platform
import signal
import subprocess
import sys
import termios
import threading
import time
import typing as t
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tap_genesys_analytics.errors import ConfigError
from tap_genesys_analytics.settings import Settings, config_schema
from tap_genesys_analytics.tap import TapGenesysAnalytics

pytestmark = pytest.mark.integration

SETTINGS_SCHEMA = config_schema()

SECRET = "cli-Secret-Value-1234"
TAP = Path(sys.executable).with_name("tap-genesys-analytics")
ENV_PREFIX = "TAP_GENESYS_ANALYTICS_"


class RecordingServer(ThreadingHTTPServer):
    """Counts every connection; answers any request with an OAuth 401."""

    connections = 0

    def verify_request(self, request: object, client_address: object) -> bool:
        self.connections += 1
        return True


class Reject(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.dumps({"error": "invalid_client", "description": "bad credentials"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[RecordingServer]:
    server = RecordingServer(("127.0.0.1", 0), Reject)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: RecordingServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def good_config(server: RecordingServer) -> dict:
    return {
        "client_id": "cli-client",
        "client_secret": SECRET,
        "start_date": "2024-05-01",
        "end_date": "2024-05-03",
        "api_url": url_of(server),
        "login_url": url_of(server),
    }


def run_tap(
    *args: str,
    config: dict | None = None,
    env: dict[str, str] | None = None,
    tmp_path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [str(TAP), *args]
    if config is not None:
        assert tmp_path is not None
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        command += ["--config", str(path)]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env, **(env or {})},
        cwd=tmp_path or None,
        check=False,
    )


def assert_one_line_config_error(result: subprocess.CompletedProcess[str], setting: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tap-genesys-analytics: config error: {setting}: "), lines[0]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert result.stdout == ""
    return lines[0]


# --- bad configuration ---------------------------------------------------------------------

BAD_FILE_CONFIGS = [
    ("page size 101", {"page_size": 101}, "page_size"),
    ("empty secret", {"client_secret": "  "}, "client_secret"),
    ("reversed dates", {"start_date": "2024-05-03", "end_date": "2024-05-01"}, "end_date"),
    (
        "unknown region without overrides",
        {"region": "moon-1", "api_url": None, "login_url": None},
        "region",
    ),
    ("bad lookback", {"lookback": "3 days"}, "lookback"),
    ("filters not JSON", {"conversation_filters": "{oops"}, "conversation_filters"),
    ("plain http to a public host", {"api_url": "http://api.example.com"}, "api_url"),
    ("SDK schema: stream_maps not an object", {"stream_maps": 5}, "stream_maps"),
]


@pytest.mark.parametrize(
    ("overrides", "setting"), [pytest.param(o, s, id=n) for n, o, s in BAD_FILE_CONFIGS]
)
def test_bad_config_file_stops_before_any_request(
    listener: RecordingServer, tmp_path: Path, overrides: dict, setting: str
) -> None:
    config = {**good_config(listener), **overrides}
    config = {k: v for k, v in config.items() if v is not None}
    result = run_tap(config=config, tmp_path=tmp_path)
    assert_one_line_config_error(result, setting)
    assert listener.connections == 0


def test_page_size_error_reads_exactly_as_documented(
    listener: RecordingServer, tmp_path: Path
) -> None:
    result = run_tap(config={**good_config(listener), "page_size": 101}, tmp_path=tmp_path)
    line = assert_one_line_config_error(result, "page_size")
    assert line == (
        "tap-genesys-analytics: config error: page_size: must be between 1 and 100, got 101"
    )


@pytest.mark.parametrize(
    ("variables", "setting"),
    [
        ({"PAGE_SIZE": "abc"}, "page_size"),
        ({"WINDOW_SIZE": "P8D"}, "window_size"),
        ({"SEGMENT_FILTERS": '[{"type": "xor", "predicates": []}]'}, "segment_filters"),
        ({"CLIENT_ID": ""}, "client_id"),
    ],
)
def test_bad_env_var_settings_stop_before_any_request(
    listener: RecordingServer, tmp_path: Path, variables: dict[str, str], setting: str
) -> None:
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in good_config(listener).items()}
    env.update({ENV_PREFIX + k: v for k, v in variables.items()})
    result = run_tap("--config", "ENV", env=env, tmp_path=tmp_path)
    assert_one_line_config_error(result, setting)
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ("not json", "state: file is not valid JSON"),
        ('["a"]', "state: file must hold a JSON object"),
        (
            '{"bookmarks": {"conversation_details": {"replication_key_value": "yesterday"}}}',
            "state: bookmarks.conversation_details.replication_key_value 'yesterday' is not",
        ),
        (
            '{"bookmarks": {"conversation_details": {"replication_key_value": 5}}}',
            "state: bookmarks.conversation_details.replication_key_value must be",
        ),
    ],
)
def test_malformed_state_is_an_error_not_a_silent_full_extraction(
    listener: RecordingServer, tmp_path: Path, state: str, fragment: str
) -> None:
    (tmp_path / "state.json").write_text(state)
    result = run_tap(
        "--state", str(tmp_path / "state.json"), config=good_config(listener), tmp_path=tmp_path
    )
    line = assert_one_line_config_error(result, "state")
    assert fragment in line
    assert listener.connections == 0


def test_malformed_catalog_is_an_error(listener: RecordingServer, tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text("{")
    result = run_tap(
        "--catalog", str(tmp_path / "catalog.json"), config=good_config(listener), tmp_path=tmp_path
    )
    assert_one_line_config_error(result, "catalog")
    assert listener.connections == 0


def test_rejected_credentials_end_in_one_line_without_the_secret(
    listener: RecordingServer, tmp_path: Path
) -> None:
    """Positive control: a valid config does reach the listener (which answers 401)."""
    result = run_tap(config=good_config(listener), tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    assert listener.connections == 1  # credentials rejected: no retry storm
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-genesys-analytics: authentication error: credentials rejected")
    assert "HTTP 401 (invalid_client: bad credentials)" in last
    assert "Traceback" not in result.stderr
    assert "ERROR" not in result.stderr  # no SDK "An unhandled error occurred" before it
    assert SECRET not in result.stderr + result.stdout


# --- about and discovery -------------------------------------------------------------------


def test_about_lists_every_setting_with_the_secret_marked(tmp_path: Path) -> None:
    result = run_tap("--about", "--format=json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    about = json.loads(result.stdout)
    assert about["name"] == "tap-genesys-analytics"
    properties = about["settings"]["properties"]
    assert set(SETTINGS_SCHEMA["properties"]) <= set(properties)
    assert properties["client_secret"]["secret"] is True
    assert set(about["settings"]["required"]) >= {"client_id", "client_secret", "start_date"}


def test_about_markdown_renders(tmp_path: Path) -> None:
    result = run_tap("--about", "--format=markdown", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "# `tap-genesys-analytics`" in result.stdout
    for name in SETTINGS_SCHEMA["properties"]:
        assert f"| {name} |" in result.stdout


def test_discover_with_a_valid_config_sends_no_request(
    listener: RecordingServer, tmp_path: Path
) -> None:
    result = run_tap("--discover", config=good_config(listener), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    stream = catalog["streams"][0]
    assert stream["tap_stream_id"] == "conversation_details"
    assert stream["key_properties"] == ["conversationId"]
    assert stream["replication_key"] == "conversationStart"
    assert listener.connections == 0


def test_builtin_sdk_settings_from_env_vars_are_parsed_as_json(
    listener: RecordingServer, tmp_path: Path
) -> None:
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in good_config(listener).items()}
    env[ENV_PREFIX + "STREAM_MAPS"] = '{"conversation_details": {"__else__": null}}'
    result = run_tap("--config", "ENV", "--discover", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Config problem" not in result.stderr


def test_unparsable_builtin_env_var_names_the_setting(
    listener: RecordingServer, tmp_path: Path
) -> None:
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in good_config(listener).items()}
    env[ENV_PREFIX + "FLATTENING_MAX_DEPTH"] = "deep"
    result = run_tap("--config", "ENV", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "config error" in line]
    assert errors == [
        "tap-genesys-analytics: config error: flattening_max_depth: must be an integer, got 'deep'"
    ]
    assert "Traceback" not in result.stderr
    assert listener.connections == 0


def test_discover_reads_env_var_settings(listener: RecordingServer, tmp_path: Path) -> None:
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in good_config(listener).items()}
    env[ENV_PREFIX + "PAGE_SIZE"] = "50"
    result = run_tap("--config", "ENV", "--discover", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Config problem" not in result.stderr
    assert listener.connections == 0


# --- in-process ----------------------------------------------------------------------------


def test_tap_settings_are_validated_once_from_text_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tap_genesys_analytics import tap as tap_module

    calls: list[object] = []
    real = tap_module.validate_settings
    monkeypatch.setattr(tap_module, "validate_settings", lambda c: calls.append(c) or real(c))  # type: ignore[func-returns-value]
    tap = TapGenesysAnalytics(
        config={
            "client_id": "x",
            "client_secret": SECRET,
            "start_date": "2024-05-01",
            "page_size": "50",
            "media_types": "voice,Chat",
            "request_timeout": "30.5",
            "segment_filters": '[{"type": "or", "predicates": [{"dimension": "purpose", '
            '"value": "customer"}]}]',
        }
    )
    # validated during construction: the SDK still calls the private hook we override
    assert len(calls) == 1
    settings = tap.settings
    assert isinstance(settings, Settings)
    assert tap.settings is settings
    assert len(calls) == 1  # one validation per tap
    assert (settings.page_size, settings.media_types) == (50, ("voice", "chat"))
    assert settings.request_timeout == 30.5
    assert settings.segment_filters[0]["predicates"][0]["dimension"] == "purpose"


def test_tap_construction_with_bad_config_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^page_size: must be between 1 and 100, got 0$"):
        TapGenesysAnalytics(
            config={
                "client_id": "x",
                "client_secret": SECRET,
                "start_date": "2024-05-01",
                "page_size": 0,
            }
        )


def test_schema_defaults_match_the_settings_defaults() -> None:
    tap = TapGenesysAnalytics(
        config={"client_id": "x", "client_secret": SECRET, "start_date": "2024-05-01"}
    )
    from tap_genesys_analytics.settings import validate_settings

    with_schema_defaults = validate_settings(tap.config)  # the SDK filled in schema defaults
    assert with_schema_defaults == tap.settings
    for name, spec in SETTINGS_SCHEMA["properties"].items():
        assert spec.get("description"), name


# --- the whole bad-settings matrix through the CLI entry point (in-process, fast) ----------


def _matrix() -> list:
    from tests.test_settings import BAD_CONFIGS

    return [pytest.param(o, s, id=n) for n, o, s in BAD_CONFIGS]


@pytest.mark.parametrize(("overrides", "setting"), _matrix())
def test_every_bad_setting_stops_the_cli_before_any_request(
    listener: RecordingServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict,
    setting: str,
) -> None:
    from tests.test_settings import GOOD
    from tests.test_settings import SECRET as MATRIX_SECRET

    config = {**GOOD}
    if not {"api_url", "login_url"} & set(overrides):
        config.update(api_url=url_of(listener), login_url=url_of(listener))
    config.update(overrides)
    config = {k: v for k, v in config.items() if v is not ...}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as info:
        TapGenesysAnalytics.cli.main(["--config", str(path)], standalone_mode=True)
    captured = capsys.readouterr()
    assert info.value.code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"tap-genesys-analytics: config error: {setting}: ")
    assert MATRIX_SECRET not in captured.err + captured.out
    assert captured.out == ""
    assert listener.connections == 0


# --- bad input that used to pass silently ----------------------------------------------------


def test_a_config_file_that_is_not_json_is_one_line(
    listener: RecordingServer, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text('{"client_id": "x",')
    result = run_tap("--config", str(tmp_path / "config.json"), tmp_path=tmp_path)
    line = assert_one_line_config_error(result, "config")
    assert "config.json is not valid JSON" in line
    assert listener.connections == 0


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    result = run_tap("--config", str(tmp_path / "nope.json"), tmp_path=tmp_path)
    assert "No such file or directory" in assert_one_line_config_error(result, "config")


def test_unknown_config_keys_are_named_with_the_closest_setting(
    listener: RecordingServer, tmp_path: Path
) -> None:
    config = {
        **good_config(listener),
        "pagesize": 50,
        "max_ongoing_age": "P2D",
        "stream_maps": {},
        "flattening_enabled": False,
    }
    result = run_tap("--discover", config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, result.stderr  # the SDK's own keys are no typos
    assert (
        "config key 'max_ongoing_age' is no longer a setting (replaced by "
        "'open_conversation_horizon')" in warnings[0]
    )
    assert (
        "config key 'pagesize' is not a setting of this tap and is ignored; did you mean "
        "'page_size'?" in warnings[1]
    )


def test_env_vars_without_config_env_say_how_to_read_them(
    listener: RecordingServer, tmp_path: Path
) -> None:
    env = {ENV_PREFIX + k.upper(): str(v) for k, v in good_config(listener).items()}
    result = run_tap(env=env, tmp_path=tmp_path)
    line = assert_one_line_config_error(result, "client_id")
    assert "pass --config ENV" in line
    assert listener.connections == 0
    assert run_tap("--config", "ENV", "--discover", env=env, tmp_path=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        (
            '{"bookmarks": {"orders": {"replication_key_value": "2024-05-02"}, "tickets": {}}}',
            "state: bookmarks are for stream(s) orders, tickets, none of this tap's streams "
            "(conversation_details, ",
        ),
        (
            '{"bookmarks": {"conversation_details": {"replication_key": "conversationStart", '
            '"replication_key_value": "2099-01-01T00:00:00+00:00"}}}',
            "state: bookmarks.conversation_details.replication_key_value "
            "2099-01-01T00:00:00+00:00 is later than now",
        ),
    ],
)
def test_a_foreign_or_future_state_is_an_error_not_a_backfill_or_a_no_op(
    listener: RecordingServer, tmp_path: Path, state: str, fragment: str
) -> None:
    (tmp_path / "state.json").write_text(state)
    result = run_tap(
        "--state", str(tmp_path / "state.json"), config=good_config(listener), tmp_path=tmp_path
    )
    assert fragment in assert_one_line_config_error(result, "state")
    assert listener.connections == 0


def test_an_upper_case_api_host_sends_the_token_request_to_the_login_host(
    tmp_path: Path,
) -> None:
    config = {
        "client_id": "cli-client",
        "client_secret": SECRET,
        "start_date": "2024-05-01",
        "end_date": "2024-05-02",
        "api_url": "https://API.invalid",
        "max_retries": 0,
        "request_timeout": 5,
    }
    result = run_tap(config=config, tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "token request to https://login.invalid/oauth/token" in last, last


def test_a_localhost_subdomain_is_no_loopback_host(tmp_path: Path) -> None:
    config = {
        "client_id": "cli-client",
        "client_secret": SECRET,
        "start_date": "2024-05-01",
        "api_url": "http://evil.localhost:8080",
    }
    line = assert_one_line_config_error(run_tap(config=config, tmp_path=tmp_path), "api_url")
    assert "plain http is only allowed for loopback hosts" in line


# --- a Meltano state payload, and stop signals, against the simulator ----------------------


def _sim_config(sim: object, tmp_path: Path, **overrides: object) -> Path:
    from tests.conftest import tap_config_for

    path = tmp_path / "sim-config.json"
    path.write_text(json.dumps(tap_config_for(sim, **overrides)))
    return path


def _messages(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


#: write(2)'s number in /proc/<pid>/syscall
_WRITE_SYSCALL = {"x86_64": "1", "aarch64": "64"}.get(platform.machine())


def _blocked_writing(proc: subprocess.Popen[bytes]) -> bool:
    """``proc`` is stuck writing to its stdout pipe: the pipe is at least half full and (where
    Linux shows it) the main thread waits in write(2) on fd 1."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    queued = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, queued)
    capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) if hasattr(fcntl, "F_GETPIPE_SZ") else 16384
    if queued[0] < capacity // 2:
        return False
    try:
        fields = Path(f"/proc/{proc.pid}/syscall").read_text().split()
    except OSError:  # no /proc: the full pipe is the evidence
        return True
    return _WRITE_SYSCALL is None or fields[:2] == [_WRITE_SYSCALL, "0x1"]


def _wait_until_blocked_writing(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Poll (a real process: no clock to inject) until ``proc`` blocks on its stdout pipe."""
    deadline = time.monotonic() + timeout_s
    while not _blocked_writing(proc):
        assert proc.poll() is None, "the run ended before the signal: too little data"
        if time.monotonic() > deadline:
            pytest.fail(f"the tap did not block writing to the stalled pipe within {timeout_s} s")
        time.sleep(0.01)


def test_a_meltano_state_payload_is_unwrapped_with_a_warning(
    genesys_sim: t.Any, tmp_path: Path
) -> None:
    sim = genesys_sim(
        seed=7, conversations_per_day=40, now="2024-05-08T00:00:00Z", rate_limit_per_minute=0
    )
    bookmark = "2024-05-03T00:00:00+00:00"
    (tmp_path / "state.json").write_text(
        json.dumps(
            {
                "singer_state": {
                    "bookmarks": {
                        "conversation_details": {
                            "replication_key": "conversationStart",
                            "replication_key_value": bookmark,
                        }
                    }
                }
            }
        )
    )
    config = _sim_config(sim, tmp_path, lookback="PT0S")
    result = run_tap(
        "--config", str(config), "--state", str(tmp_path / "state.json"), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "state: the file is a `meltano state get` payload; using its 'singer_state'" in (
        result.stderr
    )
    messages = _messages(result.stdout)
    starts = [
        m["record"]["conversationStart"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "conversation_details"
    ]
    assert starts and min(starts) >= "2024-05-03"  # resumed at the unwrapped bookmark
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["conversation_details"]["replication_key_value"] == (
        "2024-05-04T00:00:00+00:00"
    )


def test_a_connection_test_logs_no_error(genesys_sim: t.Any, tmp_path: Path) -> None:
    sim = genesys_sim(
        seed=7, conversations_per_day=40, now="2024-05-08T00:00:00Z", rate_limit_per_minute=0
    )
    result = run_tap("--config", str(_sim_config(sim, tmp_path)), "--test", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [m for m in _messages(result.stdout) if m["type"] == "RECORD"]
    assert [m["stream"] for m in records].count("conversation_details") == 1
    assert "ERROR" not in result.stderr  # the SDK stops --test with an exception it logs


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_ends_a_run_blocked_on_a_slow_target(
    genesys_sim: t.Any, tmp_path: Path, signum: int, code: int
) -> None:
    """The target stops reading after the first STATE; the signal still ends the run."""
    sim = genesys_sim(
        seed=7, conversations_per_day=800, now="2024-05-08T00:00:00Z", rate_limit_per_minute=0
    )
    config = _sim_config(sim, tmp_path, window_size="PT1H", max_concurrency=2)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    with (tmp_path / "stderr.txt").open("w") as stderr:
        proc = subprocess.Popen(
            [str(TAP), "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=clean_env,
            cwd=tmp_path,
        )
        assert proc.stdout is not None
        seen = []
        for raw in proc.stdout:  # a target that reads until the first bookmark, then stalls
            seen.append(raw)
            if raw.startswith(b'{"type":"STATE"') and b'"replication_key_value"' in raw:
                break
        _wait_until_blocked_writing(proc)  # the tap fills the pipe and blocks writing to it
        sent = time.monotonic()
        proc.send_signal(signum)
        try:
            returncode = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the tap did not end within 20 s of the signal (deadlock)")
        elapsed = time.monotonic() - sent
        rest = proc.stdout.read()
    assert returncode == code
    # a real process and a real signal: "at once" gets a generous wall bound (the exit takes
    # well under 1 s) that load cannot break; a run waiting for its stalled write never ends
    assert elapsed < 10
    last_line = (tmp_path / "stderr.txt").read_text().strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last_line == (
        f"tap-genesys-analytics: stopped: {name} received; exiting without waiting for "
        "requests in flight (the state stays at the last finished window)"
    )
    # the line being written when the signal came may be cut short (the target stalled)
    complete = (b"".join(seen) + rest).decode().rsplit("\n", 1)[0]
    states = [m["value"] for m in _messages(complete) if m["type"] == "STATE"]
    details = [s["bookmarks"].get("conversation_details", {}) for s in states]
    bookmarks = [d["replication_key_value"] for d in details if "replication_key_value" in d]
    assert bookmarks, "no bookmark at all"
    for value in bookmarks:  # every STATE is a finished window's end (whole hours here)
        assert value.endswith(":00:00+00:00"), value
    assert bookmarks == sorted(bookmarks)
    assert bookmarks[-1] < "2024-05-04T00:00:00+00:00"  # stopped mid-run, not at the end
