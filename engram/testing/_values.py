"""Placeholder values that parse as a DSPy output field's type (for the stand-ins' generic answers).

When the simulated world meets a signature it has no behaviour for, it still answers,
with values that DSPy's adapter can parse into the declared types, so unknown modules
run offline instead of crashing::

    generic_value("count", "int")                      # 0
    generic_value("tags", "list[str]")                 # []
    generic_value("fact", "Fact", schema={...})        # {"subject": "stand-in", ...}
    coerce_value("list[str]", "one\\ntwo")             # ['one', 'two']
"""

from __future__ import annotations

import re
from typing import Any

_LITERAL = re.compile(r"^Literal\[(.*)\]$")


def _literal_choices(type_name: str) -> list[str]:
    m = _LITERAL.match(type_name.strip())
    if not m:
        return []
    return [c.strip().strip("'\"") for c in m.group(1).split(",") if c.strip()]


def value_from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A minimal instance of a JSON schema (required fields only; empty arrays)."""
    defs = {**(defs or {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return value_from_schema(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
    if depth > 8:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return value_from_schema(options[0], defs, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: value_from_schema(props[name], defs, depth + 1)
                for name in schema.get("required", []) if name in props}
    if kind == "array":
        return []
    if kind == "integer":
        return max(0, int(schema.get("minimum", 0)))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "offline stand-in"


def generic_value(name: str, type_name: str, schema: dict[str, Any] | None = None,
                  choices: list[str] | None = None) -> Any:
    """A clear, deterministic value for an output field the stand-in has no behaviour for."""
    t = (type_name or "str").strip()
    options = choices or _literal_choices(t)
    if options:
        return options[0]
    if schema is not None:
        return value_from_schema(schema)
    if t in ("str", "") or t.startswith("Optional[str"):
        if name == "reasoning":
            return "Offline stand-in reasoning: this signature has no simulated behaviour, so a placeholder is given."
        return f"Offline stand-in {name.replace('_', ' ')}: no simulated behaviour for this field."
    if t == "bool":
        return False
    if t == "int":
        return 0
    if t == "float":
        return 0.0
    if t.startswith(("list", "List", "tuple", "set")):
        return []
    if t.startswith(("dict", "Dict")):
        return {}
    return f"offline stand-in {name}"


def coerce_value(type_name: str, value: Any) -> Any:
    """Fit a handler's natural value to a declared type (a list into ``str``, text into ``list[str]`` ...)."""
    t = (type_name or "str").strip()
    if t == "str" or t.startswith("Optional[str"):
        if isinstance(value, (list, tuple)):
            return "\n".join(f"- {v}" for v in value) if value else "None."
        return "" if value is None else str(value)
    if t.startswith(("list", "List")):
        if isinstance(value, str):
            return [line.lstrip("-* ").strip() for line in value.splitlines() if line.strip()]
        return list(value) if isinstance(value, (list, tuple)) else [value]
    if t == "bool":
        return bool(value)
    if t == "float":
        return float(value)
    if t == "int":
        return round(float(value))
    return value
