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
    from engram.trajectories import Trajectory, TrajectoryDataset


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
    """Load ``config.dataset`` (its errors name the file, line and field) and split it.

    Refused here, before any work, with a :class:`ConfigError` at the key to fix: a dataset
    with no trajectories (a run would "succeed" on nothing and still register the seed), and
    trajectories that cannot fill ``memory.namespace`` (each would fail the memory step).
    """
    from engram.trajectories import TrajectoryDataset

    if config.dataset is None:
        return RunData()
    data = TrajectoryDataset.load(config.dataset.path)
    if len(data) == 0:
        raise config.error(("dataset", "path"), f"{config.dataset.path} has no trajectories; a run needs "
                                                f"some: point dataset.path at a file that has them")
    if config.memory.enabled:
        check_namespace_values(config, list(data))
    if config.dataset.limit:
        data = TrajectoryDataset(list(data)[: config.dataset.limit], name=data.name)
    train, validation = data.split(config.dataset.split.val_fraction, seed=config.dataset.split.seed)
    return RunData(dataset=data, train=train, validation=validation)


# Where a namespace field's value comes from (engram.modules.trajectory_values).
_SOURCE = {"user_id": "user", "user": "user", "thread_id": "thread", "thread": "thread"}


def check_namespace_values(config: ExperimentConfig, trajectories: list[Trajectory]) -> None:
    """Every trajectory must fill ``memory.namespace``; else a ConfigError naming what the data lacks."""
    from engram.errors import EngramError
    from engram.modules import trajectory_values
    from engram.store import NamespaceTemplate

    template = NamespaceTemplate(tuple(config.memory.namespace))
    lacking: dict[str, list[str]] = {}  # a field -> the ids of trajectories without it
    for trajectory in trajectories:
        values = trajectory_values(trajectory)
        try:
            template.fill(values)
        except EngramError as err:
            missing = [f for f in template.fields if not values.get(f)]
            key = missing[0] if missing else str(err)
            lacking.setdefault(key, []).append(trajectory.id)
    if not lacking:
        return
    field, ids = next(iter(lacking.items()))
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    count = f"all {len(ids)}" if len(ids) == len(trajectories) else f"{len(ids)} of {len(trajectories)}"
    if field in _SOURCE:
        what = f"have no '{_SOURCE[field]}'"
    elif field in template.fields:
        what = f"have no string metadata key '{field}'"
    else:
        what = f"cannot fill it ({field})"
    raise config.error(("memory", "namespace"),
                       f"memory.namespace {list(config.memory.namespace)} needs {{{field}}}, but {count} "
                       f"trajectories of {config.dataset.path if config.dataset else 'the dataset'} {what} "
                       f"(e.g. {shown}); add it to the data or change memory.namespace")
