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
from engram.errors import BudgetExceededError, ConfigurationError, EngramError
from engram.runner._budget import Budget
from engram.runner._checkpoint import Checkpoint
from engram.runner._config import ExperimentConfig
from engram.runner._progress import Progress
from engram.runner._steps._base import StepContext, StepOutcome, StepUnavailable
from engram.runner._tracking import RunTracker, flatten

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


def resolve_lms(config: ExperimentConfig) -> tuple[dict[str, str | None], dict[str, Any]]:
    """LM names per role (config, else settings / env) and the built ``dspy.LM`` objects."""
    from engram.lm import build_lm

    names = {role: config.lms.resolved(role) for role in ("task", "reflection", "judge")}
    built: dict[str, Any] = {}
    needs_lm = (config.memory.enabled or config.compile.enabled
                or (config.prompt is not None and config.prompt.enabled))
    for role, name in names.items():
        if name is None:
            if needs_lm:
                raise config.error(("lms", role), f"no {role} LM: set lms.{role} in the config or "
                                                  f"ENGRAM_LM (offline: ENGRAM_LM=offline/support)")
            continue
        try:
            built[role] = build_lm(name)
        except ConfigurationError as err:
            raise config.error(("lms", role), f"{err}") from None
    return names, built


def _load_data(config: ExperimentConfig):
    from engram.trajectories import TrajectoryDataset

    if config.dataset is None:
        return None, None, None
    data = TrajectoryDataset.load(config.dataset.path)
    if config.dataset.limit:
        data = data[: config.dataset.limit]
    train, validation = data.split(config.dataset.split.val_fraction, seed=config.dataset.split.seed)
    return data, train, validation


def _step_functions() -> dict[str, Callable[[StepContext, dict[str, Any]], StepOutcome]]:
    from engram.runner._steps._compile import run_compile_step
    from engram.runner._steps._memory import run_memory_step
    from engram.runner._steps._prompt import run_prompt_step
    from engram.runner._steps._retrieval import run_retrieval_step
    from engram.runner._steps._ship import run_export_step, run_registry_step

    return {"retrieval": run_retrieval_step, "memory": run_memory_step, "compile": run_compile_step,
            "prompt": run_prompt_step, "registry": run_registry_step, "export": run_export_step}


def enabled_steps(config: ExperimentConfig) -> list[str]:
    prompt_on = config.prompt is not None and config.prompt.enabled
    flags = {"retrieval": config.retrieval.enabled, "memory": config.memory.enabled,
             "compile": config.compile.enabled, "prompt": prompt_on,
             "registry": prompt_on and config.prompt.registry.enabled and config.tracking.enabled,
             "export": prompt_on and config.prompt.export.enabled}
    return [s for s in STEP_ORDER if flags[s]]


def run_experiment(config: ExperimentConfig | str | Path, *, progress: bool = True, console: Any = None,
                   print_summary: bool = True, log: Callable[[str], None] | None = None) -> RunResult:
    """Run an experiment config (or a path to one); see the module docstring."""
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
    names, lms = resolve_lms(config)
    data, train, validation = _load_data(config)
    run_dir = config.resolved_output_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpoint.open(run_dir, fingerprint=fingerprint(config, data.fingerprint if data else None))
    budget = Budget(config.budget, spent=ckpt.data.get("spent"))
    if ckpt.resumed:
        done = [s for s in STEP_ORDER if ckpt.is_done(s)]
        log(f"Resuming from {ckpt.path} (finished: {', '.join(done) or 'none'}).")
    stand_in = any(str(n).startswith("offline/") for n in names.values() if n)
    if stand_in:
        log("[yellow]Using an offline LM (a stand-in, not a model). "
            "Set ENGRAM_LM (and ENGRAM_REFLECTION_LM / ENGRAM_JUDGE_LM) for a real one.[/]")

    records: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"experiment": config.name, "lms": names, "run_dir": str(run_dir),
                               "stand_in": stand_in, "unavailable": {}, "resumed": []}
    if data is not None:
        summary.update(train=len(train), validation=len(validation), dataset_hash=data.fingerprint)
    functions = _step_functions()
    with tracker.run(run_id=ckpt.run_id, name=config.name,
                     tags={"engram.experiment": config.name, "engram.stand_in": str(stand_in)}) as run_id:
        if run_id and ckpt.run_id != run_id:
            ckpt.set_run_id(run_id)
        summary["run_id"] = run_id
        tracker.log_params(flatten(config.model_dump(mode="json", exclude={"sweep"})))
        ctx = StepContext(config=config, run_dir=run_dir, checkpoint=ckpt, budget=budget,
                          progress=None, dataset=data, train=train, validation=validation, log=log)
        failure: BaseException | None = None
        with Progress(enabled=progress, console=console) as bars:
            ctx.progress = bars
            for step in enabled_steps(config):
                record = _run_step(step, functions[step], ctx, lms, summary, log)
                records.append(record)
                if record["status"] in ("failed", "stopped"):
                    failure = record.pop("error")
                    break
        result = _finish(config, ctx, records, summary, tracker, run_id)
        if failure is not None:
            raise failure
    if print_summary:
        show(result.summary, console)
    return result


