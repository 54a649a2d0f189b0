"""The ``engram`` command.

    engram --version
    engram datasets validate datasets/support.jsonl
    engram datasets stats datasets/support.jsonl
    engram datasets convert in.jsonl out.parquet
    engram memory compact memories/u1 --cap 200
    engram datasets convert --from oasst ../shared/data/oasst_en_100_tree.jsonl datasets/oasst_feedback.jsonl

Other commands live beside the code they drive and are imported here from their package's
face: ``memory`` (:mod:`engram.modules`), ``prompts`` (:mod:`engram.tracking`), ``run`` and ``sweep`` (:mod:`engram.runner`).
Those modules import only typer and rich at load; mlflow, optuna, chromadb and dspy load
inside the commands, so ``engram --help`` stays fast. Errors print one clear line and exit
with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engram._cli_errors import FILE_ERRORS, file_error
from engram._version import __version__
from engram.errors import EngramError
from engram.modules import memory_app
from engram.runner import run_command, sweep_command
from engram.serve import keys_app, mcp, serve
from engram.tracking import prompts_app

app = typer.Typer(help="engram: long-term memory and feedback-optimized prompts for LLM agents.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
datasets_app = typer.Typer(help="Validate, summarize (stats) and convert trajectory datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(prompts_app, name="prompts")
app.add_typer(memory_app, name="memory")
app.command("run")(run_command)
app.command("sweep")(sweep_command)
app.command("serve")(serve)
app.command("mcp")(mcp)
app.add_typer(keys_app, name="keys")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

# What reading or writing a dataset may raise that is a message to print, not a bug.
_READ_WRITE_ERRORS: tuple[type[BaseException], ...] = (EngramError, *FILE_ERRORS)


def fail(message: str) -> typer.Exit:
    """Print ``error: <message>`` on one line to stderr; return the exit to raise."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _message(err: BaseException, path: Path | None = None) -> str:
    """An engram error's message, or a file error's ``PATH: reason``."""
    return file_error(err, path) or str(err)


def _version(value: bool) -> None:
    if value:
        console.print(f"engram {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")] = False) -> None:
    """engram: long-term memory and feedback-optimized prompts for LLM agents."""


def _load(path: Path, source: str = "engram"):
    from engram.trajectories import TrajectoryDataset

    if source == "oasst":
        from engram.loaders import load_oasst

        return load_oasst(path)
    if source != "engram":
        raise EngramError(f"unknown source format '{source}'; use 'engram' or 'oasst'")
    return TrajectoryDataset.load(path)


@datasets_app.command("validate")
def validate(paths: Annotated[list[Path], typer.Argument(help="Dataset files (JSONL, JSON, CSV, Parquet).")]) -> None:
    """Check dataset files; print one line per file, and the error's file, line and field."""
    bad = 0
    for path in paths:
        try:
            ds = _load(path)
        except _READ_WRITE_ERRORS as err:
            errors.print(f"[bold red]error:[/] {_message(err, path)}", highlight=False, soft_wrap=True)
            bad += 1
            continue
        if len(ds) == 0:  # a run on it would do nothing
            errors.print(f"[bold red]error:[/] {path}: no trajectories (the file is empty)",
                         highlight=False, soft_wrap=True)
            bad += 1
            continue
        console.print(f"ok: {path}: {len(ds)} trajectories", highlight=False)
    if bad:
        raise typer.Exit(1)


@datasets_app.command("stats")
def stats(path: Path, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Counts, feedback distribution and lengths of a dataset."""
    try:
        summary = _load(path).stats()
    except _READ_WRITE_ERRORS as err:
        raise fail(_message(err, path)) from None
    if as_json:
        import json

        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{path}", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)


@datasets_app.command("convert")
def convert(
    source: Path,
    target: Path,
    from_format: Annotated[str, typer.Option("--from", help="'engram' (any engram file) or 'oasst' trees.")] = "engram",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the target if it exists.")] = False,
) -> None:
    """Convert between JSONL, JSON, CSV and Parquet (by suffix). Writes nothing if the input is bad."""
    if target.exists() and not force:
        raise fail(f"{target} exists; pass --force to overwrite it")
    try:
        ds = _load(source, from_format)
    except _READ_WRITE_ERRORS as err:
        raise fail(_message(err, source)) from None
    try:
        ds.save(target)
    except _READ_WRITE_ERRORS as err:
        raise fail(_message(err, target)) from None
    console.print(f"wrote {len(ds)} trajectories to {target}", highlight=False)


def main() -> None:
    """Entry point of the ``engram`` console script."""
    from engram._cli_errors import error_line

    try:
        app()
    except Exception as err:
        line = error_line(err)
        if line is None:  # a bug: its traceback is what to report
            raise
        errors.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
