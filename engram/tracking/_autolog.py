"""``engram.autolog()``: record every optimization, compile and batch extraction as an MLflow run.

`engram run CONFIG` tracks its work itself; this switch does the same for direct library
calls (a notebook, a script)::

    import engram
    engram.autolog()                                   # like mlflow.<flavor>.autolog()
    result = engram.GradientOptimizer()(train, prompt) # -> one run: params, scores, usage, diff...
    manager.process(dataset)                           # -> one "extraction" run
    engram.autolog(disable=True)

Covered: the single-prompt optimizers (gradient, metaprompt, prompt_memory), the
MultiPromptOptimizer (a parent run; each prompt's optimization nests under it),
``MemoryManager.process`` / ``aprocess``, ``compile_extractor``, ``compile_judge`` and
``FeedbackTeleprompter.compile``. Inside the caller's ``mlflow.start_run()`` the runs nest
under it (in the caller's store); otherwise they go to engram's store
(``engram.get_settings().resolved_tracking_uri``) or to ``tracking_uri``. A run wraps the
whole call, so ``mlflow.dspy.autolog`` traces land inside it. A tracking failure (e.g. an
unreachable server) is logged as a warning; the optimization itself always goes on.

Note: ``engram run CONFIG`` logs its own run; with autolog on, the optimization inside it
also gets its own (nested) run. ``mlflow.dspy.autolog`` patches ``FeedbackTeleprompter.compile``
from outside, so with both on, engram's compile run nests under MLflow's DSPy compile run.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import engram.events as events
from engram.tracking._results import MultiPromptOutcome, OptimizationOutcome, ProcessOutcome, log_result
from engram.tracking._runs import DEFAULT_EXPERIMENT, SAMPLE_SIZE, Run, track_run

log = logging.getLogger("engram.tracking")

# The autolog run of the current context: worker threads (context_runner copies contextvars)
# have no MLflow active run of their own, so their runs name this one as their parent.
_parent_run: ContextVar[str | None] = ContextVar("engram_autolog_parent", default=None)
_lock = threading.Lock()
_listener: _AutologListener | None = None
_dspy_on = False  # whether autolog(dspy=True) turned mlflow.dspy.autolog on (and so turns it off)


class _AutologListener:
    """Turns each :class:`engram.events.Span` into a :func:`track_run` around the operation."""

    def __init__(self, tracking_uri: str | None, experiment: str, log_samples: bool):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.log_samples = log_samples

    def __call__(self, span: events.Span) -> Any:
        return self._record(span)

    @contextmanager
    def _record(self, span: events.Span) -> Iterator[None]:
        import mlflow

        from engram.lm import track_usage

        in_caller_run = mlflow.active_run() is not None
        parent = _parent_run.get()
        tags = {"engram.autolog": "true"}
        if parent and not in_caller_run:
            tags["mlflow.parentRunId"] = parent  # a worker thread: nest under the autolog run
        with track_run(span.name, span.kind, span.params, tags=tags, experiment=self.experiment,
                       tracking_uri=None if in_caller_run else self.tracking_uri) as run:
            token = _parent_run.set(run.run_id)
            try:
                with track_usage() as usage:
                    yield
            finally:
                _parent_run.reset(token)
            try:
                _log_outcome(run, span, usage, self.log_samples)
            except Exception as err:  # noqa: BLE001  (the run still ends FINISHED with what was logged)
                log.warning("engram.autolog: logging the outcome of %s '%s' failed: %s: %s",
                            span.kind, span.name, type(err).__name__, err)


def _log_outcome(run: Run, span: events.Span, usage: Any, log_samples: bool) -> None:
    result = span.result
    dataset = _dataset(span.data) if log_samples and span.kind != "compile" else None
    if isinstance(result, OptimizationOutcome):  # scores, usage, diff, critiques...
        log_result(run, result, dataset, None)
    elif isinstance(result, MultiPromptOutcome):
        run.log_metrics({"prompts": len(result.prompts), "optimized": len(result.results),
                         "updated": len(result.updated), "shared_edits": len(result.shared_edits),
                         "errors": len(result.errors)})
        run.log_usage(result.usage)
        run.log_dict({"attribution": result.attribution, "attributed_by": result.attributed_by,
                      "updated": result.updated, "shared_edits": result.shared_edits}, "attribution.json")
        if result.errors:
            run.log_text("\n".join(result.errors), "errors.txt")
        if dataset is not None:
            run.log_trajectory_sample(dataset)
    elif isinstance(result, ProcessOutcome):
        outcomes = [r for r in result.results if not getattr(r, "skipped", False)]
        run.log_metrics({"trajectories": result.total, "applied": result.applied, "skipped": result.skipped,
                         "failed": result.failed,
                         "memories_written": sum(len(getattr(r, "written", ())) for r in outcomes),
                         "memories_deleted": sum(len(getattr(r, "deleted", ())) for r in outcomes)})
        run.log_usage(usage)
        if result.failures:
            run.log_dict([{"trajectory_id": t, "error": e} for t, e in result.failures], "failures.json")
        if dataset is not None:
            run.log_trajectory_sample(dataset)
    else:  # a compile: a DSPy program, or a report holding one (JudgeReport.judge)
        run.log_usage(usage)
        program = getattr(result, "judge", result)
        _log_compile(run, program, span.data if log_samples else None)
    if span.metrics:
        run.log_metrics(span.metrics)
    run.log_lms(used=usage)


def _log_compile(run: Run, program: Any, examples: Any) -> None:
    if program is not None and hasattr(program, "dump_state"):
        try:
            run.log_program(program)
        except Exception as err:  # noqa: BLE001  (an unexportable program: keep at least the state)
            log.warning("engram.autolog: exporting the compiled program failed (%s); logging its state only", err)
            run.log_dict(program.dump_state(), "program/state.json")
    details = getattr(program, "detailed_results", None)  # GEPA (track_stats=True)
    scores = list(getattr(details, "val_aggregate_scores", None) or [])
    if scores:
        run.log_metrics({"score_before": scores[0], "score_after": max(scores), "candidates": len(scores)})
    if examples:
        lines = [json.dumps(e.toDict() if hasattr(e, "toDict") else dict(e), ensure_ascii=False, default=str)
                 for e in list(examples)[:SAMPLE_SIZE]]
        run.log_text("\n".join(lines) + "\n", "examples_sample.jsonl")


def _dataset(data: Any) -> Any:
    if not data:
        return None
    from engram.errors import ValidationError
    from engram.trajectories import TrajectoryDataset, coerce

    if isinstance(data, TrajectoryDataset):
        return data
    try:
        return TrajectoryDataset(coerce(data))
    except ValidationError:  # e.g. a compile's dspy.Examples that are not trajectories: log no sample
        return None


def autolog(disable: bool = False, *, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
            log_trajectories: bool = True, dspy: bool = False) -> None:
    """Record each optimization, compile and batch extraction as an MLflow run (see the module docstring).

    Args:
        disable: turn autologging off again.
        tracking_uri: where runs go when no MLflow run is active (default: engram's store).
        experiment: the MLflow experiment of top-level runs.
        log_trajectories: log a sample of the trajectories / examples used (20 at most).
        dspy: also turn on ``mlflow.dspy.autolog()`` (a trace of each call, linked to engram's
            run); ``autolog(disable=True)`` turns it off again.

    Example::

        import engram
        engram.autolog()
        result = engram.GradientOptimizer(lm="openai/gpt-4o-mini")(train, "You are a helpful assistant.")
        # -> an MLflow run "gradient:prompt" (kind "optimization") in .engram/mlflow.db
        engram.autolog(disable=True)
    """
    global _listener, _dspy_on
    with _lock:
        if _listener is not None:
            events.remove_listener(_listener)
            _listener = None
        if _dspy_on and (disable or not dspy):
            import mlflow

            mlflow.dspy.autolog(disable=True)
            _dspy_on = False
        if disable:
            return
        _listener = _AutologListener(tracking_uri, experiment, log_trajectories)
        events.add_listener(_listener)
        if dspy:
            from engram.tracking._runs import enable_dspy_autolog

            enable_dspy_autolog(silent=True)
            _dspy_on = True


def is_enabled() -> bool:
    """Whether :func:`autolog` is on."""
    return _listener is not None


__all__ = ["autolog", "is_enabled"]
