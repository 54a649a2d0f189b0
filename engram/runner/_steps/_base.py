"""What every step of a run gets (:class:`StepContext`) and returns (:class:`StepOutcome`).

A step is a function ``step(ctx, lms) -> StepOutcome``. The run calls it only if the
checkpoint does not already mark it done, tracks its LM usage, checks the budget, and
records the outcome in the checkpoint, the results table and MLflow.

Steps hand their results to later steps (and to a resumed run, through the checkpoint)
as typed, frozen pydantic models, one per step (:data:`OUTPUT_TYPES`): a misspelt field
is an error where it is written or read, never a silent ``None``. A step that cannot run
because an earlier one left nothing to work on raises :class:`StepUnavailable`; the run
reports it as unavailable (never as a success).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from engram.errors import EngramError

if TYPE_CHECKING:
    from engram.runner._budget import Budget
    from engram.runner._checkpoint import Checkpoint
    from engram.runner._config import ExperimentConfig
    from engram.runner._progress import Progress
    from engram.trajectories import TrajectoryDataset


class StepUnavailable(EngramError):
    """A step cannot run here (an earlier step's result is missing); reported, never a success."""


class StepFailed(EngramError):
    """A step did not finish its work (failed items, an unusable LM); nothing after it runs."""


class _Output(BaseModel):
    # frozen + forbid: a result cannot be changed after the fact nor carry a misspelt field.
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrievalOutput(_Output):
    headline: str
    metrics: dict[str, float]


class MemoryOutput(_Output):
    store: str
    namespace: list[str]
    memories_in_store: int
    memories_written: int


class CompileOutput(_Output):
    path: str
    agreement: str


class PromptOutput(_Output):
    seed_template: str
    template: str
    changed: bool
    score_before: float | None
    score_after: float | None
    rationale: str = ""


class RegistryOutput(_Output):
    name: str
    versions: list[int]
    alias: str | None
    summary: str
    uri: str


class ExportOutput(_Output):
    files: list[str]
    dir: str


StepOutput = RetrievalOutput | MemoryOutput | CompileOutput | PromptOutput | RegistryOutput | ExportOutput

#: The result type of each step: what the checkpoint validates a resumed step's output against.
OUTPUT_TYPES: dict[str, type[_Output]] = {
    "retrieval": RetrievalOutput, "memory": MemoryOutput, "compile": CompileOutput,
    "prompt": PromptOutput, "registry": RegistryOutput, "export": ExportOutput,
}


@dataclass
class StepOutputs:
    """The results of the steps that finished in this run (or in the interrupted attempt)."""

    retrieval: RetrievalOutput | None = None
    memory: MemoryOutput | None = None
    compile: CompileOutput | None = None
    prompt: PromptOutput | None = None
    registry: RegistryOutput | None = None
    export: ExportOutput | None = None

    def set(self, step: str, output: BaseModel) -> None:
        expected = OUTPUT_TYPES[step]
        if not isinstance(output, expected):
            raise TypeError(f"step {step!r} must return a {expected.__name__}, got {type(output).__name__}")
        setattr(self, step, output)


@dataclass
class StepOutcome:
    """A step's result: ``metrics`` go to the results table and MLflow; ``output`` to later steps.

    ``rounds`` are per-round scores for the score-by-round plot.
    """

    output: StepOutput
    metrics: dict[str, Any] = field(default_factory=dict)
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
    outputs: StepOutputs = field(default_factory=StepOutputs)
    step: str = ""  # the step running now: its LM usage is added to its checkpoint entry

    def train_split(self) -> TrajectoryDataset:
        """The training trajectories; a run has them whenever its config has a ``dataset:``."""
        if self.train is None:
            step = f"the {self.step} step" if self.step else "this step"
            raise self.config.error(("dataset",), f"{step} works on trajectories; add a 'dataset:' "
                                                  f"section with 'path:'")
        return self.train

    @contextmanager
    def metered(self) -> Iterator[Any]:
        """Track the LM usage of a unit of work; add it to the budget and the checkpoint at once.

        Saving right away means a run killed before the unit is checkpointed still counts
        the calls it paid for. The budget is *checked* by the caller after it has
        checkpointed the unit (``ctx.budget.check(where)``), so finished work is never thrown away.
        """
        from engram.lm import track_usage

        usage = None
        try:
            with track_usage() as usage:
                yield usage
        finally:  # failed calls were paid for too
            if usage is not None:
                self.budget.add(usage)
                self.checkpoint.add_usage(self.step, usage, spent=self.budget.to_dict())
