"""``run_experiment(config)``: one config -> one MLflow run, resumable, with a summary.

Steps run in this order, each only if enabled: retrieval (LoCoMo recall), memory
(extract memories into Chroma), compile (the feedback judge), prompt (optimize + gate),
registry (register v1 -> v2, set the alias), export. Every finished step is recorded
in ``<output_dir>/checkpoint.json``; re-running the same config skips them and continues
where a killed run stopped, in the same MLflow run. Outputs: ``results.csv``,
``results.md``, plots (``score_by_round.png``, ``before_after.png``, ``cost.png``),
``summary.json`` and the step artifacts, all logged to MLflow::

    from engram.runner import load_config, run_experiment
    result = run_experiment(load_config("experiments/quickstart.yaml"))
    result.summary["score_after"], result.table
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram._files import atomic_write_json
from engram.errors import BudgetExceededError, EngramError
from engram.lm import OFFLINE_PREFIX
from engram.runner._budget import Budget
from engram.runner._checkpoint import Checkpoint, StepRecord
from engram.runner._config import ExperimentConfig
from engram.runner._data import load_run_data
from engram.runner._lms import resolve_lms
from engram.runner._progress import Progress
from engram.runner._steps._base import (
    OUTPUT_TYPES,
    StepContext,
    StepFailed,
    StepOutcome,
    StepOutputs,
    StepUnavailable,
)
from engram.runner._tracking import RunTracker

STEP_ORDER = ["retrieval", "memory", "compile", "prompt", "registry", "export"]


@dataclass
class RunResult:
    """What :func:`run_experiment` returns: the summary, the per-step table and where files went."""

    summary: dict[str, Any]
    table: Any  # pandas.DataFrame
    run_dir: Path
    run_id: str | None
    plots: list[Path] = field(default_factory=list)

    def _repr_html_(self) -> str:  # notebooks show the table
        return self.table._repr_html_()


def fingerprint(config: ExperimentConfig, dataset_hash: str | None) -> str:
    """What a checkpoint is valid for: the config's work-defining parts and the data.

    Budget, tracking and sweep settings are left out on purpose: raising the budget and
    re-running must continue the same run, not start over.
    """
    work = config.model_dump(mode="json", exclude={"budget", "tracking", "sweep", "output_dir",
                                                     "description"})
    blob = json.dumps({"config": work, "data": dataset_hash}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _step_functions() -> dict[str, Callable[[StepContext, dict[str, Any]], StepOutcome]]:
    # The steps import the library parts they drive; loading them only when a run starts
    # keeps `engram --help` fast.
    from engram.runner._steps._compile import run_compile_step
    from engram.runner._steps._memory import run_memory_step
    from engram.runner._steps._prompt import run_prompt_step
    from engram.runner._steps._retrieval import run_retrieval_step
    from engram.runner._steps._ship import run_export_step, run_registry_step

    return {"retrieval": run_retrieval_step, "memory": run_memory_step, "compile": run_compile_step,
            "prompt": run_prompt_step, "registry": run_registry_step, "export": run_export_step}


def enabled_steps(config: ExperimentConfig) -> list[str]:
    prompt = config.prompt if config.prompt is not None and config.prompt.enabled else None
    flags = {"retrieval": config.retrieval.enabled, "memory": config.memory.enabled,
             "compile": config.compile.enabled, "prompt": prompt is not None,
             "registry": prompt is not None and prompt.registry.enabled and config.tracking.enabled,
             "export": prompt is not None and prompt.export.enabled}
    return [s for s in STEP_ORDER if flags[s]]


def run_experiment(config: ExperimentConfig | str | Path, *, progress: bool = True, console: Any = None,
                   print_summary: bool = True, log: Callable[[str], None] | None = None,
                   force: bool = False) -> RunResult:
    """Run an experiment config (or a path to one); see the module docstring.

    ``force=True`` sets aside a checkpoint that another config file with the same ``name:``
    left in the output directory, instead of refusing to run.
    """
    from rich.console import Console

    from engram.runner._config import load_config
    from engram.runner._report import print_summary as show

    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    console = console or Console()
    log = log or (lambda message: console.print(message, highlight=False))

    # Everything that can fail fast does so before a file is written ("nothing half-written").
    tracker = RunTracker(config)
    tracker.preflight()
    if "registry" in enabled_steps(config):
        tracker.check_registry()
    names, lms = resolve_lms(config)
    data = load_run_data(config)
    run_dir = config.resolved_output_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpoint.open(run_dir, fingerprint=fingerprint(config, data.fingerprint),
                           config_path=config.source_path, force=force)
    budget = Budget(config.budget, spent=ckpt.data.spent)
    if ckpt.set_aside is not None:
        log(f"The config or the data changed since the last run in {run_dir}: starting over "
            f"(the old checkpoint is kept as {ckpt.set_aside.name}).")
    if ckpt.resumed:
        done = [s for s in STEP_ORDER if ckpt.is_done(s)]
        log(f"Resuming from {ckpt.path} (finished: {', '.join(done) or 'none'}).")
    stand_in = any(str(n).startswith(OFFLINE_PREFIX) for n in names.values() if n)
    if stand_in:
        log("[yellow]Using an offline LM (a stand-in, not a model). "
            "Set ENGRAM_LM (and ENGRAM_REFLECTION_LM / ENGRAM_JUDGE_LM) for a real one.[/]")

    records: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"experiment": config.name, "lms": names, "run_dir": str(run_dir),
                               "stand_in": stand_in, "unavailable": {}, "failures": {}, "resumed": []}
    if data.train is not None and data.validation is not None:  # set together with data.dataset
        summary.update(train=len(data.train), validation=len(data.validation), dataset_hash=data.fingerprint)
    functions = _step_functions()
    with tracker.run(run_id=ckpt.run_id, name=config.name,
                     tags={"engram.experiment": config.name, "engram.stand_in": str(stand_in)}) as run_id:
        if run_id and ckpt.run_id != run_id:
            ckpt.set_run_id(run_id)
        summary["run_id"] = run_id
        tracker.log_params(config.model_dump(mode="json", exclude={"sweep"}))
        failure: BaseException | None = None
        with Progress(enabled=progress, console=console) as bars:
            ctx = StepContext(config=config, run_dir=run_dir, checkpoint=ckpt, budget=budget,
                              progress=bars, dataset=data.dataset, train=data.train,
                              validation=data.validation, log=log)
            for step in enabled_steps(config):
                record = _run_step(step, functions[step], ctx, lms, summary, log)
                records.append(record)
                if record["status"] in ("failed", "stopped"):
                    # Nothing after a failed step runs: a run never registers or promotes a
                    # prompt when an earlier step did not finish.
                    failure = record.pop("error")
                    summary["failures"][step] = record["note"]
                    break
        result = _finish(config, ctx, records, summary, tracker, run_id)
        if print_summary:
            show(result.summary, console)  # a failed run's summary lists what failed
        if failure is not None:
            raise failure
    return result


def _run_step(step: str, fn, ctx: StepContext, lms: dict[str, Any], summary: dict[str, Any],
              log: Callable[[str], None]) -> dict[str, Any]:
    ckpt = ctx.checkpoint
    if ckpt.is_done(step):
        saved = ckpt.record(step)
        ctx.outputs.set(step, OUTPUT_TYPES[step].model_validate(saved.output))
        summary["resumed"].append(step)
        return {"step": step, "status": "resumed", "metrics": saved.metrics, "usage": saved.usage,
                "rounds": saved.rounds, "seconds": saved.seconds, "note": saved.note, "attempt_calls": 0}
    started = time.perf_counter()
    calls_before = ctx.budget.calls
    ctx.step = step
    record: dict[str, Any] = {"step": step, "metrics": {}, "rounds": [], "note": ""}
    try:
        ctx.budget.check(f"start of {step}")  # a budget spent by an earlier attempt: start nothing new
        outcome = fn(ctx, lms)
    except StepUnavailable as err:
        summary["unavailable"][step] = str(err)
        log(f"[red]{step}: unavailable[/] ({err})")
        record.update(status="unavailable", note=str(err))
    except BudgetExceededError as err:
        record.update(status="stopped", note=str(err), error=err)
    except (EngramError, KeyboardInterrupt) as err:
        record.update(status="failed", note=f"{type(err).__name__}: {err}", error=err)
    except Exception as err:  # noqa: BLE001  (an LM or library error: one line, never a traceback)
        failed = StepFailed(f"step {step!r} failed: {type(err).__name__}: {err}")
        record.update(status="failed", note=str(failed), error=failed)
    else:
        record.update(status="done", metrics=outcome.metrics, rounds=outcome.rounds, note=outcome.note,
                      artifacts=[str(p) for p in outcome.artifacts])
        ctx.outputs.set(step, outcome.output)
    finally:
        ctx.step = ""
    # Usage over every attempt of the step, so a resumed run's totals count what was paid.
    record["usage"] = ckpt.usage(step)
    record["attempt_calls"] = ctx.budget.calls - calls_before
    record["seconds"] = time.perf_counter() - started
    if record["status"] == "done":
        ckpt.finish(step, StepRecord(output=outcome.output.model_dump(mode="json"), metrics=record["metrics"],
                                     usage=record["usage"], rounds=record["rounds"],
                                     seconds=record["seconds"], note=record["note"]))
    return record


def _finish(config: ExperimentConfig, ctx: StepContext, records: list[dict[str, Any]],
            summary: dict[str, Any], tracker: RunTracker, run_id: str | None) -> RunResult:
    from engram.runner import _plots as plots
    from engram.runner._report import results_frame, write_results

    table = results_frame(records)
    summary.update(_headline(records, ctx.outputs))
    totals = table[["calls", "prompt_tokens", "completion_tokens", "tokens", "cost"]].sum()
    summary.update(calls=int(totals["calls"]), prompt_tokens=int(totals["prompt_tokens"]),
                   completion_tokens=int(totals["completion_tokens"]), tokens=int(totals["tokens"]),
                   cost=float(totals["cost"]), cost_known=ctx.budget.cost_known)
    summary["steps"] = {r["step"]: r["status"] for r in records}
    # What this attempt spent (a resumed run reuses the recorded results of finished steps).
    summary["calls_this_attempt"] = sum(r.get("attempt_calls", 0) for r in records)
    run_dir = ctx.run_dir
    csv_path, md_path = write_results(table, run_dir)
    rounds: list[dict[str, Any]] = next(
        (r.get("rounds") or [] for r in records if r["step"] == "prompt"), [])
    drawn = [plots.score_by_round(rounds, run_dir / "score_by_round.png"),
             plots.before_after(summary.get("score_before"), summary.get("score_after"),
                                run_dir / "before_after.png"),
             plots.cost_by_step(table, run_dir / "cost.png")]
    made = [p for p in drawn if p is not None]
    atomic_write_json(run_dir / "summary.json", summary)
    tracker.log_metrics({k: summary[k] for k in ("calls", "tokens", "cost", "score_before", "score_after",
                                                 "memories_written") if summary.get(k) is not None})
    for step, score in plots.round_scores(rounds):  # the plotted series, not a raw 0.0 for "no score"
        tracker.log_metrics({"round_score": score}, step=step)
    tracker.log_artifacts([csv_path, md_path, run_dir / "summary.json", *made])
    for r in records:
        tracker.log_artifacts([Path(p) for p in r.get("artifacts", [])], artifact_path=r["step"])
    return RunResult(summary=summary, table=table, run_dir=run_dir, run_id=run_id, plots=made)


def _headline(records: list[dict[str, Any]], outputs: StepOutputs) -> dict[str, Any]:
    """The figures the summary leads with, from the steps that ran."""
    out: dict[str, Any] = {}
    by_step = {r["step"]: r for r in records}
    if outputs.memory is not None:
        out["memories_written"] = outputs.memory.memories_written
        out["memories_in_store"] = outputs.memory.memories_in_store
    elif "memory" in by_step:  # unfinished: what its applied chunks wrote so far
        out["memories_written"] = by_step["memory"]["metrics"].get("memories_written")
    if "prompt" in by_step and by_step["prompt"]["status"] in ("done", "resumed"):
        metrics = by_step["prompt"]["metrics"]
        out.update(score_before=metrics.get("score_before"), score_after=metrics.get("score_after"),
                   accepted=metrics.get("accepted"))
    if outputs.registry is not None:
        out["versions"] = outputs.registry.summary
    if outputs.export is not None:
        out["exported"] = [Path(f).name for f in outputs.export.files]
        out["export_dir"] = outputs.export.dir
    if outputs.compile is not None:
        out["judge_agreement"] = outputs.compile.agreement
    if outputs.retrieval is not None:
        out["recall"] = outputs.retrieval.headline
    return out
