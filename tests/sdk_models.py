"""Test helpers around the official SDK models (``PureCloudPlatformClientV2``, dev dependency).

- ``iter_model_fields``: walk a model's attribute maps (recursively) as ``ModelField`` rows.
- ``conformance_problems``: exact check of a JSON (camelCase) dict against a model: unknown
  fields, JSON types, enum values, ISO-8601 date-times, nested lists/maps/models.
- ``deserialize``: really deserialize through the SDK's ``ApiClient``.

This module is an independent reading of the SDK (it does not reuse the schema generator), so
tests comparing the committed schema with it cross-check the generator.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import inspect
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import PureCloudPlatformClientV2 as sdk

__all__ = [
    "ModelField",
    "allowed_values",
    "conformance_problems",
    "deserialize",
    "is_model",
    "iter_model_fields",
    "model_fields",
    "split_type",
]

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(([^,]+), (.+)\)$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SCALARS = {"str", "int", "float", "bool", "datetime", "date", "object"}


@dataclass(frozen=True)
class ModelField:
    """One attribute of an SDK model."""

    model: str  # owning model class name
    python_name: str  # snake_case attribute
    json_name: str  # camelCase JSON key
    swagger_type: str  # e.g. "list[AnalyticsSession]", "datetime"
    path: str  # dotted JSON path from the walk's root, list levels collapsed
    allowed_values: tuple[str, ...]  # enum values from the setter, () if not an enum


def is_model(swagger_type: str) -> bool:
    """True if ``swagger_type`` names an SDK model class."""
    return swagger_type not in _SCALARS and inspect.isclass(getattr(sdk, swagger_type, None))


def split_type(swagger_type: str) -> tuple[str, str | None]:
    """``("list", inner)``, ``("dict", value_type)`` or ``(swagger_type, None)``."""
    if match := _LIST.match(swagger_type):
        return "list", match.group(1)
    if match := _DICT.match(swagger_type):
        return "dict", match.group(2)
    return swagger_type, None


def _leaf_type(swagger_type: str) -> str:
    kind, inner = split_type(swagger_type)
    return _leaf_type(inner) if inner is not None else kind


@functools.cache
def model_fields(model_name: str) -> dict[str, ModelField]:
    """Fields of one model keyed by JSON name (``path`` is the bare JSON name)."""
    model = getattr(sdk, model_name)()
    enums = _enum_values(model_name)
    return {
        model.attribute_map[attr]: ModelField(
            model=model_name,
            python_name=attr,
            json_name=model.attribute_map[attr],
            swagger_type=swagger_type,
            path=model.attribute_map[attr],
            allowed_values=enums.get(attr, ()),
        )
        for attr, swagger_type in model.swagger_types.items()
    }


def allowed_values(model_name: str, json_name: str) -> tuple[str, ...]:
    """Enum values the SDK setter accepts for a field ( ``()`` if it is not an enum)."""
    return model_fields(model_name)[json_name].allowed_values


def iter_model_fields(model_name: str, *, recursive: bool = True) -> Iterator[ModelField]:
    """Walk the attribute maps of ``model_name`` (and, if recursive, of every nested model)."""
    yield from _walk(model_name, "", (), recursive)


def _walk(model_name: str, prefix: str, stack: tuple[str, ...], recursive: bool):
    for field in model_fields(model_name).values():
        path = prefix + field.json_name
        yield ModelField(**{**field.__dict__, "path": path})
        leaf = _leaf_type(field.swagger_type)
        if recursive and is_model(leaf) and leaf not in stack:
            yield from _walk(leaf, path + ".", (*stack, model_name), recursive)


@functools.cache
def _enum_values(model_name: str) -> dict[str, tuple[str, ...]]:
    """``allowed_values`` list literals found in the model's property setters."""
    tree = ast.parse(inspect.getsource(getattr(sdk, model_name)))
    enums: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not any(
            isinstance(d, ast.Attribute) and d.attr == "setter" for d in node.decorator_list
        ):
            continue
        for stmt in ast.walk(node):
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.List)
                and any(isinstance(t, ast.Name) and t.id == "allowed_values" for t in stmt.targets)
            ):
                enums[node.name] = tuple(ast.literal_eval(stmt.value))
    return enums


