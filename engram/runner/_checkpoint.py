"""Resumable runs: a JSON checkpoint of finished steps and applied items, written atomically.

A run killed midway (Ctrl-C, OOM, a lost machine) continues on re-run from here: steps
marked done are skipped and their recorded results reused; a step that works through
items (trajectories to extract memories from) records the ids it has *applied* after
each chunk, so only the rest (and what failed) is processed again. LM usage is added
after every unit of work, so the totals of a resumed run count every attempt. Writes go
to a temporary file that is renamed over the old one, so a kill during a write leaves the
previous checkpoint whole::

    ckpt = Checkpoint.open(Path(".engram/runs/quickstart"), fingerprint="a1b2",
                           config_path=Path("experiments/quickstart.yaml"))
    ids = ["t1", "t2", "t3", "t4", "t5"]
    if not ckpt.is_done("memory"):
        pending = ckpt.pending("memory", ids)    # after a crash: only what was not applied
        for start in range(0, len(pending), 2):
            chunk = pending[start:start + 2]
            ...                                  # process the chunk
            ckpt.add_items("memory", chunk)      # durable before the next chunk starts
        ckpt.finish("memory", StepRecord(output={"applied": len(ids)}))

The fingerprint ties a checkpoint to a config and dataset. When the same config file
changed, the old checkpoint is set aside (renamed, not deleted; ``set_aside`` says where,
and ``engram run`` prints it) and the run starts over;
when the run directory belongs to *another* config file with the same ``name:``, opening
it is refused (:class:`CheckpointError` naming that file) unless ``force=True``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from engram.errors import ConfigurationError

from engram._files import atomic_write_json

CHECKPOINT_FILE = "checkpoint.json"
FORMAT = 2


class CheckpointError(ConfigurationError):
    """A run directory's checkpoint cannot be used by this run; the message says why and what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepRecord(_Strict):
    """What a finished step left: its typed output (as JSON), metrics, LM usage, rounds, time, note."""

    output: dict[str, Any]
    metrics: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    rounds: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0
    note: str = ""


class StepEntry(_Strict):
    status: Literal["pending", "running", "done"] = "pending"
    items: list[str] = Field(default_factory=list)
    state: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)  # every attempt of this step
    record: StepRecord | None = None


class CheckpointData(_Strict):
    format: int = FORMAT
    fingerprint: str
    config_path: str | None = None
    run_id: str | None = None
    spent: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepEntry] = Field(default_factory=dict)
    created: float = Field(default_factory=time.time)
    updated: float | None = None


_USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens", "cost")


