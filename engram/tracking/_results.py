"""What engram logs for each kind of result, recognised by the shape it promises (a Protocol).

Tracking sits below the optimizers and the memory modules, so it does not import their
result classes; each kind is a ``runtime_checkable`` Protocol naming the attributes the
logging reads, and ``isinstance`` says which one a result is::

    isinstance(result, OptimizationOutcome)   # engram.optimizers.OptimizationResult
    log_result(run, result, dataset, params=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from engram.lm import Usage
    from engram.prompts import Prompt
    from engram.tracking._runs import Run
    from engram.trajectories import TrajectoryDataset


@runtime_checkable
class OptimizationOutcome(Protocol):
    """One prompt's optimization (:class:`engram.optimizers.OptimizationResult`)."""

    prompt: Prompt
    original: Prompt
    optimizer: str
    rationale: str
    score_before: float | None
    score_after: float | None
    accepted: bool
    usage: Usage
    steps: int
    candidates: list[Any]
    critiques: list[str]
    errors: list[str]

    @property
    def diff(self) -> str: ...

    def candidates_frame(self) -> Any: ...


@runtime_checkable
class MultiPromptOutcome(Protocol):
    """Several prompts optimized together (:class:`engram.optimizers.MultiPromptResult`)."""

    prompts: list[Any]
    results: dict[str, Any]
    attribution: dict[str, list[str]]
    attributed_by: dict[str, str]
    shared_edits: list[str]
    usage: Usage
    errors: list[str]

    @property
    def updated(self) -> list[str]: ...


@runtime_checkable
class ProcessOutcome(Protocol):
    """A batch extraction (:class:`engram.modules.ProcessReport`)."""

    total: int
    applied: int
    skipped: int
    failed: int
    results: list[Any]
    failures: list[tuple[str, str]]


def log_result(run: Run, result: OptimizationOutcome, dataset: TrajectoryDataset | None,
               params: dict[str, Any] | None) -> None:
    """Log an optimization result into ``run``: params, scores, usage, tags and artifacts."""
    run.log_params({"optimizer": result.optimizer, "prompt_name": result.prompt.name,
                    "parent_version": result.original.version or "", **(params or {})})
    improvement = None
    if result.score_before is not None and result.score_after is not None:
        improvement = result.score_after - result.score_before
    run.log_metrics({"score_before": result.score_before, "score_after": result.score_after,
                     "improvement": improvement, "accepted": float(result.accepted),
                     "steps": result.steps, "candidates": len(result.candidates), "errors": len(result.errors)})
    run.log_usage(result.usage)
    run.set_tags({"engram.optimizer": result.optimizer, "engram.prompt": result.prompt.name,
                  "engram.accepted": result.accepted})
    run.log_text(result.diff or "(no change)\n", "prompt_diff.diff")
    run.log_dict(result.original.model_dump(mode="json"), "prompt_before.json")
    run.log_dict(result.prompt.model_dump(mode="json"), "prompt_after.json")
    run.log_text("\n\n".join(f"## Critique {i + 1}\n{c}" for i, c in enumerate(result.critiques)) or "(none)\n",
                 "critiques.md")
    if result.rationale:
        run.log_text(result.rationale, "rationale.md")
    if result.errors:
        run.log_text("\n".join(result.errors), "errors.txt")
    if result.candidates:
        run.log_table(result.candidates_frame(), "candidates.json")
    if dataset is not None:
        run.log_trajectory_sample(dataset)


