"""Generate the stream schemas under ``tap_genesys_analytics/schemas/`` from the official SDK.

Walks ``PureCloudPlatformClientV2`` (dev dependency only) from each stream's root model (for
``conversation_details``: ``AnalyticsConversationWithoutAttributes``) through every nested
model and writes a typed JSON schema keyed by the API's JSON (camelCase) names. Every property
is nullable except the stream's key fields. Enum values are recorded in ``description`` only,
never as constraints, so a new server value cannot break a load. The org's configuration
models nest deeply and recursively (a User has a manager User): below ``max_depth`` nested
levels, or where a model would contain itself, a property is an untyped JSON object.
The conversation tables (participants, sessions, ...) are cut from ``conversation_details``
at run time, so they need no file of their own.

Usage: ``python scripts/generate_schema.py [--check]``
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PureCloudPlatformClientV2 as sdk

SDK_VERSION = "269.0.0"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "tap_genesys_analytics" / "schemas"
_ID = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}


@dataclass(frozen=True)
class StreamModel:
    """One schema file: the SDK model of a record, its non-null keys, extra fields, depth."""

    model: str
    not_null: dict[str, dict[str, Any]]
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_depth: int | None = None


STREAM_MODELS: dict[str, StreamModel] = {
    "conversation_details": StreamModel(
        "AnalyticsConversationWithoutAttributes",
        {"conversationId": _ID, "conversationStart": _TIME},
    ),
    "user_presence": StreamModel(
        "AnalyticsUserPresenceRecord", {"userId": _ID, "startTime": _TIME}, {"userId": _ID}
    ),
    "user_routing_status": StreamModel(
        "AnalyticsRoutingStatusRecord", {"userId": _ID, "startTime": _TIME}, {"userId": _ID}
    ),
    "users": StreamModel("User", {"id": _ID}, max_depth=2),
    "routing_queues": StreamModel("Queue", {"id": _ID}, max_depth=2),
    "routing_wrapup_codes": StreamModel("WrapupCode", {"id": _ID}, max_depth=2),
    "routing_skills": StreamModel("RoutingSkill", {"id": _ID}, max_depth=2),
    "routing_languages": StreamModel("Language", {"id": _ID}, max_depth=2),
    "divisions": StreamModel("AuthzDivision", {"id": _ID}, max_depth=2),
    "groups": StreamModel("Group", {"id": _ID}, max_depth=2),
    "presence_definitions": StreamModel("OrganizationPresenceDefinition", {"id": _ID}, max_depth=2),
    "flows": StreamModel("Flow", {"id": _ID}, max_depth=2),
}
PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}
LIST_TYPE = re.compile(r"^list\[(.+)\]$")
DICT_TYPE = re.compile(r"^dict\(([^,]+), (.+)\)$")


@functools.cache
def setter_facts(model_name: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per Python attribute: (description, allowed values) read from the model's source."""
    tree = ast.parse(inspect.getsource(getattr(sdk, model_name)))
    facts: dict[str, tuple[str, tuple[str, ...]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not _is_setter(node):
            continue
        allowed: tuple[str, ...] = ()
        for stmt in ast.walk(node):
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "allowed_values" for t in stmt.targets)
                and isinstance(stmt.value, ast.List)
            ):
                allowed = tuple(ast.literal_eval(stmt.value))
        facts[node.name] = (_description(ast.get_docstring(node) or ""), allowed)
    return facts


def _is_setter(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in node.decorator_list)


def _description(docstring: str) -> str:
    """The SDK field description: docstring lines between the 'Sets the ...' line and params."""
    lines = [line.strip() for line in docstring.splitlines()]
    body = [line for line in lines[1:] if line and not line.startswith(":")]
    return " ".join(body)


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Return ``schema`` with "null" added to its type."""
    return {**schema, "type": ["null", schema["type"]]}


def type_schema(
    swagger_type: str, stack: tuple[str, ...], max_depth: int | None = None
) -> dict[str, Any]:
    """JSON schema (non-null) for an SDK swagger type string."""
    if swagger_type in PRIMITIVES:
        return dict(PRIMITIVES[swagger_type])
    if swagger_type == "object":
        return {"type": "object"}
    if match := LIST_TYPE.match(swagger_type):
        return {"type": "array", "items": nullable(type_schema(match.group(1), stack, max_depth))}
    if match := DICT_TYPE.match(swagger_type):
        if match.group(1) != "str":
            raise ValueError(f"unsupported dict key type in {swagger_type!r}")
        value = nullable(type_schema(match.group(2), stack, max_depth))
        return {"type": "object", "additionalProperties": value}
    if hasattr(sdk, swagger_type):
        if max_depth is not None and (len(stack) > max_depth or swagger_type in stack):
            return {"type": "object"}  # deeper or recursive: kept as untyped JSON
        return model_schema(swagger_type, stack, max_depth)
    raise ValueError(f"unsupported SDK type {swagger_type!r} (extend the generator)")


def model_schema(
    model_name: str, stack: tuple[str, ...] = (), max_depth: int | None = None
) -> dict[str, Any]:
    """Object schema for an SDK model, recursing into nested models."""
    if model_name in stack:
        raise ValueError(f"recursive SDK model {' -> '.join((*stack, model_name))}")
    model = getattr(sdk, model_name)()
    facts = setter_facts(model_name)
    properties: dict[str, Any] = {}
    for attr, swagger_type in model.swagger_types.items():
        json_name = model.attribute_map[attr]
        prop = nullable(type_schema(swagger_type, (*stack, model_name), max_depth))
        description, allowed = facts.get(attr, ("", ()))
        if allowed:
            enum_note = "Known values (SDK " + SDK_VERSION + "): " + ", ".join(allowed) + "."
            description = f"{description} {enum_note}".strip()
        if description:
            prop["description"] = description
        properties[json_name] = prop
    return {"type": "object", "properties": properties}


def build_schema(name: str = "conversation_details") -> dict[str, Any]:
    """The complete schema of stream ``name`` (top level not nullable; keys pinned non-null)."""
    spec = STREAM_MODELS[name]
    schema = model_schema(spec.model, max_depth=spec.max_depth)
    schema["properties"] = {**{k: dict(v) for k, v in spec.extra.items()}, **schema["properties"]}
    for key, pinned in spec.not_null.items():
        schema["properties"][key] = {**schema["properties"][key], **pinned}
    schema["required"] = sorted(spec.not_null)
    return schema


def render(schema: dict[str, Any]) -> str:
    """Deterministic JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = 0
    for name in STREAM_MODELS:
        output = SCHEMA_DIR / f"{name}.json"
        text = render(build_schema(name))
        if args.check:
            current = output.read_text(encoding="utf-8") if output.exists() else ""
            if current != text:
                print(f"{output} is out of date: run scripts/generate_schema.py", file=sys.stderr)
                stale += 1
            continue
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({len(text)} bytes)")
    if args.check and not stale:
        print(f"{len(STREAM_MODELS)} schemas are up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
