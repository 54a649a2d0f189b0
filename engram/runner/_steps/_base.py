"""What every step of a run gets (:class:`StepContext`) and returns (:class:`StepOutcome`).

A step is a function ``step(ctx) -> StepOutcome``. The run calls it only if the
checkpoint does not already mark it done, tracks its LM usage, checks the budget, and
records the outcome in the checkpoint, the results table and MLflow. A step whose
building block is not installed raises :class:`StepUnavailable`: the run reports it as
unavailable (never as a success) and goes on with the steps that do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram.errors import EngramError

if TYPE_CHECKING:
    from engram.runner._budget import Budget
    from engram.runner._checkpoint import Checkpoint
    from engram.runner._config import ExperimentConfig
    from engram.runner._progress import Progress
    from engram.trajectories import TrajectoryDataset


class StepUnavailable(EngramError):
    """A step's building block (a module of engram) is missing or not usable here."""


@dataclass
class StepOutcome:
    """A step's result: ``metrics`` go to the results table and MLflow; ``output`` to the checkpoint.

    ``output`` must be JSON-serializable: a resumed run reads it back instead of re-running.
    ``rounds`` are per-round scores for the score-by-round plot.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    note: str = ""


@dataclass
class StepContext:
    """Everything a step may use: the config, data splits, checkpoint, budget and progress."""

    config: ExperimentConfig
    run_dir: Path
    checkpoint: Checkpoint
    budget: Budget
    progress: Progress
    dataset: TrajectoryDataset | None = None
    train: TrajectoryDataset | None = None
    validation: TrajectoryDataset | None = None
    log: Callable[[str], None] = print
    # outputs of earlier steps in this run (or recorded by an interrupted one)
    outputs: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def metered(self) -> Iterator[Any]:
        """Track the LM usage of a unit of work and add it to the run's budget.

        The budget is *checked* by the caller after it has checkpointed the unit
        (``ctx.budget.check(where)``), so finished work is never thrown away.
        """
        from engram.lm import track_usage

        with track_usage() as usage:
            yield usage
        self.budget.add(usage)
        self.checkpoint.data["spent"] = self.budget.to_dict()  # saved with the next checkpoint write


def require(module: str, what: str) -> Any:
    """Import ``module`` or raise :class:`StepUnavailable` naming what is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise StepUnavailable(f"{what} is not available ({module}: {err}); "
                              f"disable this step in the config or install the missing part") from None