def deserialize(obj: dict[str, Any], model_name: str) -> Any:
    """Deserialize ``obj`` into an SDK model instance exactly as the SDK does for responses."""
    client = sdk.ApiClient()
    return client._ApiClient__deserialize(obj, model_name)


def conformance_problems(
    obj: Any, model_name: str, *, allow_null: bool = False, path: str = ""
) -> list[str]:
    """Every way ``obj`` (JSON, camelCase) departs from SDK model ``model_name``; [] if none.

    Problems read ``"<path>: <what>"`` with list indices kept (``participants[0].purpose``).
    Enum values must match exactly (the SDK itself compares case-insensitively and turns unknown
    values into ``outdated_sdk_version``). ``null`` values are problems unless ``allow_null``
    (the API omits absent fields instead of sending null).
    """
    checker = _Checker(allow_null)
    checker.value(obj, model_name, path or "$", ())
    return checker.problems


class _Checker:
    """Recursive walk collecting problems."""

    def __init__(self, allow_null: bool) -> None:
        self.allow_null = allow_null
        self.problems: list[str] = []

    def model(self, obj: Any, model_name: str, path: str) -> None:
        if not isinstance(obj, dict):
            self.problems.append(f"{path}: expected object ({model_name}), got {_json_type(obj)}")
            return
        fields = model_fields(model_name)
        prefix = "" if path == "$" else path + "."
        for key, item in obj.items():
            field = fields.get(key)
            if field is None:
                self.problems.append(f"{prefix}{key}: unknown field of {model_name}")
            else:
                self.value(item, field.swagger_type, prefix + key, field.allowed_values)

    def value(self, value: Any, swagger_type: str, path: str, enum: tuple[str, ...]) -> None:
        if value is None:
            if not self.allow_null:
                self.problems.append(f"{path}: null (the API omits absent fields)")
            return
        kind, _ = split_type(swagger_type)
        if kind in ("list", "dict"):
            self.container(value, swagger_type, path, enum)
        elif kind in _SCALARS:
            problem = _scalar_problem(value, kind, enum)
            if problem:
                self.problems.append(f"{path}: {problem}")
        elif is_model(kind):
            self.model(value, kind, path)
        else:
            raise ValueError(f"unsupported SDK type {swagger_type!r} at {path}")

    def container(self, value: Any, swagger_type: str, path: str, enum: tuple[str, ...]) -> None:
        kind, inner = split_type(swagger_type)
        expected = list if kind == "list" else dict
        if not isinstance(value, expected):
            json_kind = "array" if kind == "list" else "object"
            self.problems.append(
                f"{path}: expected {json_kind} ({swagger_type}), got {_json_type(value)}"
            )
            return
        if isinstance(value, list):
            items = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
        else:
            items = [(f"{path}[{key!r}]", item) for key, item in value.items()]
        for item_path, item in items:
            self.value(item, inner or "", item_path, enum)


def _scalar_problem(value: Any, kind: str, enum: tuple[str, ...]) -> str | None:
    if kind == "object":
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else f"expected boolean, got {_json_type(value)}"
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected integer, got {_json_type(value)}"
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            return f"{value!r} is not a finite JSON number"
        return None if ok else f"expected number, got {_json_type(value)}"
    if not isinstance(value, str):
        return f"expected string ({kind}), got {_json_type(value)}"
    if kind == "datetime":
        return _datetime_problem(value)
    if kind == "date":
        return _date_problem(value)
    if enum and value not in enum:
        return f"{value!r} not in allowed values {list(enum)}"
    return None


def _datetime_problem(value: str) -> str | None:
    match = _DATETIME.match(value)
    if not match:
        return f"{value!r} is not an ISO-8601 date-time with seconds and a Z or offset"
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset = match.group(7)
    if offset != "Z":
        digits = offset[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return f"{value!r} has an invalid UTC offset"
    return _calendar_problem(value, (year, month, day, hour, minute, second))


def _date_problem(value: str) -> str | None:
    match = _DATE.match(value)
    if not match:
        return f"{value!r} is not an ISO-8601 date (YYYY-MM-DD)"
    year, month, day = (int(g) for g in match.groups())
    return _calendar_problem(value, (year, month, day))


def _calendar_problem(value: str, parts: tuple[int, ...]) -> str | None:
    year, month, day, *clock = parts
    hour, minute, second = clock or (0, 0, 0)
    try:
        dt.datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        return f"{value!r} is not a valid date-time ({error})"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
