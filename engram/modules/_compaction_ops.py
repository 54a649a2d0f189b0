"""The compaction signature and how its answer is checked.

One LM call per batch of related memories: the LM sees each memory under a short id with
the time it was last stated, and answers with typed operations:

- ``merge``: several memories say the same thing (or parts of one fact): they become one,
  with ``content`` as its text;
- ``delete``: memories contradicted by newer ones (or obsolete);
- ``update``: one memory rewritten (e.g. a fact restated in its current form).

Operations that name an id not shown, name an id twice, or lack the content they need are
refused and reported, never applied (as the extractor refuses bad operations).

    >>> ops, refused = check_ops([CompactionOp(action="merge", ids=[1, 2], content="Likes tea")], {1, 2, 3})
    >>> [o.ids for o in ops], refused
    ([[1, 2]], [])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import dspy
from pydantic import BaseModel, Field


class MemoryItem(BaseModel):
    """A memory as the compaction LM sees it."""

    id: int = Field(description="short id, used in operations")
    text: str
    stated_at: str = Field(description="when this was last stated (ISO 8601); newer wins on a contradiction")


class CompactionOp(BaseModel):
    """One operation on the shown memories."""

    action: Literal["merge", "delete", "update"]
    ids: list[int] = Field(description="merge: 2+ memories to combine; delete: contradicted ones; update: one")
    content: str | None = Field(None, description="merge/update: the resulting memory text")
    reason: str = ""


class CompactMemories(dspy.Signature):
    """Compact these long-term memories of one user. Merge duplicates and near-duplicates into one memory that keeps every detail; when memories contradict each other, keep the most recently stated one and delete the rest. Leave unrelated memories alone; return no operation for them."""

    memories: list[MemoryItem] = dspy.InputField()
    operations: list[CompactionOp] = dspy.OutputField()


def check_ops(ops: Iterable[object], shown: set[int]) -> tuple[list[CompactionOp], list[str]]:
    """The valid operations, and a reason for each refused one (see the module docstring)."""
    good: list[CompactionOp] = []
    refused: list[str] = []
    used: set[int] = set()
    for raw in ops or []:
        try:
            op = raw if isinstance(raw, CompactionOp) else CompactionOp.model_validate(raw)
        except Exception as err:  # noqa: BLE001 - pydantic's reason goes in the report
            refused.append(f"{raw!r}: not an operation ({err})")
            continue
        ids = list(dict.fromkeys(op.ids))
        why = None
        if not ids:
            why = "names no memory"
        elif unknown := [i for i in ids if i not in shown]:
            why = f"ids {unknown} were not shown"
        elif again := [i for i in ids if i in used]:
            why = f"ids {again} are already used by another operation"
        elif op.action == "merge" and len(ids) < 2:
            why = "a merge needs at least two ids"
        elif op.action == "update" and len(ids) != 1:
            why = "an update names exactly one id"
        elif op.action != "delete" and not (op.content or "").strip():
            why = f"a {op.action} needs the resulting content"
        if why:
            refused.append(f"{op.action} {op.ids}: {why}")
            continue
        used.update(ids)
        good.append(op.model_copy(update={"ids": ids}))
    return good, refused


__all__ = ["CompactMemories", "CompactionOp", "MemoryItem", "check_ops"]
