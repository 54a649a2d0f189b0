"""Resumable runs: a JSON checkpoint of finished steps and processed items, written atomically.

A run killed midway (Ctrl-C, OOM, a lost machine) continues on re-run from here: steps
marked done are skipped and their recorded outputs reused; a step that works through
items (trajectories to extract memories from) records the ids it has finished after
each chunk, so only the rest is processed. Writes go to a temporary file that is then
renamed over the old one, so a kill during a write leaves the previous checkpoint whole::

    ckpt = Checkpoint.open(Path(".engram/runs/quickstart"), fingerprint="a1b2...")
    if not ckpt.is_done("memory"):
        for chunk in chunks(ckpt.pending("memory", ids)):
            ...                              # process the chunk
            ckpt.add_items("memory", chunk)  # durable before the next chunk starts
        ckpt.finish("memory", {"memories_written": 12})

The fingerprint ties a checkpoint to a config and dataset: if either changes, the old
checkpoint is set aside (renamed, not deleted) and the run starts over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engram._files import atomic_write_json

CHECKPOINT_FILE = "checkpoint.json"
_VERSION = 1


class Checkpoint:
    """The progress of one run directory; every mutation is saved before it returns."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    @classmethod
    def open(cls, run_dir: Path, *, fingerprint: str) -> Checkpoint:
        """Load ``run_dir/checkpoint.json`` if it matches ``fingerprint``; else start fresh."""
        path = Path(run_dir) / CHECKPOINT_FILE
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                data = None  # unreadable: set aside below, never silently trusted
            if data and data.get("fingerprint") == fingerprint and data.get("version") == _VERSION:
                return cls(path, data)
            path.rename(path.with_name(f"{CHECKPOINT_FILE}.stale-{int(time.time())}"))
        ckpt = cls(path, {"version": _VERSION, "fingerprint": fingerprint, "steps": {},
                          "run_id": None, "created": time.time()})
        return ckpt

    @property
    def resumed(self) -> bool:
        """True when this checkpoint already recorded progress (a previous run was interrupted)."""
        return bool(self.data["steps"])

    @property
    def run_id(self) -> str | None:
        """The MLflow run to continue, so a resumed run logs to the same run."""
        return self.data.get("run_id")

    def set_run_id(self, run_id: str) -> None:
        self.data["run_id"] = run_id
        self.save()

    def _step(self, name: str) -> dict[str, Any]:
        return self.data["steps"].setdefault(name, {"status": "pending", "items": [], "output": None})

    def is_done(self, step: str) -> bool:
        return self.data["steps"].get(step, {}).get("status") == "done"

    def output(self, step: str) -> Any:
        """What :meth:`finish` recorded for ``step`` (None if it has not finished)."""
        return self.data["steps"].get(step, {}).get("output")

    def items(self, step: str) -> list[str]:
        return list(self.data["steps"].get(step, {}).get("items", []))

    def pending(self, step: str, ids: Iterable[str]) -> list[str]:
        """``ids`` minus those already processed by ``step``, in their original order."""
        done = set(self.items(step))
        return [i for i in ids if i not in done]

    def add_items(self, step: str, ids: Iterable[str], *, state: dict[str, Any] | None = None) -> None:
        """Record ``ids`` as processed by ``step`` (and optional running ``state``) durably."""
        entry = self._step(step)
        entry["status"] = "running"
        known = set(entry["items"])
        entry["items"].extend(i for i in ids if i not in known)
        if state is not None:
            entry["state"] = state
        self.save()

    def state(self, step: str) -> dict[str, Any]:
        """Running state saved with the last :meth:`add_items` (e.g. counters)."""
        return dict(self.data["steps"].get(step, {}).get("state") or {})

    def finish(self, step: str, output: Any = None) -> None:
        """Mark ``step`` done with its ``output`` (JSON-serializable) and save."""
        entry = self._step(step)
        entry["status"] = "done"
        entry["output"] = output
        self.save()

    def save(self) -> None:
        self.data["updated"] = time.time()
        atomic_write_json(self.path, self.data)
