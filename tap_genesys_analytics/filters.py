"""The grammar of the details query's segmentFilters/conversationFilters (pure, no I/O).

A filter is ``{"type": "and"|"or", "clauses": [...], "predicates": [...]}`` with at least one
clause or predicate; a clause is ``{"type", "predicates"}``; a predicate names a dimension,
metric or property and, for ``matches``, a value or a numeric range. Checked before the first
request so a typo costs one line naming the setting, not an API 400 mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_genesys_analytics.errors import ConfigError

FILTER_TYPES = ("and", "or")
PREDICATE_TYPES = ("dimension", "property", "metric")
PREDICATE_OPERATORS = ("matches", "exists", "notExists")
PROPERTY_TYPES = ("bool", "integer", "real", "date", "string", "uuid")
RANGE_KEYS = ("gt", "gte", "lt", "lte")
_PREDICATE_KEYS = (
    "type", "dimension", "metric", "property", "propertyType", "operator", "value", "range",
)  # fmt: skip


def media_type_filter(media_types: tuple[str, ...]) -> dict:
    """The segment filter the `media_types` shortcut stands for (an "or" of mediaType)."""
    return {"type": "or", "predicates": [
        {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": m}
        for m in media_types
    ]}  # fmt: skip


def one_filter_as_list(value: Any) -> Any:
    """One filter object given where a list is expected becomes a list of one."""
    return [value] if isinstance(value, Mapping) else value


def parse_filters(items: list[Any], name: str) -> tuple[dict, ...]:
    """The filters checked (:func:`check_filters`), as a tuple of plain dicts."""
    check_filters(items, name)
    return tuple(dict(item) for item in items)


def check_filters(items: list[Any], name: str) -> None:
    """Raise ConfigError("<name>: [i].<path> ...") for the first malformed filter."""
    for index, item in enumerate(items):
        _node(item, name, f"[{index}]", "filter", ("type", "clauses", "predicates"))
        count = _list(item, "clauses", name, f"[{index}]", _clause)
        count += _list(item, "predicates", name, f"[{index}]", _predicate)
        if not count:
            raise ConfigError(name, f"[{index}] needs at least one clause or predicate")


def _node(item: Any, name: str, where: str, what: str, keys: tuple[str, ...]) -> None:
    if not isinstance(item, Mapping):
        raise ConfigError(name, f"{where} must be a {what} object, got {type(item).__name__}")
    unknown = sorted(set(item) - set(keys))
    if unknown:
        raise ConfigError(
            name, f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(keys)}"
        )
    if what != "predicate":
        _enum(item, "type", FILTER_TYPES, name, where, required=True)


def _enum(
    item: Mapping[str, Any],
    key: str,
    allowed: tuple[str, ...],
    name: str,
    where: str,
    *,
    required: bool = False,
) -> None:
    if key not in item and required:
        raise ConfigError(name, f"{where}.{key} is required (one of {', '.join(allowed)})")
    if key in item and item[key] not in allowed:
        raise ConfigError(
            name, f"{where}.{key} must be one of {', '.join(allowed)}, got {item[key]!r}"
        )


def _list(item: Mapping[str, Any], key: str, name: str, where: str, check: Any) -> int:
    items = item.get(key)
    if items is None:
        return 0
    if not isinstance(items, list):
        raise ConfigError(name, f"{where}.{key} must be an array, got {type(items).__name__}")
    for index, entry in enumerate(items):
        check(entry, name, f"{where}.{key}[{index}]")
    return len(items)


def _clause(item: Any, name: str, where: str) -> None:
    _node(item, name, where, "clause", ("type", "predicates"))
    if not _list(item, "predicates", name, where, _predicate):
        raise ConfigError(name, f"{where}.predicates must be a non-empty array")


def _predicate(item: Any, name: str, where: str) -> None:
    _node(item, name, where, "predicate", _PREDICATE_KEYS)
    _enum(item, "type", PREDICATE_TYPES, name, where)
    _enum(item, "operator", PREDICATE_OPERATORS, name, where)
    _enum(item, "propertyType", PROPERTY_TYPES, name, where)
    for key in ("dimension", "metric", "property", "value"):
        if key in item and not isinstance(item[key], str):
            raise ConfigError(
                name, f"{where}.{key} must be a string, got {type(item[key]).__name__}"
            )
    if not any(item.get(key) for key in ("dimension", "metric", "property")):
        raise ConfigError(name, f"{where} needs a dimension, metric or property")
    if "range" in item:
        bounds = item["range"]
        if not isinstance(bounds, Mapping) or not bounds:
            raise ConfigError(name, f"{where}.range must be an object with gt/gte/lt/lte")
        _node(bounds, name, f"{where}.range", "predicate", RANGE_KEYS)
        for key, bound in bounds.items():
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise ConfigError(
                    name, f"{where}.range.{key} must be a number, got {type(bound).__name__}"
                )
    if item.get("operator", "matches") == "matches" and not {"value", "range"} & set(item):
        raise ConfigError(name, f"{where} with operator 'matches' needs a value or a range")
