"""JSON schemas that OpenAI accepts in strict mode (LangMem issue #113).

Strict function calling requires, for every object in the schema: ``additionalProperties:
false`` and every property listed in ``required``. An optional field is therefore
expressed as *nullable* (``{"type": ["string", "null"]}``, or ``anyOf`` with
``{"type": "null"}``), and keywords strict mode rejects (``default``, ``title``) are
dropped. :func:`to_strict` converts a pydantic model's schema; :func:`strict_problems`
checks one (used by the tests, handy for users' own tools).

    to_strict(UserProfile.model_json_schema())
"""

from __future__ import annotations

import copy
from typing import Any

_DROP = {"default", "title", "examples"}


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**copy.deepcopy(defs[name]), **extra}, defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if _allows_null(schema):
        return schema
    if isinstance(schema.get("type"), str) and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    if isinstance(schema.get("type"), list):
        return {**schema, "type": [*schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(s) for s in schema.get("anyOf", []) if isinstance(s, dict))


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k not in _DROP}
    if out.get("type") == "object" or "properties" in out:
        props = out.get("properties", {})
        required = set(node.get("required", []))
        out["type"] = "object"
        out["properties"] = {name: (p if name in required else _nullable(p)) for name, p in props.items()}
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def to_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` valid in OpenAI strict mode (refs inlined, optionals nullable)."""
    return _strict(_inline_refs(schema, schema.get("$defs", {})))


def strict_problems(schema: Any, path: str = "$") -> list[str]:
    """Why ``schema`` is not valid in strict mode (empty when it is)."""
    problems: list[str] = []
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            problems += strict_problems(item, f"{path}[{i}]")
        return problems
    if not isinstance(schema, dict):
        return problems
    for key in _DROP & set(schema):
        problems.append(f"{path}: keyword {key!r} is not allowed")
    if "$ref" in schema:
        problems.append(f"{path}: unresolved $ref")
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties must be false")
        if sorted(schema.get("required", [])) != sorted(schema.get("properties", {})):
            problems.append(f"{path}: every property must be required")
    for key, value in schema.items():
        if key == "properties":
            for name, sub in value.items():
                problems += strict_problems(sub, f"{path}.{name}")
        elif isinstance(value, (dict, list)) and key not in ("required", "enum"):
            problems += strict_problems(value, f"{path}.{key}")
    return problems


__all__ = ["strict_problems", "to_strict"]
