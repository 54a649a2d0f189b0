"""Metadata rules: what users may store as metadata, and metadata filters for search / list.

Chroma accepts only str, int, float and bool values (and non-empty lists of one
of those). engram normalizes what has one obvious meaning and refuses the rest
with a message that says what to do::

    normalize_metadata({"tags": ["a", "b"], "seen": None, "at": datetime(2024, 1, 1)})
    # {'tags': ['a', 'b'], 'at': '2024-01-01T00:00:00'}   (None and [] drop the key)
    normalize_metadata({"user": {"id": 1}})   # ValidationError: nested dict ... flatten ...

Filters use Chroma's operators, with plain values meaning equality::

    to_where({"topic": "food", "rating": {"$gte": 4}})
    # {'$and': [{'topic': {'$eq': 'food'}}, {'rating': {'$gte': 4}}]}

Keys starting with ``_`` are engram's own bookkeeping and are refused in both.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from enum import Enum
from typing import Any

from engram.errors import ValidationError
from engram.store._checks import check_storable

RESERVED_PREFIX = "_"
# Chroma refuses keys starting with "$" or "#" (its operators, "#document"), and silently drops
# "chroma:..." keys when reading a row back: a key that would be lost is refused up front
CHROMA_PREFIXES = ("$", "#", "chroma:")
MAX_METADATA_KEYS = 64
_SCALARS = (str, int, float, bool)
_INT64 = (-(2**63), 2**63 - 1)   # Chroma stores ints as int64; larger ones came back as floats
_COMPARE = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
_LIST_OPS = {"$in", "$nin"}
_CONTAINS = {"$contains", "$not_contains"}
_LOGICAL = {"$and", "$or"}


def normalize_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Return metadata Chroma will accept, or raise :class:`ValidationError` saying why not."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError(f"metadata must be a dict of scalars, not {type(metadata).__name__}.")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError(f"metadata has {len(metadata)} keys; the limit is {MAX_METADATA_KEYS}.")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"metadata key {key!r} must be a non-empty string.")
        if key.startswith(RESERVED_PREFIX):
            raise ValidationError(
                f"metadata key {key!r} starts with '_', which engram reserves for its own fields; rename it."
            )
        if key.startswith(CHROMA_PREFIXES):
            raise ValidationError(
                f"metadata key {key!r} starts with {next(p for p in CHROMA_PREFIXES if key.startswith(p))!r}, "
                f"which Chroma reserves (its filter operators and own fields); rename it."
            )
        check_storable(key, "a metadata key")
        normalized = _normalize_value(key, value)
        if normalized is not None:
            out[key] = normalized
    return out


def _normalize_value(key: str, value: Any) -> Any:
    if value is None:
        return None  # Chroma cannot store None: a missing key means the same thing
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"metadata {key!r} is {value}; store finite numbers only.")
    _check_int(value, f"metadata {key!r}")
    if isinstance(value, str):
        return check_storable(value, f"metadata {key!r}")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [v.isoformat() if isinstance(v, (datetime, date)) else v for v in value]
        for item in items:
            if isinstance(item, str):
                check_storable(item, f"metadata {key!r}")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValidationError(f"metadata {key!r} holds {item}; store finite numbers only.")
            _check_int(item, f"metadata {key!r}")
        if not items:
            return None  # Chroma refuses empty lists; an absent key filters the same way
        kinds = {bool if isinstance(v, bool) else type(v) for v in items}
        if not kinds <= {str, int, float, bool}:
            bad = next(v for v in items if not isinstance(v, _SCALARS))
            raise ValidationError(
                f"metadata {key!r} holds a {type(bad).__name__} inside a list; lists may hold only "
                f"str, int, float or bool. Put structured data in the memory's content instead."
            )
        if kinds == {int, float}:
            return [float(v) for v in items]
        if len(kinds) > 1:
            raise ValidationError(
                f"metadata {key!r} mixes {sorted(k.__name__ for k in kinds)} in one list; Chroma needs "
                f"one type per list. Convert the items, e.g. [str(v) for v in values]."
            )
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        raise ValidationError(
            f"metadata {key!r} is a nested dict; Chroma metadata is flat. Flatten it "
            f"(e.g. {{'{key}.id': ...}}) or put it in the memory's content."
        )
    raise ValidationError(
        f"metadata {key!r} is a {type(value).__name__}; use str, int, float, bool or a list of one of those."
    )


def _check_int(value: Any, where: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        raise ValidationError(
            f"{where} is {value}, outside the 64-bit range Chroma stores; it would come back "
            f"as a rounded float. Store it as a string (str(value)) or in the memory's content."
        )


def to_where(filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a user filter and translate it into a Chroma ``where`` clause."""
    if filter is None:
        return None
    if not isinstance(filter, dict):
        raise ValidationError(f"filter must be a dict such as {{'topic': 'food'}}, not {type(filter).__name__}.")
    if not filter:
        return None
    return _clause(filter, path="filter")


