"""The trajectories a run or a sweep works on: the config's dataset, cut and split once.

Both :func:`engram.runner.run_experiment` and a sweep trial read their data here, so they
split it the same way (no user or thread on both sides of the split)::

    data = load_run_data(config)
    data.train, data.validation, data.fingerprint
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engram.runner._config import ExperimentConfig
    from engram.trajectories import TrajectoryDataset


@dataclass(frozen=True)
class RunData:
    """The whole dataset (after ``limit``) and its train / validation split; all None without a dataset."""

    dataset: TrajectoryDataset | None = None
    train: TrajectoryDataset | None = None
    validation: TrajectoryDataset | None = None

    @property
    def fingerprint(self) -> str | None:
        return self.dataset.fingerprint if self.dataset is not None else None


def load_run_data(config: ExperimentConfig) -> RunData:
    """Load ``config.dataset`` (its errors name the file, line and field) and split it."""
    from engram.trajectories import TrajectoryDataset

    if config.dataset is None:
        return RunData()
    data = TrajectoryDataset.load(config.dataset.path)
    if config.dataset.limit:
        data = TrajectoryDataset(list(data)[: config.dataset.limit], name=data.name)
    train, validation = data.split(config.dataset.split.val_fraction, seed=config.dataset.split.seed)
    return RunData(dataset=data, train=train, validation=validation)
