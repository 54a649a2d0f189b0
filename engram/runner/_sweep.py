"""``run_sweep(config, workers=N)``: an Optuna multi-objective study over a config's search space.

Objectives: the held-out score of the optimized prompt (maximize) and the optimization
cost (minimize). The study lives in shared storage (a journal file under the output
directory by default, or ``sweep.storage`` / ``--storage``: a PostgreSQL URL works), so
``workers > 1`` runs N processes on the same study and a re-run continues it: the trial
budget counts finished trials. Each trial is an MLflow run nested under the sweep's run.
At the end the Pareto front is printed as a table and plotted::

    result = run_sweep(load_config("experiments/sweep.yaml"), workers=2)
    result.pareto            # DataFrame: trial, score, cost, params..., template
    result.pick(max_cost=20_000)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError, EngramError
from engram.runner._config import ExperimentConfig, load_config
from engram.runner._storage import open_storage, storage_url
from engram.runner._sweep_report import SweepResult, report_sweep
from engram.runner._tracking import RunTracker, child_env

DIRECTIONS = ["maximize", "minimize"]


def _study(config: ExperimentConfig, url: str, *, worker: int = 0) -> Any:  # an optuna.Study
    import optuna

    sweep = config.required_sweep()
    sampler = optuna.samplers.TPESampler(seed=sweep.seed + worker, n_startup_trials=4)
    return optuna.create_study(study_name=sweep.study_name or config.name, storage=open_storage(url),
                               directions=DIRECTIONS, sampler=sampler, load_if_exists=True)


def _finished(study) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class _FailureGuard:
    """Stop a worker after ``limit`` failed trials: a broken setup (no LM, a bad setting) would
    otherwise fail trial after trial forever, since failed trials do not count toward the total."""

    def __init__(self, limit: int = 3):
        self.limit = limit
        self.failures: list[str] = []

    def __call__(self, study: Any, trial: Any) -> None:
        import optuna

        if trial.state == optuna.trial.TrialState.FAIL:
            self.failures.append(str(trial.user_attrs.get("error", "unknown error")))
            if len(self.failures) >= self.limit:
                study.stop()


def work(config: ExperimentConfig, url: str, *, total: int, worker: int = 0,
         parent_run_id: str | None = None) -> None:
    """One worker: run trials on the shared study until it holds ``total`` finished trials."""
    import optuna

    from engram.runner._trial import TrialObjective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _study(config, url, worker=worker)
    # Each worker signs in on the study, so who shared it is visible afterwards.
    study.set_user_attr(f"worker-{worker}", {"pid": os.getpid(), "host": socket.gethostname()})
    if _finished(study) >= total:
        return
    objective = TrialObjective(config, parent_run_id=parent_run_id)
    stop = optuna.study.MaxTrialsCallback(total, states=(optuna.trial.TrialState.COMPLETE,
                                                          optuna.trial.TrialState.PRUNED))
    guard = _FailureGuard()
    # catch: a trial that fails (an LM error) is recorded as FAIL and the sweep goes on ...
    study.optimize(objective, callbacks=[stop, guard], catch=(EngramError,), gc_after_trial=False)
    if len(guard.failures) >= guard.limit:  # ... unless they keep failing
        raise EngramError(f"{len(guard.failures)} trials failed, the last with: {guard.failures[-1]}; "
                          f"fix the config or the LM settings and re-run (finished trials are kept)")


def _spawn(config_path: Path, url: str, total: int, workers: int,
           parent_run_id: str | None) -> list[subprocess.Popen[str]]:
    procs = []
    for index in range(workers):
        cmd = [sys.executable, "-m", "engram.runner._sweep", str(config_path), "--storage", url,
               "--total", str(total), "--worker", str(index)]
        if parent_run_id:
            cmd += ["--parent-run", parent_run_id]
        procs.append(subprocess.Popen(cmd, env=child_env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def _stderr(proc: subprocess.Popen[str]) -> str:
    """What an exited worker of :func:`_spawn` wrote to its (piped) stderr."""
    assert proc.stderr is not None  # _spawn pipes every worker's stderr
    return proc.stderr.read()


def run_sweep(config: ExperimentConfig | str | Path, *, workers: int = 1, trials: int | None = None,
              storage: str | None = None, progress: bool = True, console: Any = None,
              print_front: bool = True) -> SweepResult:
    """Run (or continue) the config's sweep; see the module docstring."""
    from rich.console import Console

    from engram.runner._progress import Progress

    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    sweep = config.required_sweep()
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    if workers > 1 and config.source_path is None:
        raise ConfigurationError("several workers need the config as a file: pass a path, not a loaded text")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = console or Console()
    total = trials or sweep.trials
    run_dir = config.resolved_output_dir
    tracker = RunTracker(config)
    tracker.preflight()
    url = storage_url(storage or sweep.storage, run_dir)
    study = _study(config, url)  # creates it (and checks the storage) before workers start
    run_dir.mkdir(parents=True, exist_ok=True)
    with tracker.run(name=f"sweep-{study.study_name}", tags={"engram.sweep": study.study_name}) as run_id:
        tracker.log_params({"sweep.storage": url.split("@")[-1], "sweep.trials": total, "sweep.workers": workers})
        with Progress(enabled=progress, console=console) as bars:
            task = bars.task(f"sweep ({workers} worker{'s' if workers > 1 else ''})", total=total,
                             completed=min(_finished(study), total))
            if workers == 1:
                work(config, url, total=total, parent_run_id=run_id)
            else:
                assert config.source_path is not None  # several workers need a file: checked above
                procs = _spawn(config.source_path, url, total, workers, run_id)
                while any(p.poll() is None for p in procs):
                    time.sleep(0.5)
                    bars.advance(task, min(_finished(study), total) - _completed(bars, task))
                failed = [(p.returncode, _stderr(p)) for p in procs if p.returncode]
                if failed:
                    code, err = failed[0]
                    last = err.strip().splitlines()[-1] if err.strip() else f"exit status {code}"
                    raise EngramError(f"a sweep worker failed: {last}")
            bars.finish(task)
        return report_sweep(config, _study(config, url), url, run_dir, tracker, run_id, console,
                            show=print_front)


def _completed(bars: Any, task: Any) -> int:
    rich = getattr(bars, "_rich", None)
    if rich is None or task is None:
        return 0
    return int(next((t.completed for t in rich.tasks if t.id == task), 0))


def main(argv: list[str] | None = None) -> None:
    """Worker entry point: ``python -m engram.runner._sweep CONFIG --storage URL --total N``."""
    import argparse

    parser = argparse.ArgumentParser(description="engram sweep worker (started by `engram sweep --workers N`)")
    parser.add_argument("config", type=Path)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--parent-run", default=None)
    args = parser.parse_args(argv)
    # `python -m engram.runner._sweep` has imported the engram package first, which sets
    # LITELLM_LOCAL_MODEL_COST_MAP before litellm loads.
    config = load_config(args.config)
    try:
        work(config, args.storage, total=args.total, worker=args.worker, parent_run_id=args.parent_run)
    except EngramError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
