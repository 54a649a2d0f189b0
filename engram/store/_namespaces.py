"""Namespaces: tuples of strings that scope every memory, and templates that fill them.

A namespace is a tuple such as ``("acme", "u42", "assistant")``. Templates name
runtime values in braces and are filled per call::

    tpl = NamespaceTemplate(("memories", "{user_id}"))
    tpl.fill({"user_id": "u42"})          # ('memories', 'u42')
    tpl.fill({})                          # NamespaceError: ... needs 'user_id' ...

Templates are checked when built, so no typo can merge tenants: braces must balance
(``"{user_id"`` is an error), and two fields in one part need a separator between
them that the filled values may not contain (``"{org}-{user}"`` refuses
``org="acme-eu"``, and ``"{user_id}{thread_id}"`` is refused outright), so distinct
values always give distinct namespaces.

Each namespace maps to its own Chroma collection (see :func:`collection_name`),
so no query can see another tenant's rows, and ``("a", "b")`` never matches
``("a", "bc")``: prefixes are compared part by part, never as strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from engram.errors import NamespaceError
from engram.store._checks import check_storable

_FIELD = re.compile(r"\{([^{}]*)\}")
MAX_PART_CHARS = 256
MAX_DEPTH = 16


#: A namespace: a tuple of non-empty strings, e.g. ``("acme", "u1", "memories")``.
Namespace = tuple[str, ...]
#: What store calls accept as a namespace: the tuple, a list of parts, or one string (one part).
NamespaceLike = tuple[str, ...] | list[str] | str


def validate_namespace(namespace: Any) -> tuple[str, ...]:
    """Check a namespace and return it as a tuple of non-empty strings.

    A lone string is accepted as a one-part namespace: ``"team"`` -> ``("team",)``; one with a
    ``/`` is refused, since ``"memories/u1"`` (the CLI's way to write a namespace) would otherwise
    name a one-part namespace nobody wrote to, and a search there finds nothing without a word.
    Parts may not be empty, contain unfilled ``{fields}``, or be anything but str.
    """
    if isinstance(namespace, str):
        if "/" in namespace:
            parts = tuple(namespace.split("/"))
            raise NamespaceError(
                f"the namespace {namespace!r} is a lone string, so it would be one part; pass the "
                f"parts as a tuple, {parts!r}, or {(namespace,)!r} if the slash belongs to the name."
            )
        namespace = (namespace,)
    if not isinstance(namespace, (tuple, list)):
        raise NamespaceError(
            f"a namespace must be a tuple of strings such as ('memories', 'u42'), "
            f"not {type(namespace).__name__}."
        )
    if not namespace:
        raise NamespaceError("a namespace needs at least one part, e.g. ('memories', 'u42').")
    if len(namespace) > MAX_DEPTH:
        raise NamespaceError(f"a namespace has at most {MAX_DEPTH} parts; got {len(namespace)}.")
    for i, part in enumerate(namespace):
        if not isinstance(part, str):
            raise NamespaceError(
                f"namespace part {i} of {tuple(namespace)!r} is {type(part).__name__}, not str; "
                f"convert ids with str(...) before building the namespace."
            )
        if not part.strip():
            raise NamespaceError(f"namespace part {i} of {tuple(namespace)!r} is empty.")
        if len(part) > MAX_PART_CHARS:
            raise NamespaceError(f"namespace part {i} is longer than {MAX_PART_CHARS} characters.")
        check_storable(part, f"namespace part {i}", NamespaceError)
        if _FIELD.search(part):
            raise NamespaceError(
                f"namespace part {part!r} still holds a template field; fill it with "
                f"NamespaceTemplate({tuple(namespace)!r}).fill({{...}})."
            )
        if "{" in part or "}" in part:
            raise NamespaceError(
                f"namespace part {part!r} contains a brace; braces are reserved for template "
                f"fields (check for a typo such as '{{user_id' and use NamespaceTemplate)."
            )
    return tuple(namespace)


def _parse_part(part: str) -> tuple[list[str], set[str]]:
    """(fields of one template part, the characters separating its fields)."""
    matches = list(_FIELD.finditer(part))
    rest = _FIELD.sub("", part)
    if "{" in rest or "}" in rest:
        raise NamespaceError(
            f"namespace template part {part!r} has an unbalanced brace; write fields as "
            f"'{{name}}' (e.g. ('memories', '{{user_id}}'))."
        )
    fields = [m.group(1) for m in matches]
    for name in fields:
        if not name.strip():
            raise NamespaceError(f"namespace template part {part!r} has an empty field '{{}}'; name it.")
    separators: set[str] = set()
    for left, right in pairwise(matches):
        between = part[left.end() : right.start()]
        if not between:
            raise NamespaceError(
                f"namespace template part {part!r} puts {{{left.group(1)}}} and {{{right.group(1)}}} "
                f"side by side, so 'u1'+'0' and 'u'+'10' would share a namespace. Put them in separate "
                f"parts (('memories', '{{{left.group(1)}}}', '{{{right.group(1)}}}')) or separate them, "
                f"e.g. '{{{left.group(1)}}}:{{{right.group(1)}}}'."
            )
        separators.update(between)
    return fields, separators


class NamespaceTemplate:
    """A namespace with ``{field}`` placeholders, filled from runtime values.

    Example::

        NamespaceTemplate(("acme", "{user_id}", "assistant")).fill({"user_id": "u1"})
        # ('acme', 'u1', 'assistant')
    """

    def __init__(self, template: Iterable[str] | str) -> None:
        if isinstance(template, str):
            template = (template,)
        parts = tuple(template)
        if not parts:
            raise NamespaceError("a namespace template needs at least one part.")
        for part in parts:
            if not isinstance(part, str) or not part.strip():
                raise NamespaceError(f"namespace template part {part!r} must be a non-empty string.")
        # fields that share a part with another field, and the characters their values may not hold
        self._guarded: dict[str, set[str]] = {}
        for part in parts:
            fields, separators = _parse_part(part)
            if len(fields) > 1:
                for name in fields:
                    self._guarded.setdefault(name, set()).update(separators)
        self.template = parts

    @property
    def fields(self) -> list[str]:
        """Names of the placeholders, in order of appearance."""
        return [m for part in self.template for m in _FIELD.findall(part)]

    def fill(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> tuple[str, ...]:
        """The namespace for these values; a missing, empty or non-string value is an error."""
        merged = {**(values or {}), **kwargs}
        missing = [f for f in self.fields if f not in merged or merged[f] is None]
        if missing:
            raise NamespaceError(
                f"namespace template {self.template!r} needs {missing}; pass them, e.g. "
                f"fill({{{missing[0]!r}: ...}}) or config={{'configurable': {{{missing[0]!r}: ...}}}}."
            )

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            value = merged[name]
            if not isinstance(value, str):
                raise NamespaceError(
                    f"namespace value {name!r} is {type(value).__name__} ({value!r}), not str; "
                    f"pass str({name}) so ids like 7 and '7' cannot collide silently."
                )
            if not value.strip():
                raise NamespaceError(f"namespace value {name!r} is empty.")
            clash = sorted(c for c in self._guarded.get(name, ()) if c in value)
            if clash:
                raise NamespaceError(
                    f"namespace value {name!r}={value!r} contains {clash}, which separates fields in "
                    f"template {self.template!r}, so two different tenants could fill the same "
                    f"namespace. Give each field its own part, or use a separator its values never hold."
                )
            return value

        return validate_namespace(tuple(_FIELD.sub(sub, part) for part in self.template))

    def __call__(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> tuple[str, ...]:
        return self.fill(values, **kwargs)

    def __repr__(self) -> str:
        return f"NamespaceTemplate({self.template!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamespaceTemplate) and other.template == self.template

    def __hash__(self) -> int:
        return hash(self.template)


def namespace_key(namespace: tuple[str, ...]) -> str:
    """A canonical string for a namespace (JSON), stored as collection metadata."""
    return json.dumps(list(namespace), ensure_ascii=False, separators=(",", ":"))


def parse_namespace_key(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value))


def collection_name(prefix: str, namespace: tuple[str, ...]) -> str:
    """The Chroma collection that holds ``namespace``.

    Chroma names allow only ``[a-zA-Z0-9._-]``, so the name is a hash of the
    canonical JSON form: distinct namespaces never share a collection.
    """
    digest = hashlib.sha256(namespace_key(namespace).encode()).hexdigest()[:32]
    return f"{prefix}m-{digest}"


def has_prefix(namespace: tuple[str, ...], prefix: tuple[str, ...] | None) -> bool:
    """Part-wise prefix test: ``("a", "bc")`` does not start with ``("a", "b")``."""
    if not prefix:
        return True
    return namespace[: len(prefix)] == tuple(prefix)


#: Namespace parts starting with this mark engram's own bookkeeping (the manager's ledger,
#: ``(..., "engram.processed")``, and any later one). One rule for every reader: such
#: namespaces are left out of ``list_namespaces``, ``export`` and ``to_frame`` unless asked
#: for, and the HTTP service refuses them as tenant input.
INTERNAL_PREFIX = "engram."


def is_internal(namespace: Sequence[str]) -> bool:
    """Whether a namespace is engram bookkeeping (a part starts with :data:`INTERNAL_PREFIX`, any case).

    Example::

        is_internal(("memories", "u1", "engram.processed"))   # True
        is_internal(("memories", "u1"))                       # False
    """
    return any(part.lower().startswith(INTERNAL_PREFIX) for part in namespace)
