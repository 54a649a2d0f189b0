"""TrajectoryDataset: a list of trajectories with loading, saving, splitting and stats.

Example::

    ds = TrajectoryDataset.load("datasets/support.jsonl")
    train, val = ds.split(val_fraction=0.25, seed=0)   # no user or thread on both sides
    ds.stats()["feedback_mean"]
    examples = train.to_dspy_examples()
"""

from __future__ import annotations

import hashlib
import json
import numbers
import statistics
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram.errors import ValidationError
from engram.trajectories import _io as io
from engram.trajectories._split import _components, group_split
from engram.trajectories._types import Trajectory

if TYPE_CHECKING:
    import dspy
    import pandas as pd


class TrajectoryDataset:
    """An ordered collection of :class:`Trajectory` objects."""

    def __init__(self, trajectories: Iterable[Trajectory | dict[str, Any]] = (), *, name: str | None = None):
        if trajectories is None or isinstance(trajectories, (Mapping, str, bytes, Trajectory)) \
                or not isinstance(trajectories, Iterable):
            one = isinstance(trajectories, (Mapping, Trajectory))
            raise ValidationError(
                f"TrajectoryDataset takes a list of trajectories, got {type(trajectories).__name__}"
                + ("; wrap a single one in a list: TrajectoryDataset([trajectory])" if one else
                   "; to read a file use TrajectoryDataset.load(path)" if isinstance(trajectories, str) else
                   "; pass e.g. TrajectoryDataset([{'messages': [...], 'feedback': {...}}])"))
        items = []
        for index, t in enumerate(trajectories):
            items.append(t if isinstance(t, Trajectory) else io.parse_record(t, source=name or "<data>",
                                                                               line=index + 1))
        self.trajectories: list[Trajectory] = items
        self.name = name

    # -- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.trajectories)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    def __getitem__(self, index: int | slice) -> Trajectory | TrajectoryDataset:
        if isinstance(index, slice):
            return TrajectoryDataset(self.trajectories[index], name=self.name)
        return self.trajectories[index]

    def __repr__(self) -> str:
        return f"TrajectoryDataset({len(self)} trajectories{', ' + self.name if self.name else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrajectoryDataset) and self.trajectories == other.trajectories

    def filter(self, predicate) -> TrajectoryDataset:
        """A new dataset with the trajectories for which ``predicate(t)`` is true."""
        return TrajectoryDataset([t for t in self if predicate(t)], name=self.name)

    def with_feedback(self) -> TrajectoryDataset:
        """Only trajectories that carry feedback."""
        return self.filter(lambda t: t.feedback is not None and not t.feedback.is_empty)

    @property
    def fingerprint(self) -> str:
        """A short hash of the content (ids and feedback): the dataset hash used in tags."""
        h = hashlib.sha256()
        for t in self:
            h.update(t.id.encode())
            h.update(json.dumps(t.feedback.model_dump(mode="json") if t.feedback else None,
                                sort_keys=True).encode())
        return h.hexdigest()[:12]

    # -- files and tables ---------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, max_line_bytes: int = io.MAX_LINE_BYTES) -> TrajectoryDataset:
        """Load JSONL, a JSON array, CSV or Parquet (chosen by the file's suffix)."""
        path = Path(path)
        suffix = io.check_suffix(path)  # each reader below refuses a missing file or a directory
        if suffix == ".jsonl":
            items = list(io.iter_jsonl(path, max_line_bytes=max_line_bytes))
        elif suffix == ".json":
            items = cls._load_json_array(path)
        else:
            items = io.read_table(path)
        cls._check_unique_ids(items, str(path))
        return cls(items, name=path.stem)

    @staticmethod
    def _load_json_array(path: Path) -> list[Trajectory]:
        io.check_readable(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:  # removed since the check
            raise ValidationError("file not found; check the path", source=str(path)) from None
        except json.JSONDecodeError as err:
            if err.msg == "Extra data":  # one JSON value, then more: JSON Lines saved as .json
                raise ValidationError(f"more than one JSON value ({err}): this looks like JSON Lines, one "
                                      "trajectory per line; rename the file to .jsonl", source=str(path)) from None
            raise ValidationError(f"not a valid UTF-8 JSON file: {err}", source=str(path)) from None
        except UnicodeDecodeError as err:
            raise ValidationError(f"not a valid UTF-8 JSON file: {err}", source=str(path)) from None
        except RecursionError:
            raise ValidationError("JSON nested too deeply to be a trajectory dataset; a dataset is a "
                                  "JSON array of trajectory objects", source=str(path)) from None
        if not isinstance(data, list):
            raise ValidationError("a .json dataset must be a JSON array of trajectories", source=str(path))
        return [io.parse_record(r, source=str(path), line=i + 1) for i, r in enumerate(data)]

    @staticmethod
    def _check_unique_ids(items: list[Trajectory], source: str) -> None:
        seen: dict[str, int] = {}
        for line, t in enumerate(items, start=1):
            if t.id in seen:
                raise ValidationError(
                    f"duplicate trajectory id '{t.id}' (first at item {seen[t.id]}); ids must be unique",
                    source=source, line=line, field="id",
                )
            seen[t.id] = line

    def save(self, path: str | Path) -> Path:
        """Write to JSONL, CSV or Parquet (by suffix); the file appears whole or not at all."""
        path = Path(path)
        suffix = io.check_suffix(path)
        if path.is_dir():
            raise ValidationError("is a directory; pass a file name such as data.jsonl", source=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".jsonl":
            io.write_jsonl(self.trajectories, path)
        elif suffix == ".json":
            io.atomic_write_text(path, json.dumps([t.to_record() for t in self], indent=1,
                                                  ensure_ascii=False))
        else:
            io.write_table(self.trajectories, path)
        return path

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, *, name: str | None = None) -> TrajectoryDataset:
        """From a table with the columns of :meth:`to_pandas` (nested columns as objects or JSON)."""
        items = io.from_rows(df.to_dict("records"), source=name or "<DataFrame>", decode_json=True)
        return cls(items, name=name)

    def to_pandas(self) -> pd.DataFrame:
        """One row per trajectory; feedback in ``feedback_*`` columns, messages as lists of dicts."""
        return io.to_dataframe(self.trajectories)

    # -- learning ------------------------------------------------------------------------
    def split(self, val_fraction: float = 0.2, *, seed: int = 0) -> tuple[TrajectoryDataset, TrajectoryDataset]:
        """Train / validation split that never puts one user's or thread's trajectories on both sides.

        Warns (``UserWarning``) when one side comes out empty, e.g. when every trajectory
        shares one user or thread: nothing can then be held out.
        """
        train, val = self.split_quietly(val_fraction, seed=seed)
        if self.trajectories and (not len(train) or not len(val)):
            groups = len(_components(self.trajectories))
            empty = "validation" if not len(val) else "training"
            why = (f"only {groups} user/thread group; nothing can be held out without putting one "
                   "user's or thread's trajectories on both sides" if groups == 1 else
                   f"the {groups} user/thread groups cannot be divided at val_fraction={val_fraction}")
            warnings.warn(f"TrajectoryDataset.split: the {empty} side is empty ({len(train)} train / "
                          f"{len(val)} validation): {why}. Add trajectories from other users or threads, "
                          "or split by hand.", UserWarning, stacklevel=2)
        return train, val

    def split_quietly(self, val_fraction: float = 0.2, *, seed: int = 0) -> tuple[TrajectoryDataset, TrajectoryDataset]:
        """:meth:`split` without the empty-side warning, for callers that handle an empty side."""
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real):
            raise ValidationError(f"val_fraction must be a number in (0, 1) such as 0.2, got "
                                  f"{type(val_fraction).__name__} {val_fraction!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValidationError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValidationError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
        train_idx, val_idx = group_split(self.trajectories, val_fraction=val_fraction, seed=seed)
        return (TrajectoryDataset([self.trajectories[i] for i in train_idx], name=self.name),
                TrajectoryDataset([self.trajectories[i] for i in val_idx], name=self.name))

    def to_dspy_examples(self) -> list[dspy.Example]:
        """One ``dspy.Example`` per trajectory, with input ``conversation``.

        Fields: ``conversation`` (the transcript before the last assistant reply), ``response``
        (that reply), ``score``, ``label``, ``comment``, ``trajectory_id``, ``user``.
        """
        import dspy

        examples = []
        for t in self:
            messages = list(t.messages)
            response = ""
            if messages and messages[-1].role == "assistant" and len(messages) > 1:
                response = messages.pop().content
            context = Trajectory(messages=messages, id=t.id)
            fb = t.feedback
            examples.append(dspy.Example(
                conversation=context.transcript(), response=response,
                score=t.score, label=fb.label if fb else None, comment=fb.comment if fb else None,
                trajectory_id=t.id, user=t.user,
            ).with_inputs("conversation"))
        return examples

    # -- statistics ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counts, feedback distribution and lengths, as a flat dict (``pd.Series(ds.stats())``)."""
        scores = [t.score for t in self if t.score is not None]
        labels = Counter(t.feedback.label for t in self if t.feedback and t.feedback.label)
        turns = [len(t.messages) for t in self]
        chars = [sum(len(m.content) for m in t.messages) for t in self]
        buckets = Counter(min(int(s * 4), 3) for s in scores)
        return {
            "trajectories": len(self),
            "users": len({t.user for t in self if t.user}),
            "threads": len({t.thread for t in self if t.thread}),
            "with_feedback": sum(1 for t in self if t.feedback and not t.feedback.is_empty),
            "with_comment": sum(1 for t in self if t.feedback and t.feedback.comment),
            "feedback_mean": round(statistics.fmean(scores), 4) if scores else None,
            "score_0_25": buckets.get(0, 0),
            "score_25_50": buckets.get(1, 0),
            "score_50_75": buckets.get(2, 0),
            "score_75_100": buckets.get(3, 0),
            "labels": dict(sorted(labels.items())),
            "messages_mean": round(statistics.fmean(turns), 2) if turns else 0,
            "messages_max": max(turns, default=0),
            "chars_median": statistics.median(chars) if chars else 0,
            "chars_max": max(chars, default=0),
        }
