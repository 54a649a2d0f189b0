"""What a memory update reports, and the namespace values a trajectory brings."""

from __future__ import annotations

from dataclasses import dataclass, field

from engram.lm import Usage
from engram.modules._operations import MemoryOp, RejectedOp
from engram.store import MemoryRecord, Namespace


@dataclass
class UpdateResult:
    """What one update did: records written (new versions), ids deleted, ops, refusals, LM usage."""

    namespace: Namespace
    trajectory_id: str
    written: list[MemoryRecord] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ops: list[MemoryOp] = field(default_factory=list)
    rejected: list[RejectedOp] = field(default_factory=list)
    skipped: bool = False
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.deleted)


def trajectory_values(trajectory: object) -> dict[str, str]:
    """Namespace values from a trajectory: ``user_id`` / ``thread_id`` (and ``user`` / ``thread``),
    plus its string metadata."""
    values = {k: v for k, v in (getattr(trajectory, "metadata", None) or {}).items() if isinstance(v, str)}
    if getattr(trajectory, "user", None):
        values.update(user_id=trajectory.user, user=trajectory.user)  # type: ignore[attr-defined]
    if getattr(trajectory, "thread", None):
        values.update(thread_id=trajectory.thread, thread=trajectory.thread)  # type: ignore[attr-defined]
    return values


__all__ = ["UpdateResult", "trajectory_values"]
