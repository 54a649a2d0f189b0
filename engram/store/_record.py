"""MemoryRecord: one stored memory, at one version.

A record is what the store returns from ``get``, ``search``, ``list`` and
``history``::

    rec = store.put(("memories", "u1"), "lang", {"fact": "prefers Python"})
    rec.id, rec.version, rec.text      # ('lang', 1, '{"fact": "prefers Python"}')
    rec.content["fact"]                 # 'prefers Python'

``text`` is what gets embedded. When it is not given it is derived from
``content``: the string itself, or a compact JSON dump of a dict (a pydantic
model is dumped first).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engram.errors import ValidationError
from engram.store._checks import check_storable

# Bigger texts are almost always a bug (a whole transcript stored as one memory) and
# make Chroma rows slow to read; the limit can be raised per store.
MAX_CONTENT_CHARS = 64_000


def utcnow() -> datetime:
    """The current time, aware, in UTC (the store's default clock)."""
    return datetime.now(UTC)


#: A store clock: a callable returning the current time as an aware datetime.
Clock = Callable[[], datetime]


def check_clock(clock: Any) -> Clock:
    """The store's clock: ``clock`` itself (checked callable) or :func:`utcnow` when None."""
    if clock is None:
        return utcnow
    if not callable(clock):
        raise ValidationError(f"clock must be a callable returning an aware datetime (such as "
                              f"engram.store._record.utcnow) or None, got {type(clock).__name__} {clock!r}.")
    return clock


def clock_now(clock: Clock) -> datetime:
    """Call ``clock`` and check its answer: an aware datetime, returned in UTC."""
    moment = clock()
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"the store's clock returned {moment!r}; it must return an aware "
                              f"datetime such as datetime.now(UTC).")
    return moment.astimezone(UTC)


class Provenance(BaseModel):
    """Where a memory came from: the trajectory and, optionally, the quote that supports it.

    Writes by a :class:`~engram.modules.MemoryManager` also stamp the extractor that made
    them (all optional, so records stored before these fields existed still load):
    ``program`` (a hash of the extractor's instructions and demos), ``prompt_name`` /
    ``prompt_version`` (when its instructions came from the prompt registry) and ``lm``
    (the LM's name). ``MemoryManager.rederive(written_by=...)`` finds memories by them.

    >>> Provenance(trajectory_id="t1", program="3f2a9c01", lm="offline/support").identity()
    {'program': '3f2a9c01', 'lm': 'offline/support'}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trajectory_id: str | None = None
    quote: str | None = None
    program: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    lm: str | None = None

    def identity(self) -> dict[str, str]:
        """The extractor stamps that are set (program, prompt_name, prompt_version, lm)."""
        return {k: v for k in ("program", "prompt_name", "prompt_version", "lm")
                if (v := getattr(self, k)) is not None}


#: What a memory's content may be given as: text, a JSON-able dict, or a pydantic model.
ContentLike = str | dict[str, Any] | BaseModel
#: Provenance as accepted by writes: a trajectory id, a dict, a Provenance, or a list of those.
ProvenanceLike = str | dict[str, Any] | Provenance | list[str | dict[str, Any] | Provenance] | None


class MemoryRecord(BaseModel):
    """One memory at one version (see the module docstring for an example).

    ``version`` is 1 on insert and grows by one on every change (update, delete,
    restore). ``score`` is set only on search results (higher is better).
    ``ttl`` / ``expires_at`` are set when the memory expires (``put(..., ttl=3600)``);
    ``expired_at`` marks the tombstone a sweep leaves in the history.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    namespace: tuple[str, ...]
    kind: str = "memory"
    content: dict[str, Any] | str
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 1
    provenance: list[Provenance] = Field(default_factory=list)
    deleted: bool = False
    score: float | None = None
    #: Seconds the memory lives after each write (and each read when its namespace refreshes on read).
    ttl: float | None = None
    #: When the memory stops being returned (None: never). See :mod:`engram.store._expiry`.
    expires_at: datetime | None = None
    #: Set on the tombstone :meth:`~engram.store.MemoryStore.sweep` writes: when the memory expired.
    expired_at: datetime | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _dump_models(cls, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        return value

    def model_post_init(self, __context: Any) -> None:
        if not self.text:
            self.text = content_text(self.content)

    @property
    def key(self) -> str:
        """The record's key within its namespace (same as ``id``)."""
        return self.id


def same_memory(current: MemoryRecord, draft: MemoryRecord) -> bool:
    """Whether writing ``draft`` over ``current`` would change nothing a reader sees: content, text,
    kind, metadata, provenance and ttl. Content and metadata compare as JSON, so ``True`` and ``1``
    (equal in Python) still count as a change.

    >>> same_memory(MemoryRecord(id="k", namespace=("m",), content={"n": 1}),
    ...             MemoryRecord(id="k", namespace=("m",), content={"n": True}))
    False
    """
    def as_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    return (type(current.content) is type(draft.content) and as_json(current.content) == as_json(draft.content)
            and current.text == draft.text and current.kind == draft.kind
            and as_json(current.metadata) == as_json(draft.metadata)
            and current.provenance == draft.provenance and current.ttl == draft.ttl)


def content_text(content: Any) -> str:
    """The text to embed for ``content``: a string as is, anything else as compact JSON."""
    if isinstance(content, BaseModel):
        content = content.model_dump(mode="json")
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)


