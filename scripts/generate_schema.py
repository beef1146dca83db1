"""Generate ``tap_genesys_analytics/schemas/conversation_details.json`` from the official SDK.

Walks ``PureCloudPlatformClientV2`` (dev dependency only) from
``AnalyticsConversationWithoutAttributes`` through every nested model and writes a typed JSON
schema keyed by the API's JSON (camelCase) names. Every property is nullable except the primary
key ``conversationId`` and the replication key ``conversationStart``. Enum values are recorded in
``description`` only, never as constraints, so a new server value cannot break a load.

Usage: ``python scripts/generate_schema.py [--check] [--output PATH]``
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import PureCloudPlatformClientV2 as sdk

ROOT_MODEL = "AnalyticsConversationWithoutAttributes"
SDK_VERSION = "269.0.0"
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "tap_genesys_analytics"
    / "schemas"
    / "conversation_details.json"
)
NOT_NULL = {
    "conversationId": {"type": "string"},
    "conversationStart": {"type": "string", "format": "date-time"},
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


def type_schema(swagger_type: str, stack: tuple[str, ...]) -> dict[str, Any]:
    """JSON schema (non-null) for an SDK swagger type string."""
    if swagger_type in PRIMITIVES:
        return dict(PRIMITIVES[swagger_type])
    if swagger_type == "object":
        return {"type": "object"}
    if match := LIST_TYPE.match(swagger_type):
        return {"type": "array", "items": nullable(type_schema(match.group(1), stack))}
    if match := DICT_TYPE.match(swagger_type):
        if match.group(1) != "str":
            raise ValueError(f"unsupported dict key type in {swagger_type!r}")
        value = nullable(type_schema(match.group(2), stack))
        return {"type": "object", "additionalProperties": value}
    if hasattr(sdk, swagger_type):
        return model_schema(swagger_type, stack)
    raise ValueError(f"unsupported SDK type {swagger_type!r} (extend the generator)")


def model_schema(model_name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """Object schema for an SDK model, recursing into nested models."""
    if model_name in stack:
        raise ValueError(f"recursive SDK model {' -> '.join((*stack, model_name))}")
    model = getattr(sdk, model_name)()
    facts = setter_facts(model_name)
    properties: dict[str, Any] = {}
    for attr, swagger_type in model.swagger_types.items():
        json_name = model.attribute_map[attr]
        prop = nullable(type_schema(swagger_type, (*stack, model_name)))
        description, allowed = facts.get(attr, ("", ()))
        if allowed:
            enum_note = "Known values (SDK " + SDK_VERSION + "): " + ", ".join(allowed) + "."
            description = f"{description} {enum_note}".strip()
        if description:
            prop["description"] = description
        properties[json_name] = prop
    return {"type": "object", "properties": properties}


def build_schema() -> dict[str, Any]:
    """The complete stream schema (top level not nullable; keys pinned non-null)."""
    schema = model_schema(ROOT_MODEL)
    for name, pinned in NOT_NULL.items():
        schema["properties"][name] = {**schema["properties"][name], **pinned}
    schema["required"] = sorted(NOT_NULL)
    return schema


def render(schema: dict[str, Any]) -> str:
    """Deterministic JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render(build_schema())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/generate_schema.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