def _clause(clause: dict[str, Any], path: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for key, value in clause.items():
        if key in _LOGICAL:
            if not isinstance(value, list) or not value:
                raise ValidationError(f"{path}: {key} needs a non-empty list of filters.")
            subs = [_sub(v, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
            parts.append(subs[0] if len(subs) == 1 else {key: subs})
        elif key.startswith("$"):
            raise ValidationError(f"{path}: unknown operator {key!r} at the top level; use $and / $or.")
        else:
            parts.append(field_condition(key, value, path))
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _sub(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ValidationError(f"{path}: expected a non-empty filter dict, got {value!r}.")
    return _clause(value, path)


def field_condition(key: str, value: Any, path: str = "filter", *, internal: bool = False) -> dict[str, Any]:
    """One ``{key: condition}`` clause, checked."""
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{path}: filter keys must be non-empty strings, got {key!r}.")
    if key.startswith(RESERVED_PREFIX) and not internal:
        raise ValidationError(f"{path}: key {key!r} is reserved; filter on your own metadata keys.")
    if not isinstance(value, dict):
        return {key: {"$eq": _scalar(value, f"{path}.{key}")}}
    if len(value) != 1:
        raise ValidationError(
            f"{path}.{key}: one operator per condition (got {sorted(value)}); combine with $and."
        )
    (op, operand), = value.items()
    where = f"{path}.{key}.{op}"
    if op in _COMPARE:
        operand = _scalar(operand, where)
        if op not in {"$eq", "$ne"} and isinstance(operand, (str, bool)):
            raise ValidationError(f"{where}: {op} compares numbers only, got {operand!r}.")
    elif op in _LIST_OPS:
        if not isinstance(operand, (list, tuple)) or not operand:
            raise ValidationError(f"{where}: {op} needs a non-empty list of values.")
        operand = [_scalar(v, where) for v in operand]
    elif op in _CONTAINS:
        operand = _scalar(operand, where)
    else:
        known = sorted(_COMPARE | _LIST_OPS | _CONTAINS)
        raise ValidationError(f"{where}: unknown operator {op!r}; use one of {known}.")
    return {key: {op: operand}}


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where}: {value} is not a finite number.")
    if not isinstance(value, _SCALARS):
        raise ValidationError(f"{where}: filter values must be str, int, float or bool, got {value!r}.")
    _check_int(value, where)
    return value


def and_where(*clauses: dict[str, Any] | None) -> dict[str, Any] | None:
    """Combine Chroma where clauses with $and, skipping empty ones."""
    parts = [c for c in clauses if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class Undecided(Exception):
    """:func:`matches` cannot be sure it agrees with Chroma; ask Chroma instead."""


def matches(where: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
    """Evaluate a (validated) Chroma ``where`` clause on one row's metadata, in Python.

    The store uses this to filter over-fetched nearest neighbours, because Chroma's
    own ``where`` scans metadata across every collection (tens of ms at 100k rows).
    Operators whose treatment of missing keys might differ from Chroma's ($ne,
    $nin, $not_contains) raise :class:`Undecided`, and the caller falls back to Chroma.
    """
    if not where:
        return True
    (key, cond), = where.items() if len(where) == 1 else (("$and", [{k: v} for k, v in where.items()]),)
    if key == "$and":
        return all(matches(c, meta) for c in cond)
    if key == "$or":
        return any(matches(c, meta) for c in cond)
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    (op, operand), = cond.items()
    if key not in meta:
        if op in {"$eq", "$gt", "$gte", "$lt", "$lte", "$in", "$contains"}:
            return False
        raise Undecided(op)
    value = meta[key]
    if op == "$contains":
        if not isinstance(value, list):
            raise Undecided(op)
        return any(_same(v, operand) for v in value)
    if isinstance(value, list):
        raise Undecided(op)
    if op == "$eq":
        return _same(value, operand)
    if op == "$in":
        return any(_same(value, o) for o in operand)
    if op in {"$gt", "$gte", "$lt", "$lte"}:
        if not _number(value) or not _number(operand):
            raise Undecided(op)
        return {"$gt": value > operand, "$gte": value >= operand,
                "$lt": value < operand, "$lte": value <= operand}[op]
    raise Undecided(op)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b


#: Operators of a typed filter item (see :func:`filter_from_items`), each a Chroma ``$`` operator.
ITEM_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "not_contains")

#: JSON schema of a typed filter: a list of ``{field, op, value}`` items, all required and
#: closed, so OpenAI strict function calling accepts it (an open dict would not be).
FILTER_ITEMS_SCHEMA: dict[str, Any] = {
    "type": ["array", "null"],
    "description": "Only memories whose metadata matches every condition, e.g. "
                   '[{"field": "topic", "op": "eq", "value": "food"}]. "in" / "nin" take a list.',
    "items": {
        "type": "object",
        "properties": {
            "field": {"type": "string", "description": "A metadata key."},
            "op": {"type": "string", "enum": list(ITEM_OPS), "description": "How to compare."},
            "value": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
                                {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"},
                                                                     {"type": "boolean"}]}}],
                      "description": "The value to compare with (a list for in / nin)."},
        },
        "required": ["field", "op", "value"],
        "additionalProperties": False,
    },
}


def filter_from_items(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """A store filter from typed ``{field, op, value}`` items (all must hold), checked.

    The form tools expose, since strict function schemas forbid open dicts::

        filter_from_items([{"field": "topic", "op": "eq", "value": "food"},
                           {"field": "rating", "op": "gte", "value": 4}])
        # {'$and': [{'topic': {'$eq': 'food'}}, {'rating': {'$gte': 4}}]}
    """
    if items is None:
        return None
    if not isinstance(items, list):
        raise ValidationError(f"filter must be a list of {{field, op, value}} items, not {type(items).__name__}.")
    conditions = []
    for i, item in enumerate(items):
        where = f"filter[{i}]"
        if not isinstance(item, dict) or set(item) != {"field", "op", "value"}:
            raise ValidationError(f"{where}: each condition is {{'field': ..., 'op': ..., 'value': ...}}, "
                                  f"got {item!r}.")
        if item["op"] not in ITEM_OPS:
            raise ValidationError(f"{where}: op {item['op']!r} is not one of {list(ITEM_OPS)}.")
        conditions.append(field_condition(item["field"], {f"${item['op']}": item["value"]}, where))
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}
