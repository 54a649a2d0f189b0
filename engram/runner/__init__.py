"""Experiments: configs (YAML), batch runs, Optuna sweeps and their reports.

    from engram.runner import load_config, run_experiment, run_sweep
    result = run_experiment(load_config("experiments/quickstart.yaml"))
    sweep = run_sweep(load_config("experiments/sweep.yaml"), workers=2)

The command line is ``engram run CONFIG`` and ``engram sweep CONFIG --workers N``.
A run directory belongs to one config: another config with the same ``name:`` is refused
(:class:`CheckpointError`, naming the first) unless ``run_experiment(..., force=True)`` /
``engram run --force``.
Heavy dependencies (mlflow, optuna, chromadb) load when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports

_LAZY = {
    "ExperimentConfig": "engram.runner._config",
    "load_config": "engram.runner._config",
    "loads_config": "engram.runner._config",
    "ConfigError": "engram.runner._yaml_source",
    "CheckpointError": "engram.runner._checkpoint",
    "run_experiment": "engram.runner._run",
    "RunResult": "engram.runner._run",
    "run_sweep": "engram.runner._sweep",
    "SweepResult": "engram.runner._sweep_report",
    "run_command": "engram.runner._cli",
    "sweep_command": "engram.runner._cli",
}


__all__ = list(_LAZY)

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.runner._checkpoint import CheckpointError as CheckpointError
    from engram.runner._cli import run_command as run_command, sweep_command as sweep_command
    from engram.runner._config import (
        ExperimentConfig as ExperimentConfig,
        load_config as load_config,
        loads_config as loads_config,
    )
    from engram.runner._run import RunResult as RunResult, run_experiment as run_experiment
    from engram.runner._sweep import run_sweep as run_sweep
    from engram.runner._sweep_report import SweepResult as SweepResult
    from engram.runner._yaml_source import ConfigError as ConfigError
