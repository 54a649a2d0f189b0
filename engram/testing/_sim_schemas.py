"""The simulated world's extraction into the caller's schemas (stand-in, not a model).

When an extraction request declares memory kinds (``Kind {field, field?: list, ...}`` lines:
the kinds' field names and JSON types, the only place the request states them), the
stand-in fills them from what the user says (the same facts as
:mod:`engram.testing._sim_memory` reads) instead of writing plain sentences:

- a *document* kind — one whose fields can hold two or more kinds of fact, like
  :class:`~engram.modules.UserProfile` — gets ONE object per conversation: an update of the
  listed memory of that kind with the fields that changed (list fields keep their old items
  and gain the new ones), or an insert when none is listed. Profile mode therefore writes a
  profile, then updates it, with a version per change;
- any other kind gets one memory per fact, its fields filled by their role (a text field gets
  the sentence, ``category`` the attribute, ``preference`` / ``value`` / ``object`` the value,
  ``subject`` / ``predicate`` the triple, ``context`` / ``quote`` the user's words); a kind
  whose required fields cannot be filled is not used.

Fields are matched by name only; the stand-in never reads a simulated user's hidden state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engram.testing._protocol import ParsedCall

_KIND_LINE = re.compile(r"^(?P<kind>[A-Za-z_]\w*) \{(?P<fields>[^{}]*)\}", re.MULTILINE)
_FIELD = re.compile(r"^(?P<name>\w+)(?P<optional>\?)?(?:: (?P<type>\S+))?$")
_LISTED = re.compile(r"^(?P<id>\d+)\. (?:(?P<kind>[A-Za-z_]\w*) )?(?P<text>.*)$")

# attribute -> field names that hold it; the ones after the first few are generic "bags"
_HOLDERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full_name", "user_name", "username", "first_name"),
    "city": ("location", "city", "home", "home_city", "residence", "hometown"),
    "plan": ("plan", "subscription", "tier", "plan_name"),
    "product": ("products", "product", "apps", "app", "devices", "platform"),
    "contact": ("contact", "contact_preference", "preferred_contact", "contact_method", "preferences"),
    "diet": ("diet", "dietary_restrictions", "dietary_preference", "preferences"),
    "language": ("programming_language", "programming_languages", "coding_language", "interests"),
}
_BAGS = {"preferences", "interests", "notes", "facts"}
_ROLES: dict[str, tuple[str, ...]] = {
    "sentence": ("content", "text", "fact", "memory", "note", "statement", "description", "summary",
                 "observation", "detail", "details"),
    "attribute": ("category", "kind", "type", "topic", "attribute", "key", "aspect", "domain"),
    "value": ("value", "preference", "object", "answer", "choice", "setting"),
    "subject": ("subject", "entity", "who"),
    "predicate": ("predicate", "relation", "relationship", "verb"),
    "quote": ("context", "quote", "evidence", "source", "reason", "why"),
}


@dataclass(frozen=True)
class Field:
    name: str
    required: bool
    type: str  # "" (text), "list", "int", "float", "bool", "object", or "a|b" choices


@dataclass(frozen=True)
class Fact:
    """A fact the user stated: ``attribute`` (e.g. ``"city"``), the memory ``sentence``, the user's
    words (``quote``), the ``value`` ("Lisbon") and the ``predicate`` ("lives in")."""

    attribute: str
    sentence: str
    quote: str
    value: str
    predicate: str

    @property
    def phrase(self) -> str:  # "lives in Lisbon"
        return self.sentence.removeprefix("The user ").removeprefix("The user's ").rstrip(".")


def declared_kinds(instructions: str) -> dict[str, list[Field]]:
    """The kinds a request declares, with their fields (empty: plain-text memories)."""
    kinds: dict[str, list[Field]] = {}
    for match in _KIND_LINE.finditer(instructions or ""):
        fields = []
        for part in match.group("fields").split(", "):
            m = _FIELD.match(part.strip())
            if m is None:
                break
            fields.append(Field(m.group("name"), not m.group("optional"), m.group("type") or ""))
        else:
            if fields:
                kinds[match.group("kind")] = fields
    return kinds


def _holder(attribute: str, fields: list[Field]) -> Field | None:
    names = {f.name: f for f in fields}
    return next((names[n] for n in _HOLDERS.get(attribute, ()) if n in names), None)


def _is_document(fields: list[Field]) -> bool:
    return len({id(h) for a in _HOLDERS if (h := _holder(a, fields)) is not None}) >= 2


def _listed(memories: str) -> list[tuple[str, str | None, Any]]:
    """(short id, kind, content) of the listed memories; JSON content parsed when it is JSON."""
    out = []
    for line in (memories or "").splitlines():
        m = _LISTED.match(line.strip())
        if m is None:
            continue
        kind, text = m.group("kind"), m.group("text")
        if kind and not text.startswith("{"):  # "3. Maya lives..." has no kind prefix: the word was text
            kind, text = None, f"{kind} {text}"
        try:
            content: Any = json.loads(text)
        except ValueError:
            content = text
        out.append((m.group("id"), kind, content))
    return out


def _document_op(kind: str, fields: list[Field], facts: list[Fact], listed: list[tuple[str, str | None, Any]],
                 many: bool) -> dict[str, Any] | None:
    current = next(((i, c) for i, k, c in listed if isinstance(c, dict) and (k == kind or not many)), None)
    old: dict[str, Any] = current[1] if current else {}
    new: dict[str, Any] = {}
    quotes = []
    for fact in facts:
        field = _holder(fact.attribute, fields)
        if field is None:
            continue
        item = fact.phrase if field.name in _BAGS else fact.value
        if field.type == "list":
            before = list(new.get(field.name, old.get(field.name) or []))
            if item in before:
                continue
            new[field.name] = [*before, item]
        elif old.get(field.name) != item:
            new[field.name] = item
        else:
            continue
        quotes.append(fact.quote)
    if not new:
        return None
    op: dict[str, Any] = {"op": "update", "id": int(current[0])} if current else {"op": "insert"}
    return {**op, "kind": kind, "content": new, "quote": quotes[0]}


def _fill(fields: list[Field], fact: Fact) -> dict[str, Any] | None:
    values = {"sentence": fact.sentence, "attribute": fact.attribute, "value": fact.value, "subject": "user",
              "predicate": fact.predicate, "quote": fact.quote}
    content: dict[str, Any] = {}
    for field in fields:
        role = next((r for r, names in _ROLES.items() if field.name in names), None)
        if role is not None and field.type in ("", "list"):
            content[field.name] = [values[role]] if field.type == "list" else values[role]
        elif field.required and field.type == "":
            content[field.name] = fact.sentence
        elif field.required and field.type == "bool":
            content[field.name] = True
        elif field.required:
            return None  # a number, an object or a choice it cannot know: this kind is not used
    return content


def _same_attribute(content: Any, fact: Fact, attribute_of: Callable[[str], str | None]) -> bool:
    """Whether a listed memory states the same attribute as ``fact`` (so the fact updates it)."""
    if isinstance(content, dict):
        if any(content.get(n) == fact.attribute for n in _ROLES["attribute"]):
            return True
        if any(content.get(n) == fact.predicate for n in _ROLES["predicate"]):
            return True
        texts = [v for v in content.values() if isinstance(v, str)]
    else:
        texts = [str(content)]
    return any(attribute_of(t) == fact.attribute for t in texts)


def structured_ops(call: ParsedCall, kinds: dict[str, list[Field]], facts: list[Fact],
                   attribute_of: Callable[[str], str | None]) -> dict[str, str]:
    """The ``ops`` answer for a request that declares memory kinds (see the module docstring):
    ``facts`` are what the user stated (latest per attribute), ``attribute_of`` reads the
    attribute a memory sentence states."""
    listed = _listed(call.inputs.get("memories", ""))
    many = len(kinds) > 1
    documents = sorted((k for k, f in kinds.items() if _is_document(f)),
                       key=lambda k: -sum(_holder(a, kinds[k]) is not None for a in _HOLDERS))
    ops: list[dict[str, Any]] = []
    held: set[str] = set()
    if documents:
        kind = documents[0]
        held = {f.attribute for f in facts if _holder(f.attribute, kinds[kind]) is not None}
        op = _document_op(kind, kinds[kind], facts, listed, many)
        if op is not None:
            ops.append(op)
    single = next((k for k in kinds if k not in documents and facts and _fill(kinds[k], facts[0]) is not None), None)
    for fact in facts:
        if fact.attribute in held or single is None:
            continue
        content = _fill(kinds[single], fact)
        if content is None or any(c == content or fact.value in json.dumps(c) for _, _, c in listed):
            continue
        same = next((i for i, k, c in listed if k in (single, None) and _same_attribute(c, fact, attribute_of)), None)
        op = {"op": "update", "id": int(same)} if same else {"op": "insert"}
        ops.append({**op, "kind": single, "content": content, "quote": fact.quote})
    return {"ops": "\n".join(json.dumps(op) for op in ops)}


__all__ = ["Fact", "Field", "declared_kinds", "structured_ops"]
