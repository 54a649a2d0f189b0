"""``engram run`` and ``engram sweep``: typer command functions (mounted by :mod:`engram.cli`).

Exported as ``engram.runner.run_command`` / ``sweep_command``:

.. code-block:: bash

    engram run experiments/quickstart.yaml
    engram run experiments/quickstart.yaml --fresh          # ignore the checkpoint
    engram run big.yaml --shard 0/2 & engram run big.yaml --shard 1/2   # memory step over 2 processes
    engram run big.yaml --shard 0/2 --shard-by load & engram run big.yaml --shard 1/2 --shard-by load
    engram run other.yaml --force       # same name: as another config's run: set that run aside
    engram sweep experiments/sweep.yaml --workers 2
    engram sweep experiments/sweep.yaml --storage postgresql://optuna@127.0.0.1:5432/optuna

Errors print one line (``error: ...``) and exit with status 1. Light at import: the
run itself loads mlflow, optuna and chromadb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML), e.g. experiments/quickstart.yaml.",
                                           show_default=False)]


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def run_command(
    config: ConfigArg,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over: set the checkpoint aside.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even if another config with the same name "
                                                        "left its run in the output directory (it is set aside).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="i/n: run only the memory step, on shard i of n of "
                                                              "the namespaces (n processes sharing ENGRAM_CHROMA_URL); "
                                                              "then run once without --shard.")] = None,
    shard_by: Annotated[str | None, typer.Option(
        "--shard-by", help="With --shard: 'hash' (default; by namespace alone, right for any data, uneven) or "
                           "'load' (balanced by trajectory count; every shard must load the same dataset: each "
                           "prints its plan's fingerprint, and they must match).")] = None,
) -> None:
    """Run an experiment config as one MLflow run (resumes from its checkpoint if interrupted)."""
    from engram._cli_errors import error_line, quiet_library_logs

    quiet_library_logs()

    try:
        from engram.errors import ValidationError
        from engram.runner._checkpoint import CHECKPOINT_FILE
        from engram.runner._config import load_config, parse_shard
        from engram.runner._run import run_experiment

        cfg = load_config(config)
        if shard is not None:
            cfg = cfg.for_shard(*parse_shard(shard), by=shard_by)
        elif shard_by is not None:
            raise ValidationError("--shard-by chooses how --shard i/n splits the namespaces; pass --shard too "
                              "(or drop --shard-by).")
        if fresh:
            path = cfg.resolved_output_dir / CHECKPOINT_FILE
            if path.exists():
                path.rename(path.with_name(CHECKPOINT_FILE + ".discarded"))
        result = run_experiment(cfg, progress=not quiet, force=force or fresh)
    except Exception as err:
        line = error_line(err)
        if line is None:
            raise
        raise _fail(line) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; finished work is checkpointed, run the same command again to continue") from None
    bad = {step: status for step, status in result.summary.get("steps", {}).items() if status == "unavailable"}
    if bad:
        raise _fail(f"step(s) unavailable: {', '.join(bad)} (see the summary above)")


def sweep_command(
    config: ConfigArg,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes on one study.")] = 1,
    trials: Annotated[int | None, typer.Option("--trials", "-n", min=1, help="Total trials (default: the config's).")] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage: a database URL (postgresql://...) or a .journal file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run an Optuna sweep (held-out score up, cost down); prints the Pareto front and saves a plot."""
    from engram._cli_errors import error_line, quiet_library_logs

    quiet_library_logs()

    try:
        from engram.runner._sweep import run_sweep

        result = run_sweep(config, workers=workers, trials=trials, storage=storage, progress=not quiet)
    except Exception as err:
        line = error_line(err)
        if line is None:
            raise
        raise _fail(line) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; finished trials are in the study, run the same command again to continue") from None
    if result.plot is not None:
        typer.echo(f"Pareto plot: {result.plot}")
