"""Memory operations: what an extraction proposes, and how the LM's answer is read.

The LM sees existing memories under short ids (``1.``, ``2.``, …) instead of their
real ids, as Mem0 does: short ids cost a token or two instead of a UUID's ~20, and an
operation can only name a memory that was actually shown. :class:`ShortIds` keeps
that mapping; :func:`parse_op_lines` reads the LM's JSON Lines answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

Action = Literal["insert", "update", "delete"]

_ACTIONS = {"insert": "insert", "add": "insert", "create": "insert", "new": "insert",
            "update": "update", "edit": "update", "modify": "update", "replace": "update",
            "delete": "delete", "remove": "delete", "forget": "delete"}


@dataclass
class MemoryOp:
    """One operation on one memory, ready to apply to a store.

    ``id`` is the real id (a fresh one for inserts); ``content`` the validated model
    (None for deletes); ``quotes`` the conversation words it came from, and
    ``trajectory_id`` the conversation: together, its provenance.
    """

    action: Action
    id: str
    kind: str
    content: BaseModel | None
    quotes: list[str]
    trajectory_id: str | None = None
    short_id: int | None = None
    #: the extractor's identity (program, prompt_name, prompt_version, lm), stamped by the manager
    stamp: dict[str, str] = field(default_factory=dict)

    @property
    def quote(self) -> str:
        return self.quotes[0] if self.quotes else ""

    def provenance(self) -> list[dict[str, Any]]:
        """``[{"trajectory_id": ..., "quote": ..., **stamp}, ...]``, the store's provenance entries."""
        return [{"trajectory_id": self.trajectory_id, "quote": q, **self.stamp} for q in self.quotes]


@dataclass
class RejectedOp:
    """An operation the LM proposed that was refused, and why (reported, never applied)."""

    line: str
    reason: str
    step: int = 0
    retried: bool = False


@dataclass
class ExtractedMemory:
    """A memory after extraction: its id, kind and content, and whether it is new.

    Unpacks as ``(id, content)``, like LangMem's ``ExtractedMemory`` named tuple:

    >>> from engram.modules import Memory
    >>> memory_id, content = ExtractedMemory("m1", "Memory", Memory(content="Lives in Lisbon"))
    >>> memory_id, content.content
    ('m1', 'Lives in Lisbon')
    """

    id: str
    kind: str
    content: BaseModel
    new: bool = False

    def __iter__(self) -> Iterator[Any]:
        return iter((self.id, self.content))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return (self.id, self.content)[index]

    @property
    def text(self) -> str:
        from engram.modules._schemas import content_text

        return content_text(self.content)


@dataclass
class Entry:
    """A memory as the extractor tracks it while it works."""

    id: str
    kind: str
    content: BaseModel
    existed: bool
    deleted: bool = False
    changed: bool = False
    quotes: list[str] = field(default_factory=list)


class ShortIds:
    """Short ids (1, 2, 3…) for the memories shown to the LM, mapped to real ids.

    >>> ids = ShortIds(); ids.add("9f1c-…"), ids.real(1)
    (1, '9f1c-…')
    """

    def __init__(self) -> None:
        self._by_short: dict[int, str] = {}
        self._by_real: dict[str, int] = {}

    def add(self, real_id: str) -> int:
        if real_id in self._by_real:
            return self._by_real[real_id]
        short = len(self._by_short) + 1
        self._by_short[short] = real_id
        self._by_real[real_id] = short
        return short

    def real(self, short: Any) -> str | None:
        """The real id for a short id the LM wrote (``3``, ``"3"``, ``"#3"``), or None if not shown."""
        if isinstance(short, bool):
            return None
        if isinstance(short, str):
            text = short.strip().lstrip("#").strip()
            if not text.isdigit():
                return None
            short = int(text)
        if isinstance(short, float) and short.is_integer():
            short = int(short)
        return self._by_short.get(short) if isinstance(short, int) else None

    def short(self, real_id: str) -> int | None:
        return self._by_real.get(real_id)

    def __len__(self) -> int:
        return len(self._by_short)


def parse_op_lines(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[RejectedOp]]:
    """Read the LM's answer: ``(line, op dict)`` pairs and the parts that are not operations.

    Accepts JSON Lines, a JSON array of objects, pretty-printed objects, code fences and
    commentary: every JSON value starting at a ``{`` or ``[`` is decoded; text outside
    them ("No changes.") is skipped; a ``{`` that does not start valid JSON is reported.
    """
    text = text or ""
    decoder = json.JSONDecoder()
    ops: list[tuple[str, dict[str, Any]]] = []
    bad: list[RejectedOp] = []
    at = 0
    while True:
        starts = [i for i in (text.find("{", at), text.find("[", at)) if i >= 0]
        if not starts:
            break
        begin = min(starts)
        try:
            value, end = decoder.raw_decode(text, begin)
        except json.JSONDecodeError:
            line_end = text.find("\n", begin)
            line_end = len(text) if line_end < 0 else line_end
            if text[begin] == "{":  # a broken object; a stray "[" in prose is not worth a complaint
                bad.append(RejectedOp(text[begin:line_end].strip(), "not a valid JSON object"))
            at = max(line_end, begin + 1)
            continue
        for item in value if isinstance(value, list) else [value]:
            line = json.dumps(item, ensure_ascii=False)
            if isinstance(item, dict):
                ops.append((line, _normalize(item)))
            else:
                bad.append(RejectedOp(line, "not a JSON object"))
        at = end
    return ops, bad


def _normalize(item: dict[str, Any]) -> dict[str, Any]:
    op = dict(item)
    action = op.pop("op", None) or op.pop("action", None) or op.pop("type", None)
    op["op"] = _ACTIONS.get(str(action).strip().lower(), action) if action is not None else None
    if "id" not in op:
        for alias in ("memory", "memory_id", "number"):
            if alias in op:
                op["id"] = op.pop(alias)
                break
    return op


__all__ = ["Action", "ExtractedMemory", "MemoryOp", "RejectedOp", "ShortIds", "parse_op_lines"]
