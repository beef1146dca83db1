"""Settings validation: every bad value is refused with one line naming the setting."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tap_genesys_analytics.settings import (
    MEDIA_TYPES,
    ConfigError,
    Settings,
    validate_settings,
)

SECRET = "s3cr3t-Value-never-shown"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
GOOD = {"client_id": "my-client", "client_secret": SECRET, "start_date": "2024-05-01"}
PREDICATE = {"dimension": "purpose", "value": "customer"}


def settings(**overrides: object) -> Settings:
    config = {**GOOD, **overrides}
    return validate_settings({k: v for k, v in config.items() if v is not ...}, now=NOW)


def error(**overrides: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings(**overrides)
    return info.value


# (id, overrides (value ... = remove the key), setting named in the error)
BAD_CONFIGS = [
    ("missing client_id", {"client_id": ...}, "client_id"),
    ("empty client_id", {"client_id": ""}, "client_id"),
    ("whitespace client_id", {"client_id": "   "}, "client_id"),
    ("numeric client_id", {"client_id": 12345}, "client_id"),
    ("missing client_secret", {"client_secret": ...}, "client_secret"),
    ("empty client_secret", {"client_secret": ""}, "client_secret"),
    ("whitespace client_secret", {"client_secret": " \t "}, "client_secret"),
    ("unknown region", {"region": "mars-north-1"}, "region"),
    ("unknown region domain", {"region": "mypurecloud.fr"}, "region"),
    ("region not a string", {"region": 7}, "region"),
    ("missing start_date", {"start_date": ...}, "start_date"),
    ("malformed start_date", {"start_date": "yesterday"}, "start_date"),
    ("impossible start_date", {"start_date": "2024-13-45"}, "start_date"),
    ("start_date 'now' keyword", {"start_date": "now"}, "start_date"),
    ("start_date time only", {"start_date": "12:00"}, "start_date"),
    ("start_date in the future", {"start_date": "2027-01-01"}, "start_date"),
    ("start_date absurdly old", {"start_date": "0024-05-01"}, "start_date"),
    ("start_date not a string", {"start_date": 20240501}, "start_date"),
    ("malformed end_date", {"end_date": "2024/05/10"}, "end_date"),
    ("reversed dates", {"start_date": "2024-05-10", "end_date": "2024-05-01"}, "end_date"),
    ("equal dates", {"start_date": "2024-05-10", "end_date": "2024-05-10"}, "end_date"),
    ("end_date far in the future", {"end_date": "2099-01-01"}, "end_date"),
    ("page_size 0", {"page_size": 0}, "page_size"),
    ("page_size 101", {"page_size": 101}, "page_size"),
    ("page_size abc", {"page_size": "abc"}, "page_size"),
    ("page_size fractional", {"page_size": 12.5}, "page_size"),
    ("page_size boolean", {"page_size": True}, "page_size"),
    ("page_size negative", {"page_size": "-5"}, "page_size"),
    ("window_size not a duration", {"window_size": "1 day"}, "window_size"),
    ("window_size too large", {"window_size": "P8D"}, "window_size"),
    ("window_size too small", {"window_size": "PT30M"}, "window_size"),
    ("window_size months", {"window_size": "P1M"}, "window_size"),
    ("window_size fractional days", {"window_size": "P1DT12H"}, "window_size"),
    ("window_size number", {"window_size": 86400}, "window_size"),
    ("lookback garbage", {"lookback": "three days"}, "lookback"),
    ("lookback negative", {"lookback": "-P1D"}, "lookback"),
    ("lookback too long", {"lookback": "P365D"}, "lookback"),
    ("settle_lag garbage", {"settle_lag": "5m"}, "settle_lag"),
    ("settle_lag years", {"settle_lag": "P1Y"}, "settle_lag"),
    (
        "open_conversation_horizon garbage",
        {"open_conversation_horizon": "forever"},
        "open_conversation_horizon",
    ),
    ("media_types unknown", {"media_types": ["voice", "fax"]}, "media_types"),
    ("media_types not an array", {"media_types": {"voice": True}}, "media_types"),
    ("media_types bad JSON", {"media_types": "[voice"}, "media_types"),
    ("segment_filters bad JSON", {"segment_filters": "{not json"}, "segment_filters"),
    ("segment_filters a number", {"segment_filters": 42}, "segment_filters"),
    ("segment_filters JSON string", {"segment_filters": '"purpose"'}, "segment_filters"),
    (
        "segment_filters array of strings",
        {"segment_filters": ["purpose=customer"]},
        "segment_filters",
    ),
    (
        "segment_filters bad type",
        {"segment_filters": [{"type": "xor", "predicates": [PREDICATE]}]},
        "segment_filters",
    ),
    (
        "segment_filters missing type",
        {"segment_filters": [{"predicates": [PREDICATE]}]},
        "segment_filters",
    ),
    ("segment_filters no predicates", {"segment_filters": [{"type": "or"}]}, "segment_filters"),
    (
        "segment_filters unknown key",
        {"segment_filters": [{"type": "or", "predicates": [PREDICATE], "limit": 3}]},
        "segment_filters",
    ),
    (
        "segment_filters bad operator",
        {"segment_filters": [{"type": "or", "predicates": [{**PREDICATE, "operator": "equals"}]}]},
        "segment_filters",
    ),
    (
        "segment_filters predicates not array",
        {"segment_filters": [{"type": "or", "predicates": PREDICATE}]},
        "segment_filters",
    ),
    (
        "segment_filters predicate without dimension",
        {"segment_filters": [{"type": "or", "predicates": [{"value": "x"}]}]},
        "segment_filters",
    ),
    (
        "segment_filters matches without value",
        {"segment_filters": [{"type": "or", "predicates": [{"dimension": "purpose"}]}]},
        "segment_filters",
    ),
    (
        "segment_filters bad range",
        {
            "segment_filters": [
                {
                    "type": "and",
                    "predicates": [{"metric": "tSegmentDuration", "range": {"gte": "ten"}}],
                }
            ]
        },
        "segment_filters",
    ),
    (
        "conversation_filters bad clause type",
        {
            "conversation_filters": [
                {"type": "and", "clauses": [{"type": "nand", "predicates": [PREDICATE]}]}
            ]
        },
        "conversation_filters",
    ),
    (
        "conversation_filters empty clause",
        {"conversation_filters": [{"type": "and", "clauses": [{"type": "or", "predicates": []}]}]},
        "conversation_filters",
    ),
    (
        "conversation_filters object of wrong shape",
        {"conversation_filters": '{"a": 1}'},
        "conversation_filters",
    ),
    (
        "api_url plain http to public host",
        {"api_url": "http://api.example.com", "login_url": "https://login.example.com"},
        "api_url",
    ),
    (
        "login_url plain http to public host",
        {"api_url": "https://api.example.com", "login_url": "http://10.0.0.5:8080"},
        "login_url",
    ),
    ("api_url without scheme", {"api_url": "api.mypurecloud.com"}, "api_url"),
    ("api_url ftp scheme", {"api_url": "ftp://api.example.com"}, "api_url"),
    ("api_url with credentials", {"api_url": f"https://me:{SECRET}@api.example.com"}, "api_url"),
    ("api_url bad port", {"api_url": "https://api.example.com:99999"}, "api_url"),
    ("api_url host login cannot be derived", {"api_url": "https://genesys.internal"}, "login_url"),
    ("request_timeout negative", {"request_timeout": -1}, "request_timeout"),
    ("request_timeout zero", {"request_timeout": 0}, "request_timeout"),
    ("request_timeout text", {"request_timeout": "soon"}, "request_timeout"),
    ("max_retries too many", {"max_retries": 21}, "max_retries"),
    ("max_retries negative", {"max_retries": -1}, "max_retries"),
    ("max_concurrency zero", {"max_concurrency": 0}, "max_concurrency"),
    ("max_concurrency too high", {"max_concurrency": 17}, "max_concurrency"),
    ("requests_per_minute zero", {"requests_per_minute": 0}, "requests_per_minute"),
    ("requests_per_minute too high", {"requests_per_minute": 10001}, "requests_per_minute"),
]


def test_the_bad_config_matrix_has_at_least_25_cases() -> None:
    assert len(BAD_CONFIGS) >= 25


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [pytest.param(o, s, id=name) for name, o, s in BAD_CONFIGS],
)
def test_bad_setting_is_refused_with_one_line_naming_it(overrides: dict, setting: str) -> None:
    exc = error(**overrides)
    message = str(exc)
    assert message.startswith(f"{setting}: "), message
    assert exc.setting == setting
    assert "\n" not in message
    assert len(message) > len(setting) + 5
    assert SECRET not in message
    assert SECRET not in repr(exc)


def test_minimal_config_gets_documented_defaults() -> None:
    s = settings()
    assert s.client_id == "my-client"
    assert (s.api_url, s.login_url) == (
        "https://api.mypurecloud.com",
        "https://login.mypurecloud.com",
    )
    assert s.region == "us_east_1"
    assert s.start_date == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert s.end_date is None
    assert s.page_size == 100
    assert s.window_size == timedelta(days=1)
    assert s.lookback == timedelta(days=3)
    assert s.settle_lag == timedelta(minutes=5)
    assert s.open_conversation_horizon == timedelta(days=30)
    assert s.max_response_mb == 64
    assert (s.media_types, s.segment_filters, s.conversation_filters) == ((), (), ())
    assert (s.request_timeout, s.max_retries, s.max_concurrency, s.requests_per_minute) == (
        60.0,
        8,
        8,
        300,
    )


def test_repr_hides_the_client_secret() -> None:
    s = settings()
    assert SECRET not in repr(s)
    assert SECRET not in str(s)
    assert s.client_secret == SECRET


def test_credentials_are_stripped_of_surrounding_whitespace() -> None:
    s = settings(client_id=" my-client\n", client_secret=f"{SECRET}\n")
    assert (s.client_id, s.client_secret) == ("my-client", SECRET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00Z", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00.123Z", datetime(2024, 5, 1, 10, 30, 0, 123000, timezone.utc)),
        ("2024-05-01T12:30:00+02:00", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01T10:30:00", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01 10:30", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
    ],
)
def test_dates_parse_to_aware_utc(text: str, expected: datetime) -> None:
    s = settings(start_date=text)
    assert s.start_date == expected
    assert s.start_date.tzinfo is timezone.utc
    assert type(s.start_date) is datetime  # plain datetime, not a pendulum subclass


def test_end_date_up_to_a_day_ahead_is_accepted_and_blank_means_default() -> None:
    assert settings(end_date="2026-11-27").end_date == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert settings(end_date="").end_date is None
    assert settings(end_date=None).end_date is None


def test_datetime_objects_are_accepted_for_programmatic_use() -> None:
    naive = datetime(2024, 5, 1, 6)
    assert settings(start_date=naive).start_date == naive.replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("pt90m", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("P1W", timedelta(days=7)),
        ("P7D", timedelta(days=7)),
        ("P2D", timedelta(days=2)),
        ("PT6H", timedelta(hours=6)),
    ],
)
def test_window_size_accepts_iso_durations_in_range(text: str, expected: timedelta) -> None:
    assert settings(window_size=text).window_size == expected


def test_zero_lookback_and_settle_lag_are_allowed() -> None:
    s = settings(lookback="PT0S", settle_lag="P0D", open_conversation_horizon="PT0S")
    assert (s.lookback, s.settle_lag, s.open_conversation_horizon) == (timedelta(0),) * 3


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("eu-west-1", "eu_west_1"),
        ("eu_west_1", "eu_west_1"),
        ("mypurecloud.ie", "eu_west_1"),
        ("EU-WEST-1", "eu_west_1"),
        (" ap-southeast-2 ", "ap_southeast_2"),
        ("", "us_east_1"),
    ],
)
def test_region_resolves_to_its_hosts(spelling: str, key: str) -> None:
    s = settings(region=spelling)
    assert s.region == key
    assert s.api_url.startswith("https://api.")
    assert s.login_url == s.api_url.replace("https://api.", "https://login.")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.5.6.7", "http://localhost:9000/", "http://[::1]:8080"],
)
def test_plain_http_is_allowed_for_loopback_overrides(url: str) -> None:
    s = settings(api_url=url, login_url=url)
    assert s.api_url == url.rstrip("/")
    assert s.login_url == url.rstrip("/")
    assert s.region == "custom"


def test_overrides_keep_an_explicit_region_key() -> None:
    s = settings(
        region="eu-central-1",
        api_url="https://api.private.example",
        login_url="https://login.private.example/",
    )
    assert (s.region, s.api_url, s.login_url) == (
        "eu_central_1",
        "https://api.private.example",
        "https://login.private.example",
    )


def test_one_override_derives_the_other_by_the_sdk_host_rule() -> None:
    s = settings(api_url="https://api.private.example:8443")
    assert s.login_url == "https://login.private.example:8443"
    s = settings(login_url="https://login.mypurecloud.de")
    assert s.api_url == "https://api.mypurecloud.de"


def test_a_loopback_override_serves_both_hosts() -> None:
    s = settings(api_url="http://127.0.0.1:8080/")
    assert (s.api_url, s.login_url, s.region) == ("http://127.0.0.1:8080",) * 2 + ("custom",)


def test_numbers_arrive_as_strings_from_env_vars() -> None:
    s = settings(
        page_size="50",
        max_retries="0",
        max_concurrency="16",
        requests_per_minute="10000",
        request_timeout="2.5",
    )
    assert (s.page_size, s.max_retries, s.max_concurrency, s.requests_per_minute) == (
        50,
        0,
        16,
        10000,
    )
    assert s.request_timeout == 2.5


def test_media_types_accept_arrays_json_and_comma_lists() -> None:
    assert settings(media_types=["voice", "Chat"]).media_types == ("voice", "chat")
    assert settings(media_types='["email","voice","email"]').media_types == ("email", "voice")
    assert settings(media_types="voice, callback").media_types == ("voice", "callback")
    assert settings(media_types=list(MEDIA_TYPES)).media_types == MEDIA_TYPES


def test_media_types_become_an_or_segment_filter_after_raw_filters() -> None:
    raw = {"type": "and", "predicates": [PREDICATE]}
    s = settings(media_types=["voice", "callback"], segment_filters=[raw])
    assert s.has_filters
    assert s.query_segment_filters() == [
        raw,
        {
            "type": "or",
            "predicates": [
                {
                    "type": "dimension",
                    "dimension": "mediaType",
                    "operator": "matches",
                    "value": "voice",
                },
                {
                    "type": "dimension",
                    "dimension": "mediaType",
                    "operator": "matches",
                    "value": "callback",
                },
            ],
        },
    ]
    assert not settings().has_filters


def test_valid_filters_pass_as_json_text_or_objects() -> None:
    conversation = [
        {
            "type": "and",
            "clauses": [
                {
                    "type": "or",
                    "predicates": [
                        {
                            "type": "dimension",
                            "dimension": "originatingDirection",
                            "value": "inbound",
                        },
                        {"dimension": "divisionId", "operator": "exists"},
                    ],
                }
            ],
            "predicates": [{"type": "metric", "metric": "tHandle", "range": {"gte": 0, "lt": 9e5}}],
        }
    ]
    s = settings(
        conversation_filters=json.dumps(conversation),
        segment_filters={
            "type": "or",
            "predicates": [
                {"type": "property", "property": "vip", "propertyType": "bool", "value": "true"}
            ],
        },
    )
    assert list(s.conversation_filters) == conversation
    assert len(s.segment_filters) == 1
    assert s.query_conversation_filters() == conversation


def test_errors_are_reported_in_setting_order_one_at_a_time() -> None:
    exc = error(client_id="", page_size=0)
    assert exc.setting == "client_id"


def test_validation_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate_settings opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    settings(region="mypurecloud.jp")
    error(api_url="http://example.com")


def test_a_secret_pasted_into_another_setting_is_masked_in_the_error() -> None:
    exc = error(api_url=f"ftp://{SECRET}.example.com", region=SECRET)
    assert SECRET not in str(exc)
    assert "***" in str(exc)


def test_config_error_can_be_built_from_one_message() -> None:
    exc = ConfigError("page_size: must be between 1 and 100,\n got 0")
    assert (exc.setting, str(exc)) == ("page_size", "page_size: must be between 1 and 100, got 0")


# --- the descriptor table, new settings, host rules -----------------------------------------


def test_one_table_gives_the_schema_and_every_settings_field() -> None:
    from dataclasses import fields

    from tap_genesys_analytics.settings import SETTINGS, config_schema

    schema = config_schema()
    assert [s.name for s in SETTINGS] == list(schema["properties"])
    assert {f.name for f in fields(Settings)} == {s.name for s in SETTINGS}
    assert set(schema["required"]) == {"client_id", "client_secret", "start_date"}
    assert schema["properties"]["client_secret"]["secret"] is True
    assert schema["properties"]["page_size"]["maximum"] == 100  # range work left to the schema


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"open_conversation_horizon": "P367D"}, "must be between PT0S and P366D, got P367D"),
        ({"max_response_mb": 0}, "must be between 1 and 1024, got 0"),
        ({"max_response_mb": "2048"}, "must be between 1 and 1024, got 2048"),
        ({"request_timeout": 600.5}, "must be more than 0 and at most 600, got 600.5"),
    ],
)
def test_new_settings_have_their_documented_bounds(overrides: dict, fragment: str) -> None:
    exc = error(**overrides)
    assert exc.setting == next(iter(overrides))
    assert fragment in str(exc)


def test_new_settings_accept_their_range_and_text() -> None:
    from decimal import Decimal

    s = settings(open_conversation_horizon="P366D", max_response_mb="1024", request_timeout="30.5")
    assert (s.open_conversation_horizon, s.max_response_mb) == (timedelta(days=366), 1024)
    assert s.max_response_bytes == 1024 * 1024 * 1024
    assert s.request_timeout == 30.5
    assert settings(request_timeout=Decimal("0.25")).request_timeout == 0.25


def test_an_upper_case_api_host_derives_the_login_host() -> None:
    s = settings(api_url="https://API.mypurecloud.com")
    assert s.login_url == "https://login.mypurecloud.com"
    s = settings(login_url="HTTPS://Login.Example.com:8443/")
    assert s.api_url == "https://api.example.com:8443"


@pytest.mark.parametrize(
    "url", ["http://evil.localhost", "http://localhost.evil.com", "http://127.0.0.1.nip.io"]
)
def test_only_localhost_and_loopback_addresses_may_use_plain_http(url: str) -> None:
    exc = error(api_url=url, login_url=url)
    assert exc.setting == "api_url"
    assert "plain http is only allowed for loopback hosts" in str(exc)
