"""Memory kinds, ready to use, and the helpers that validate and render them.

A *kind* is a pydantic model; its class name is the ``kind`` stored with a memory.
Three come with engram:

- :class:`Memory`: a semantic fact in plain words (the default), optionally as a
  subject-predicate-object triple;
- :class:`Episode`: an experience worth learning from (observation, thoughts, action, result);
- :class:`UserProfile`: an example profile, kept as one document per user.

Any pydantic model works as a kind::

    class Preference(BaseModel):
        topic: str
        likes: bool

    MemoryExtractor(schemas=[Memory, Preference])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from engram.errors import ValidationError


class Memory(BaseModel):
    """A semantic memory: one fact in plain words, optionally as a triple.

    ``Memory(content="Lives in Lisbon")`` or
    ``Memory(subject="user", predicate="lives in", object="Lisbon")`` (content is derived).
    """

    model_config = ConfigDict(extra="forbid")

    content: str = Field("", description="The fact in plain words.")
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None

    @model_validator(mode="after")
    def _content_or_triple(self) -> Memory:
        triple = [self.subject, self.predicate, self.object]
        if not self.content.strip():
            if not all(part and part.strip() for part in triple):
                raise ValueError("a Memory needs 'content' or a full subject/predicate/object triple")
            self.content = " ".join(part.strip() for part in triple if part)
        return self

    @property
    def is_triple(self) -> bool:
        return bool(self.subject and self.predicate and self.object)


class Episode(BaseModel):
    """An episode: what happened, what the agent thought and did, and how it turned out.

    ``Episode(observation="User asked for a refund twice", thoughts="...", action="...", result="...")``
    """

    model_config = ConfigDict(extra="forbid")

    observation: str = Field(description="The situation and the relevant context.")
    thoughts: str = Field("", description="The reasoning that led to the action.")
    action: str = Field("", description="What was done, in response to what.")
    result: str = Field("", description="The outcome, and what to repeat or avoid next time.")


class UserProfile(BaseModel):
    """An example profile: one document per user, updated in place (profile mode).

    ``MemoryManager(store, namespace=("profiles", "{user_id}"), schemas=[UserProfile], profile=True)``
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    preferred_name: str | None = None
    location: str | None = None
    language: str | None = None
    plan: str | None = None
    products: list[str] = Field(default_factory=list)
    interests: list[str] = Field(default_factory=list)
    preferences: list[str] = Field(default_factory=list)
    notes: str | None = None


DEFAULT_SCHEMAS: tuple[type[BaseModel], ...] = (Memory,)


def check_schemas(schemas: Iterable[type[BaseModel]] | type[BaseModel] | None) -> tuple[type[BaseModel], ...]:
    """Validate a ``schemas`` argument: pydantic model classes with distinct names."""
    if schemas is None:
        return DEFAULT_SCHEMAS
    if isinstance(schemas, type):
        schemas = [schemas]
    out: list[type[BaseModel]] = []
    for schema in schemas:
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise ValidationError(
                f"schemas must be pydantic model classes, got {schema!r}; define e.g. "
                "`class Preference(BaseModel): topic: str` and pass schemas=[Preference]."
            )
        if any(s.__name__ == schema.__name__ for s in out):
            raise ValidationError(f"two schemas are named {schema.__name__!r}; kinds must have distinct names.")
        out.append(schema)
    if not out:
        raise ValidationError("schemas is empty; pass at least one pydantic model (the default is Memory).")
    return tuple(out)


def kind_of(schema: type[BaseModel]) -> str:
    return schema.__name__


def find_schema(schemas: Sequence[type[BaseModel]], kind: str | None) -> type[BaseModel] | None:
    """The schema named ``kind``; with one schema, a missing kind means that one."""
    if kind is None:
        return schemas[0] if len(schemas) == 1 else None
    return next((s for s in schemas if s.__name__ == kind), None)


def validate_content(schema: type[BaseModel], content: Any, *, base: dict[str, Any] | None = None) -> BaseModel:
    """``content`` as an instance of ``schema``.

    A string fills the schema's single required text field (``Memory(content=...)``);
    a dict is validated, merged onto ``base`` first when updating (so an update may name
    only the fields that changed). Raises :class:`engram.ValidationError` with pydantic's
    reasons, short enough to show the LM.
    """
    if isinstance(content, BaseModel):
        content = content.model_dump()
    if isinstance(content, str):
        text_field = _text_field(schema)
        if text_field is None:
            raise ValidationError(f"{schema.__name__} content must be a JSON object with fields "
                                  f"{list(schema.model_fields)}, got plain text")
        content = {**(base or {}), text_field: content} if base and schema is not Memory else {text_field: content}
    elif isinstance(content, dict):
        content = {**(base or {}), **content}
    else:
        raise ValidationError(f"{schema.__name__} content must be text or a JSON object, got {type(content).__name__}")
    try:
        return schema.model_validate(content)
    except PydanticValidationError as err:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'content'}: {e['msg']}" for e in err.errors()[:5])
        raise ValidationError(f"invalid {schema.__name__}: {reasons}") from None


def _text_field(schema: type[BaseModel]) -> str | None:
    if schema is Memory:
        return "content"
    for name, field in schema.model_fields.items():
        if field.annotation is str and field.is_required():
            return name
    return None


def content_text(content: Any) -> str:
    """The text that is embedded and shown for a memory's content."""
    if isinstance(content, BaseModel):
        content = content.model_dump(exclude_none=True, exclude_defaults=True)
    if isinstance(content, dict):
        if set(content) <= {"content", "subject", "predicate", "object"} and content.get("content"):
            return str(content["content"])
        return json.dumps({k: v for k, v in content.items() if v not in (None, "", [], {})},
                          ensure_ascii=False, default=str)
    return str(content)


def _type_note(annotation: Any) -> str:
    """``": list"`` / ``": int"`` / ... for a field that is not text, so the LM writes the right JSON
    type (an answer of the wrong type is refused and costs a corrective call); nothing for text."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        annotation = args[0]
    origin = get_origin(annotation)
    if annotation is str:
        return ""
    if origin is Literal:
        return ": " + "|".join(str(a) for a in get_args(annotation))
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        return ": list"
    if annotation in (int, float, bool):
        return ": " + annotation.__name__
    if origin is dict or annotation is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return ": object"
    return ""


def schema_hint(schemas: Sequence[type[BaseModel]]) -> str:
    """A compact description of the kinds for the prompt: ``Episode {observation, thoughts?, ...}``,
    with the JSON type of the fields that are not text (``products?: list``).

    Empty for the default (plain-text ``Memory``), so the default prompt stays short.
    """
    if tuple(schemas) == DEFAULT_SCHEMAS:
        return ""
    parts = []
    for schema in schemas:
        fields = ", ".join(
            name + ("" if f.is_required() else "?") + _type_note(f.annotation)
            for name, f in schema.model_fields.items()
        )
        doc = (schema.__doc__ or "").strip().splitlines()[0] if schema.__doc__ else ""
        parts.append(f"{schema.__name__} {{{fields}}}" + (f": {doc}" if doc else ""))
    many = len(schemas) > 1
    lead = 'Set "kind" to one of these; ' if many else ""
    return lead + '"content" is a JSON object:\n' + "\n".join(parts)


__all__ = [
    "DEFAULT_SCHEMAS",
    "Episode",
    "Memory",
    "UserProfile",
    "check_schemas",
    "content_text",
    "find_schema",
    "kind_of",
    "schema_hint",
    "validate_content",
]
