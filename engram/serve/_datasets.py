"""Feedback datasets: trajectories with feedback appended to a tenant's named JSONL file.

One request's trajectories are validated first, then written with one ``write`` under an
exclusive ``flock`` on a file opened for appending, then fsynced: a reader (or a crash)
sees all of a request's lines or none, and concurrent requests never interleave::

    ds = FeedbackDatasets(home)
    ds.append("acme", "support", [{"messages": [...], "feedback": {"score": 0.2}}])   # (1, 1)
    ds.load("acme", "support")     # TrajectoryDataset of 1
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from engram.errors import NotFoundError, ValidationError
from engram.serve._tenancy import check_tenant

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class FeedbackDatasets:
    """Per-tenant JSONL datasets under ``<home>/serve-datasets/<tenant>/<name>.jsonl``."""

    def __init__(self, home: str | Path):
        self.root = Path(home) / "serve-datasets"

    def path(self, tenant: str, name: str) -> Path:
        if not name or len(name) > 64 or not set(name) <= _NAME_CHARS or name[0] in "-_":
            raise ValidationError(f"dataset name {name!r} is invalid: use letters, digits, '_' and '-'.",
                                  field="dataset")
        return self.root / check_tenant(tenant) / f"{name}.jsonl"

    def append(self, tenant: str, name: str, trajectories: list[dict[str, Any]]) -> tuple[int, int]:
        """Validate and append; returns (appended, total lines now)."""
        from engram.trajectories import Trajectory

        lines = []
        for i, item in enumerate(trajectories):
            try:
                lines.append(Trajectory.model_validate(item).model_dump_json(exclude_defaults=True) + "\n")
            except ValueError as err:
                raise ValidationError(f"trajectory {i} is invalid: {err}", field=f"trajectories[{i}]") from None
        path = self.path(tenant, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(lines).encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, data)
            while written < len(data):  # a short write on a full pipe-like fs: finish it under the lock
                written += os.write(fd, data[written:])
            os.fsync(fd)
            total = _count_lines(path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return len(lines), total

    def load(self, tenant: str, name: str) -> Any:
        """The dataset as a :class:`~engram.trajectories.TrajectoryDataset`."""
        from engram.trajectories import TrajectoryDataset

        path = self.path(tenant, name)
        if not path.exists():
            raise NotFoundError(f"no dataset {name!r}; POST /v1/feedback with dataset={name!r} creates it.")
        with open(path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            try:
                items = [line for line in fh.read().decode().splitlines() if line.strip()]
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        from engram.trajectories import Trajectory

        # Ids repeat when a client sends the same conversation twice; keep the latest feedback.
        latest = {t.id: t for t in (Trajectory.model_validate_json(line) for line in items)}
        return TrajectoryDataset(list(latest.values()), name=name)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 16), b""))


__all__ = ["FeedbackDatasets"]