class Checkpoint:
    """The progress of one run directory; every mutation is saved before it returns."""

    def __init__(self, path: Path, data: CheckpointData, *, resumed: bool = False):
        self.path = path
        self.data = data
        self.resumed = resumed  # True when a previous attempt left progress here
        self.set_aside: Path | None = None  # where :meth:`open` moved an old checkpoint it could not use

    @classmethod
    def open(cls, run_dir: Path, *, fingerprint: str, config_path: Path | None = None,
             force: bool = False) -> Checkpoint:
        """Load ``run_dir/checkpoint.json`` if it matches ``fingerprint``; else start fresh (see above)."""
        path = Path(run_dir) / CHECKPOINT_FILE
        mine = str(Path(config_path).resolve()) if config_path is not None else None
        if path.exists():
            old = cls._read(path)
            if old is not None and old.fingerprint == fingerprint:
                if mine is not None:
                    old.config_path = mine
                return cls(path, old, resumed=bool(old.steps))
            other = old.config_path if old is not None else None
            if other and mine and other != mine and Path(other).exists() and not force:
                raise CheckpointError(
                    f"{run_dir} holds the run of another config, {other}, with the same name; give this "
                    f"config its own 'name:' (or 'output_dir:'), or pass --force to set that run aside")
            stale = path.with_name(f"{CHECKPOINT_FILE}.stale-{int(time.time() * 1000)}")
            path.rename(stale)
            fresh = cls(path, CheckpointData(fingerprint=fingerprint, config_path=mine))
            fresh.set_aside = stale
            return fresh
        return cls(path, CheckpointData(fingerprint=fingerprint, config_path=mine))

    @staticmethod
    def _read(path: Path) -> CheckpointData | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # torn or garbage: set aside by the caller, never trusted
        found = raw.get("format", raw.get("version")) if isinstance(raw, dict) else None
        if found != FORMAT:
            raise CheckpointError(
                f"{path} was written in checkpoint format {found!r}, and this engram reads format {FORMAT}; "
                f"re-run with --fresh to set it aside and start over")
        try:
            return CheckpointData.model_validate(raw)
        except PydanticValidationError as err:
            raise CheckpointError(f"{path} is not a valid checkpoint ({err.errors()[0]['msg']} at "
                                  f"{'.'.join(map(str, err.errors()[0]['loc']))}); re-run with --fresh "
                                  f"to set it aside and start over") from None

    @property
    def run_id(self) -> str | None:
        """The MLflow run to continue, so a resumed run logs to the same run."""
        return self.data.run_id

    def set_run_id(self, run_id: str) -> None:
        self.data.run_id = run_id
        self.save()

    def _step(self, name: str) -> StepEntry:
        return self.data.steps.setdefault(name, StepEntry())

    def is_done(self, step: str) -> bool:
        entry = self.data.steps.get(step)
        return entry is not None and entry.status == "done"

    def record(self, step: str) -> StepRecord:
        """What :meth:`finish` recorded for ``step`` (it must be done)."""
        entry = self.data.steps.get(step)
        if entry is None or entry.record is None:
            raise CheckpointError(f"{self.path} marks step {step!r} done without its result; "
                                  f"re-run with --fresh")
        return entry.record

    def items(self, step: str) -> list[str]:
        entry = self.data.steps.get(step)
        return list(entry.items) if entry else []

    def pending(self, step: str, ids: Iterable[str]) -> list[str]:
        """``ids`` minus those already applied by ``step``, in their original order."""
        done = set(self.items(step))
        return [i for i in ids if i not in done]

    def add_items(self, step: str, ids: Iterable[str], *, state: dict[str, Any] | None = None) -> None:
        """Record ``ids`` as applied by ``step`` (and optional running ``state``) durably."""
        entry = self._step(step)
        entry.status = "running"
        known = set(entry.items)
        entry.items.extend(i for i in ids if i not in known)
        if state is not None:
            entry.state = state
        self.save()

    def set_state(self, step: str, state: dict[str, Any]) -> None:
        """Save ``step``'s running state durably (no items)."""
        entry = self._step(step)
        entry.state = dict(state)
        self.save()

    def state(self, step: str) -> dict[str, Any]:
        """Running state saved with the last :meth:`add_items` (e.g. counters)."""
        entry = self.data.steps.get(step)
        return dict(entry.state) if entry else {}

    def add_usage(self, step: str, usage: Any, *, spent: dict[str, Any]) -> None:
        """Add a unit of work's LM usage to ``step`` and store the run's running total ``spent``."""
        if step:
            totals = self._step(step).usage
            for key in _USAGE_KEYS:
                totals[key] = totals.get(key, 0) + (getattr(usage, key, 0) or 0)
        self.data.spent = dict(spent)
        self.save()

    def usage(self, step: str) -> dict[str, float]:
        """LM usage of ``step`` over every attempt."""
        entry = self.data.steps.get(step)
        return {key: (entry.usage.get(key, 0) if entry else 0) for key in _USAGE_KEYS}

    def finish(self, step: str, record: StepRecord) -> None:
        """Mark ``step`` done with its ``record`` and save."""
        entry = self._step(step)
        entry.status = "done"
        entry.record = record
        self.save()

    def save(self) -> None:
        self.data.updated = time.time()
        atomic_write_json(self.path, self.data.model_dump(mode="json"))