def _run_step(step: str, fn, ctx: StepContext, lms: dict[str, Any], summary: dict[str, Any],
              log: Callable[[str], None]) -> dict[str, Any]:
    ckpt = ctx.checkpoint
    if ckpt.is_done(step):
        saved = ckpt.output(step)
        ctx.outputs[step] = saved["output"]
        summary["resumed"].append(step)
        return {"step": step, "status": "resumed", **{k: saved[k] for k in ("metrics", "usage", "rounds")},
                "seconds": saved.get("seconds", 0.0), "note": saved.get("note", "")}
    started = time.perf_counter()
    before = dict(ctx.budget.to_dict())
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
    else:
        record.update(status="done", metrics=outcome.metrics, rounds=outcome.rounds, note=outcome.note,
                      artifacts=[str(p) for p in outcome.artifacts])
        ctx.outputs[step] = outcome.output
    spent = ctx.budget.to_dict()
    record["usage"] = {k: spent[k] - before.get(k, 0) for k in ("calls", "prompt_tokens",
                                                                 "completion_tokens", "cost")}
    record["seconds"] = time.perf_counter() - started
    if record["status"] == "done":
        ckpt.finish(step, {"output": ctx.outputs[step], "metrics": record["metrics"],
                           "usage": record["usage"], "rounds": record["rounds"],
                           "seconds": record["seconds"], "note": record["note"]})
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
    summary["calls_this_attempt"] = int(table.loc[table["status"] != "resumed", "calls"].sum())
    run_dir = ctx.run_dir
    csv_path, md_path = write_results(table, run_dir)
    rounds = next((r.get("rounds") for r in records if r["step"] == "prompt"), []) or []
    made = [plots.score_by_round(rounds, run_dir / "score_by_round.png"),
            plots.before_after(summary.get("score_before"), summary.get("score_after"),
                               run_dir / "before_after.png"),
            plots.cost_by_step(table, run_dir / "cost.png")]
    made = [p for p in made if p is not None]
    atomic_write_json(run_dir / "summary.json", summary)
    tracker.log_metrics({k: summary[k] for k in ("calls", "tokens", "cost", "score_before", "score_after",
                                                 "memories_written") if summary.get(k) is not None})
    for r in rounds:
        tracker.log_metrics({"round_score": r.get("score_after") or 0.0}, step=r["round"])
    tracker.log_artifacts([csv_path, md_path, run_dir / "summary.json", *made])
    for r in records:
        tracker.log_artifacts([Path(p) for p in r.get("artifacts", [])], artifact_path=r["step"])
    return RunResult(summary=summary, table=table, run_dir=run_dir, run_id=run_id, plots=made)


def _headline(records: list[dict[str, Any]], outputs: dict[str, Any]) -> dict[str, Any]:
    """The figures the summary leads with, from the steps that ran."""
    out: dict[str, Any] = {}
    by_step = {r["step"]: r for r in records}
    if "memory" in by_step and by_step["memory"]["status"] in ("done", "resumed"):
        out["memories_written"] = by_step["memory"]["metrics"].get("memories_written")
    if "prompt" in by_step and by_step["prompt"]["status"] in ("done", "resumed"):
        metrics = by_step["prompt"]["metrics"]
        out.update(score_before=metrics.get("score_before"), score_after=metrics.get("score_after"),
                   accepted=metrics.get("accepted"))
    if outputs.get("registry"):
        out["versions"] = outputs["registry"].get("summary")
    if outputs.get("export"):
        out["exported"] = [Path(f).name for f in outputs["export"].get("files", [])]
        out["export_dir"] = outputs["export"].get("dir")
    if outputs.get("compile"):
        out["judge_agreement"] = outputs["compile"].get("agreement")
    if outputs.get("retrieval"):
        out["recall"] = outputs["retrieval"].get("headline")
    return out
