"""The conversation_details schema covers the official SDK model; unknown fields are found."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_genesys_analytics.schemas import load_schema, unknown_field_paths
from tests.sdk_models import (
    conformance_problems,
    deserialize,
    is_model,
    iter_model_fields,
    split_type,
)

ROOT = Path(__file__).resolve().parent.parent
ROOT_MODEL = "AnalyticsConversationWithoutAttributes"
SCALAR_SCHEMAS = {
    "str": ("string", None),
    "int": ("integer", None),
    "float": ("number", None),
    "bool": ("boolean", None),
    "datetime": ("string", "date-time"),
    "date": ("string", "date"),
}


def sample_conversation() -> dict[str, Any]:
    """A ~5 KB inbound voice call: customer, ivr, acd and agent participants (all fields known)."""

    def metric(name: str, value: int) -> dict[str, Any]:
        return {"emitDate": "2024-05-01T10:05:00.000Z", "name": name, "value": value}

    def stat() -> dict[str, Any]:
        return {
            "codecs": ["opus"],
            "eventTime": "2024-05-01T10:05:00.000Z",
            "minMos": 4.31,
            "minRFactor": 77.4,
            "receivedPackets": 1200,
        }

    def segment(kind: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
        return {"segmentType": kind, "segmentStart": start, "segmentEnd": end, **extra}

    def session(media_type: str, **extra: Any) -> dict[str, Any]:
        return {
            "sessionId": "5f1c4a52-8d9e-4c1b-9a39-1f0e2a3b4c5d",
            "mediaType": media_type,
            "direction": "inbound",
            "ani": "tel:+13175550100",
            "dnis": "tel:+13175550199",
            "edgeId": "0d8e2c1e-5b7a-4a51-9b3e-6f7e8d9c0b1a",
            "provider": "Edge",
            "mediaEndpointStats": [stat(), stat()],
            **extra,
        }

    t0, t1, t2 = "2024-05-01T10:00:00.000Z", "2024-05-01T10:01:00.000Z", "2024-05-01T10:05:00.000Z"
    return {
        "conversationId": "2b1f0c6e-7a3d-4e5f-8b9a-0c1d2e3f4a5b",
        "conversationStart": t0,
        "conversationEnd": t2,
        "originatingDirection": "inbound",
        "divisionIds": ["3c2d1e0f-aaaa-4bbb-8ccc-111122223333"],
        "mediaStatsMinConversationMos": 4.31,
        "mediaStatsMinConversationRFactor": 77.4,
        "participants": [
            {
                "participantId": "p-customer",
                "purpose": "customer",
                "sessions": [
                    session(
                        "voice",
                        metrics=[metric("nConnected", 1)],
                        segments=[segment("interact", t0, t2, disconnectType="peer")],
                    )
                ],
            },
            {
                "participantId": "p-ivr",
                "participantName": "Main IVR",
                "purpose": "ivr",
                "sessions": [
                    session(
                        "voice",
                        flow={
                            "flowId": "f-1",
                            "flowName": "Main",
                            "flowType": "INBOUNDCALL",
                            "entryType": "dnis",
                            "outcomes": [{"flowOutcomeId": "o-1", "flowOutcomeValue": "SUCCESS"}],
                        },
                        metrics=[metric("tIvr", 60000), metric("nFlow", 1)],
                        segments=[segment("ivr", t0, t1, disconnectType="transfer")],
                    )
                ],
            },
            {
                "participantId": "p-acd",
                "purpose": "acd",
                "sessions": [
                    session(
                        "voice",
                        metrics=[metric("tAcd", 5000), metric("nOffered", 1)],
                        segments=[segment("interact", t1, t1, queueId="q-1")],
                        requestedRoutings=["Standard"],
                        usedRouting="Standard",
                    )
                ],
            },
            {
                "participantId": "p-agent",
                "purpose": "agent",
                "userId": "u-1",
                "sessions": [
                    session(
                        "voice",
                        metrics=[
                            metric("tAlert", 3000),
                            metric("tTalk", 235000),
                            metric("tHandle", 255000),
                            metric("tAcw", 20000),
                        ],
                        segments=[
                            segment("alert", t1, t1, queueId="q-1"),
                            segment("interact", t1, t2, queueId="q-1", conference=False),
                            segment(
                                "wrapup",
                                t2,
                                t2,
                                wrapUpCode="ININ-WRAP-UP-TIMEOUT",
                                wrapUpTags=["vip"],
                                sipResponseCodes=[200],
                                scoredAgents=[{"agentScore": 10, "scoredAgentId": "u-1"}],
                                properties=[
                                    {"property": "p", "propertyType": "string", "value": "v"}
                                ],
                            ),
                        ],
                    )
                ],
            },
        ],
    }


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema()


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "generate_schema", ROOT / "scripts/generate_schema.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """Property schema at a dotted path (list levels collapsed)."""
    node = schema
    *parents, leaf = path.split(".")
    for name in parents:
        node = node["properties"][name]
        while "array" in node["type"]:
            node = node["items"]
    return node["properties"][leaf]


def _check_type(prop: dict[str, Any], swagger_type: str, where: str) -> list[str]:
    """Problems with ``prop`` as the schema for a (nullable) value of ``swagger_type``."""
    types = prop.get("type")
    if not isinstance(types, list) or "null" not in types or len(types) != 2:
        return [f"{where}: type {types!r} is not ['null', <type>]"]
    json_type = next(t for t in types if t != "null")
    if "enum" in prop:
        return [f"{where}: enum constraint present"]
    kind, inner = split_type(swagger_type)
    if kind == "list":
        if json_type != "array":
            return [f"{where}: {swagger_type} mapped to {json_type}"]
        return _check_type(prop["items"], inner or "", where + "[]")
    if kind == "dict":
        if json_type != "object" or "additionalProperties" not in prop:
            return [f"{where}: {swagger_type} is not an object with additionalProperties"]
        return _check_type(prop["additionalProperties"], inner or "", where + "{}")
    if is_model(kind):
        return [] if json_type == "object" and "properties" in prop else [f"{where}: not a model"]
    expected_type, expected_format = SCALAR_SCHEMAS[kind]
    if (json_type, prop.get("format")) != (expected_type, expected_format):
        return [f"{where}: {kind} mapped to {json_type}/{prop.get('format')}"]
    return []


def test_schema_covers_every_sdk_field_with_its_type(schema):
    fields = list(iter_model_fields(ROOT_MODEL))
    assert len(fields) > 200  # the walk really reaches sessions, segments, flows, ...
    problems: list[str] = []
    for field in fields:
        if field.path in ("conversationId", "conversationStart"):
            continue
        try:
            prop = _schema_at(schema, field.path)
        except KeyError:
            problems.append(f"{field.path}: missing from schema")
            continue
        problems += _check_type(prop, field.swagger_type, field.path)
        for value in field.allowed_values:
            if value not in prop.get("description", ""):
                problems.append(f"{field.path}: enum value {value!r} not described")
    assert problems == []


def test_schema_declares_no_field_the_sdk_lacks(schema):
    sdk_paths = {field.path for field in iter_model_fields(ROOT_MODEL)}

    def walk(node: dict[str, Any], prefix: str) -> set[str]:
        paths = set()
        for name, prop in node.get("properties", {}).items():
            paths.add(prefix + name)
            level = prop
            while "items" in level:
                level = level["items"]
            paths |= walk(level, f"{prefix}{name}.")
        return paths

    assert walk(schema, "") == sdk_paths


def test_keys_are_required_non_null_strings(schema):
    assert schema["required"] == ["conversationId", "conversationStart"]
    assert schema["properties"]["conversationId"]["type"] == "string"
    assert schema["properties"]["conversationStart"]["type"] == "string"
    assert schema["properties"]["conversationStart"]["format"] == "date-time"


@pytest.mark.parametrize("name", ["conversation_details", "user_presence", "users", "flows"])
def test_committed_schema_equals_generator_output(name):
    generator = _load_generator()
    committed = (ROOT / f"tap_genesys_analytics/schemas/{name}.json").read_text()
    assert committed == generator.render(generator.build_schema(name)), (
        "schema out of date: run .venv/bin/python scripts/generate_schema.py"
    )


def test_every_schema_file_is_generated_and_up_to_date():
    assert _load_generator().main(["--check"]) == 0


def test_schema_is_valid_draft7_and_accepts_sample_and_unknown_enum(schema):
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    record = sample_conversation()
    record["participants"][0]["sessions"][0]["mediaType"] = "hologram"  # new server enum value
    assert list(validator.iter_errors(record)) == []
    del record["conversationStart"]
    assert list(validator.iter_errors(record)) != []


def test_singer_sdk_tap_syncs_a_record_with_the_schema(schema, capsys):
    from singer_sdk import Stream, Tap

    class _Stream(Stream):
        name = "conversation_details"
        primary_keys = ("conversationId",)
        replication_key = "conversationStart"

        def get_records(self, context):
            yield sample_conversation()

    class _Tap(Tap):
        name = "tap-schema-check"
        config_jsonschema = {"type": "object", "properties": {}}

        def discover_streams(self):
            return [_Stream(self, schema=schema)]

    tap = _Tap(config={}, validate_config=False)
    catalog_schema = tap.catalog_dict["streams"][0]["schema"]
    assert catalog_schema["properties"].keys() == schema["properties"].keys()
    tap.sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert records == [sample_conversation()]
    assert any(m["type"] == "SCHEMA" for m in messages)


def test_sample_conversation_conforms_to_sdk_and_has_no_unknown_fields(schema):
    record = sample_conversation()
    assert conformance_problems(record, ROOT_MODEL) == []
    assert unknown_field_paths(record, schema) == set()
    assert len(json.dumps(record)) > 4000


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (lambda r: r, "newTopThing"),
        (lambda r: r["participants"][1], "participants.newTopThing"),
        (lambda r: r["participants"][1]["sessions"][0], "participants.sessions.newTopThing"),
        (
            lambda r: r["participants"][3]["sessions"][0]["segments"][2],
            "participants.sessions.segments.newTopThing",
        ),
        (
            lambda r: r["participants"][3]["sessions"][0]["metrics"][1],
            "participants.sessions.metrics.newTopThing",
        ),
        (
            lambda r: r["participants"][1]["sessions"][0]["flow"],
            "participants.sessions.flow.newTopThing",
        ),
        (
            lambda r: r["participants"][1]["sessions"][0]["flow"]["outcomes"][0],
            "participants.sessions.flow.outcomes.newTopThing",
        ),
        (
            lambda r: r["participants"][3]["sessions"][0]["segments"][2]["scoredAgents"][0],
            "participants.sessions.segments.scoredAgents.newTopThing",
        ),
    ],
)
def test_unknown_field_paths_names_new_field_at_each_level(schema, location, expected):
    record = sample_conversation()
    location(record)["newTopThing"] = {"nested": [1]}
    assert unknown_field_paths(record, schema) == {expected}


def test_unknown_field_paths_collapses_list_indices_and_reports_each_path_once(schema):
    record = sample_conversation()
    for participant in record["participants"]:
        participant["sessions"][0]["newThing"] = 1
        participant["sessions"][0]["metrics"][0]["unit"] = "ms"
    record["evaluations"] = [{"evaluationId": "e", "aiScore": 1}]
    assert unknown_field_paths(record, schema) == {
        "participants.sessions.newThing",
        "participants.sessions.metrics.unit",
        "evaluations.aiScore",
    }


def test_unknown_field_paths_treats_map_keys_as_data_and_tolerates_odd_shapes():
    schema = {
        "type": "object",
        "properties": {
            "attributes": {"type": ["null", "object"], "additionalProperties": {"type": "string"}},
            "flow": {"type": ["null", "object"], "properties": {"flowId": {"type": "string"}}},
        },
    }
    record = {"attributes": {"anyKey": "v"}, "flow": [{"flowId": "x", "extra": 1}, "junk"]}
    assert unknown_field_paths(record, schema) == {"flow.extra"}
    assert unknown_field_paths({"flow": None, "attributes": None}, schema) == set()


def test_load_schema_is_cached():
    assert load_schema() is load_schema("conversation_details")


def test_deserialize_builds_sdk_model_with_parsed_datetimes():
    model = deserialize(sample_conversation(), ROOT_MODEL)
    assert model.conversation_id == "2b1f0c6e-7a3d-4e5f-8b9a-0c1d2e3f4a5b"
    assert model.conversation_start.isoformat() == "2024-05-01T10:00:00+00:00"
    agent_session = model.participants[3].sessions[0]
    assert agent_session.segments[2].wrap_up_code == "ININ-WRAP-UP-TIMEOUT"
    assert agent_session.metrics[1].value == 235000


def _with(change) -> dict[str, Any]:
    record = sample_conversation()
    change(record)
    return record


def _set(path: list, value: Any):
    def change(record: dict[str, Any]) -> None:
        node: Any = record
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return change


AGENT_SESSION = ["participants", 3, "sessions", 0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _set(["surprise"], 1),
            "surprise: unknown field of AnalyticsConversationWithoutAttributes",
        ),
        (
            _set([*AGENT_SESSION, "segments", 0, "extra"], "x"),
            "participants[3].sessions[0].segments[0].extra: unknown field of "
            "AnalyticsConversationSegment",
        ),
        (
            _set(["participants", 0, "purpose"], "Customer"),
            "participants[0].purpose: 'Customer' not in allowed values",
        ),
        (
            _set([*AGENT_SESSION, "mediaType"], "hologram"),
            "participants[3].sessions[0].mediaType: 'hologram' not in allowed values",
        ),
        (_set(["divisionIds"], "d-1"), "divisionIds: expected array (list[str]), got string"),
        (_set(["divisionIds", 0], 7), "divisionIds[0]: expected string (str), got integer"),
        (
            _set([*AGENT_SESSION, "metrics", 0, "value"], 1.5),
            "participants[3].sessions[0].metrics[0].value: expected integer, got number",
        ),
        (
            _set([*AGENT_SESSION, "metrics", 0, "value"], True),
            "participants[3].sessions[0].metrics[0].value: expected integer, got boolean",
        ),
        (
            _set(["mediaStatsMinConversationMos"], "4.3"),
            "mediaStatsMinConversationMos: expected number, got string",
        ),
        (_set(["selfServed"], "true"), "selfServed: expected boolean, got string"),
        (
            _set(["conversationEnd"], "2024-05-01 10:05:00"),
            "conversationEnd: '2024-05-01 10:05:00' is not an ISO-8601 date-time",
        ),
        (
            _set(["conversationEnd"], "2024-05-01T10:05:00"),
            "conversationEnd: '2024-05-01T10:05:00' is not an ISO-8601 date-time",
        ),
        (
            _set(["conversationEnd"], "2024-02-30T10:05:00Z"),
            "conversationEnd: '2024-02-30T10:05:00Z' is not a valid date-time",
        ),
        (
            _set(["participants", 1, "sessions", 0, "flow"], [{"flowId": "f"}]),
            "participants[1].sessions[0].flow: expected object (AnalyticsFlow), got array",
        ),
        (
            _set(["participants", 1, "sessions", 0, "flow", "outcomes", 0, "bad"], 1),
            "participants[1].sessions[0].flow.outcomes[0].bad: unknown field of "
            "AnalyticsFlowOutcome",
        ),
        (
            _set([*AGENT_SESSION, "segments", 2, "sipResponseCodes", 0], "200"),
            "participants[3].sessions[0].segments[2].sipResponseCodes[0]: expected integer, "
            "got string",
        ),
        (_set(["externalTag"], None), "externalTag: null (the API omits absent fields)"),
    ],
)
def test_conformance_problems_reports_each_departure(change, expected):
    problems = conformance_problems(_with(change), ROOT_MODEL)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:05:00Z",
        "2024-05-01T10:05:00.123Z",
        "2024-05-01T10:05:00.123456+02:00",
        "2024-05-01T10:05:00-0530",
    ],
)
def test_conformance_problems_accepts_iso_datetimes_with_zone(value):
    assert conformance_problems(_with(_set(["conversationEnd"], value)), ROOT_MODEL) == []


def test_conformance_problems_accepts_int_where_sdk_says_float_and_null_when_allowed():
    record = _with(_set(["mediaStatsMinConversationMos"], 4))
    record["externalTag"] = None
    assert conformance_problems(record, ROOT_MODEL, allow_null=True) == []


def test_conformance_problems_checks_dict_values_and_reports_several_problems():
    participant = {"participantId": "p", "purpose": "agent", "attributes": {"ok": "v", "n": 3}}
    assert conformance_problems(participant, "AnalyticsParticipant") == [
        "attributes['n']: expected string (str), got integer"
    ]
    assert conformance_problems({"purpose": "x", "y": 1}, "AnalyticsParticipant") == [
        "purpose: 'x' not in allowed values "
        "['acd', 'agent', 'api', 'botflow', 'campaign', 'customer', 'dialer', 'external', 'fax', "
        "'group', 'inbound', 'ivr', 'manual', 'outbound', 'station', 'user', 'voicemail', "
        "'voicesurveyflow', 'workflow']",
        "y: unknown field of AnalyticsParticipant",
    ]
    assert conformance_problems([], ROOT_MODEL) == [f"$: expected object ({ROOT_MODEL}), got array"]


def test_iter_model_fields_walks_nested_attribute_maps():
    by_path = {field.path: field for field in iter_model_fields(ROOT_MODEL)}
    metric_value = by_path["participants.sessions.metrics.value"]
    assert (metric_value.model, metric_value.swagger_type) == ("AnalyticsSessionMetric", "int")
    assert "wrapup" in by_path["participants.sessions.segments.segmentType"].allowed_values
    assert by_path["participants.sessions.flow.outcomes.flowOutcomeId"].python_name == (
        "flow_outcome_id"
    )
    shallow = {field.path for field in iter_model_fields(ROOT_MODEL, recursive=False)}
    assert "participants" in shallow and "participants.sessions" not in shallow
