"""Stream schemas (generated from the official SDK by ``scripts/generate_schema.py``).

Runtime helpers only: no SDK import here. ``unknown_field_paths`` lets the stream report fields
the API sends that the schema does not know yet, so they are logged rather than lost silently.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["KnownFields", "compile_known_fields", "load_schema", "unknown_field_paths"]


def load_schema(name: str = "conversation_details") -> dict[str, Any]:
    """The JSON schema ``schemas/<name>.json``, read once and shared: treat it as read-only
    (``copy.deepcopy`` it before changing anything)."""
    return _read_schema(name)


@functools.cache
def _read_schema(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class KnownFields:
    """Key set of one object level plus the levels nested under its object/array properties."""

    keys: frozenset[str]
    children: tuple[tuple[str, KnownFields], ...]


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _object_level(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema whose properties describe ``schema``'s value (or its array items)."""
    types = _types(schema)
    if "array" in types and isinstance(schema.get("items"), dict):
        return _object_level(schema["items"])
    if "object" in types and "properties" in schema:
        return schema
    return None  # scalar, or a free-form map (additionalProperties) whose keys are data


def compile_known_fields(schema: dict[str, Any]) -> KnownFields:
    """Precompute the nested key sets of an object schema."""
    properties: dict[str, Any] = schema.get("properties", {})
    children = []
    for key in sorted(properties):
        level = _object_level(properties[key])
        if level is not None:
            children.append((key, compile_known_fields(level)))
    return KnownFields(frozenset(properties), tuple(children))


_COMPILED_MAX = 8
_compiled_lock = threading.Lock()
_compiled: dict[int, tuple[dict[str, Any], KnownFields]] = {}


def _known_fields_for(schema: dict[str, Any]) -> KnownFields:
    """Compiled key sets for ``schema``, cached by identity (schemas are treated as read-only)."""
    cached = _compiled.get(id(schema))
    if cached is None or cached[0] is not schema:
        with _compiled_lock:
            if len(_compiled) >= _COMPILED_MAX:
                _compiled.pop(next(iter(_compiled)))
            cached = (schema, compile_known_fields(schema))
            _compiled[id(schema)] = cached
    return cached[1]


def _collect(record: dict[str, Any], known: KnownFields, prefix: str, found: set[str]) -> None:
    if not known.keys.issuperset(record):
        found.update(prefix + key for key in record.keys() - known.keys)
    for key, child in known.children:
        value = record.get(key)
        if not value:
            continue
        child_prefix = prefix + key + "."
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _collect(item, child, child_prefix, found)
        elif isinstance(value, dict):
            _collect(value, child, child_prefix, found)


def unknown_field_paths(record: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Dotted paths of fields in ``record`` that ``schema`` does not declare.

    List indices are collapsed (``participants.sessions.newThing``); keys inside free-form maps
    (``additionalProperties``) are data, not fields, and are never reported.
    """
    found: set[str] = set()
    _collect(record, _known_fields_for(schema), "", found)
    return found