def coerce_content(content: Any) -> dict[str, Any] | str:
    """Check and normalize a memory's content (str, dict or pydantic model)."""
    if isinstance(content, BaseModel):
        content = content.model_dump(mode="json")
    if isinstance(content, str):
        if not content.strip():
            raise ValidationError("memory content is an empty string; store some text or a dict.")
        return check_storable(content, "memory content")
    if isinstance(content, dict):
        try:
            # round-trip through JSON now so an unserializable value fails before any write;
            # NaN / Infinity would be stored as non-standard JSON that other readers reject
            text = json.dumps(content, ensure_ascii=False, default=_refuse, allow_nan=False)
        except TypeError as err:
            raise ValidationError(f"memory content is not JSON-serializable: {err}") from None
        except ValueError:
            raise ValidationError("memory content holds NaN or Infinity, which JSON cannot represent; "
                                  "store finite numbers, or None / a string such as 'unknown'.") from None
        except RecursionError:
            raise ValidationError("memory content is nested too deeply to store; flatten it.") from None
        return json.loads(check_storable(text, "memory content"))
    raise ValidationError(
        f"memory content must be a str, a dict or a pydantic model, not {type(content).__name__}."
    )


def _refuse(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} value {value!r} (convert it to str, number or list)")


def coerce_provenance(items: Any) -> list[Provenance]:
    """Accept Provenance objects, dicts, trajectory-id strings, or one of those alone."""
    if items is None:
        return []
    if isinstance(items, (Provenance, dict, str)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ValidationError(
            f"provenance must be a trajectory id (str), a dict such as {{'trajectory_id': 't1', "
            f"'quote': '...'}}, a Provenance, or a list of those; got {type(items).__name__} {items!r}."
        )
    out: list[Provenance] = []
    for item in items:
        if isinstance(item, Provenance):
            out.append(item)
        elif isinstance(item, str):
            if not item.strip():
                raise ValidationError("provenance holds an empty trajectory id; pass a non-empty id.")
            out.append(Provenance(trajectory_id=item))
        elif isinstance(item, dict):
            try:
                out.append(Provenance(**item))
            except Exception as err:  # pydantic's message names the bad field
                raise ValidationError(f"invalid provenance {item!r} (fields: trajectory_id, quote, "
                                      f"program, prompt_name, prompt_version, lm; all strings): {err}") from None
        else:
            raise ValidationError(
                f"provenance items must be Provenance, dict or trajectory id str, not {type(item).__name__}."
            )
    return out


def check_size(text: str, content: Any, limit: int = MAX_CONTENT_CHARS) -> None:
    """Refuse oversized memories with a message that says what to do instead."""
    size = max(len(text), len(content_text(content)))
    if size > limit:
        raise ValidationError(
            f"memory is {size:,} characters, over the store's limit of {limit:,}. Split it into "
            "several memories (or archive the conversation as kind='message' turns), or raise "
            "the limit with MemoryStore(..., max_content_chars=...)."
        )
