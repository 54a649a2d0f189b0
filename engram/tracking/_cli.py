"""``engram prompts``: list, show, history, diff, register, promote, export and load prompts.

    engram prompts list
    engram prompts register support prompt.txt -m "first version" --tag owner=ana
    engram prompts show support@production
    engram prompts history support
    engram prompts diff support/1 support@production
    engram prompts promote support 2 production
    engram prompts export support@production --format yaml -o support.yaml
    engram prompts load support@production          # through the production loader (cache, fallback)
    engram prompts rollback support                 # @production back to the version before
    engram prompts alias-delete support staging
    engram prompts canary start support 4 --fraction 0.2 --experiment support-traffic
    engram prompts canary status support
    engram prompts compare support --auto           # promote, roll back, or wait for more traffic
    engram prompts canary stop support

Every command takes ``--tracking-uri`` (default: ENGRAM_TRACKING_URI, else the SQLite file
under ENGRAM_HOME). Errors print one line, ``error: ...``, and exit with status 1.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engram._cli_errors import quiet_library_logs


app = typer.Typer(help="Register, promote, compare and export prompt versions (MLflow prompt registry).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
prompts_app = app  # the public name `engram.cli` mounts as `engram prompts`
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

UriOption = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI "
                                                  "(default: ENGRAM_TRACKING_URI or .engram/mlflow.db).")]


def _errors_as_one_line(command):
    """Turn engram errors and file errors (``PATH: reason``) into ``error: <message>`` on stderr
    and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        quiet_library_logs()
        try:
            return command(*args, **kwargs)
        except Exception as err:
            from engram._cli_errors import error_line

            line = error_line(err)
            if line is None:
                raise
            _err.print(f"[bold red]error:[/] {' '.join(line.split())}", markup=True)
            raise typer.Exit(1) from None
    return wrapper


def _registry(uri: str | None, *, reading: bool = False):
    """The registry at ``uri`` (or the configured one). ``reading``: a command that only reads
    refuses a SQLite registry that does not exist, instead of creating an empty database (and
    its directory) wherever it was run; that is usually the wrong directory or ENGRAM_HOME."""
    from engram.errors import NotFoundError
    from engram.tracking._backend import resolve_uri, sqlite_file
    from engram.tracking._registry import PromptRegistry

    path = sqlite_file(resolve_uri(uri, create_dir=False))
    if reading and path is not None and not Path(path).exists():
        raise NotFoundError(f"no prompt registry at {path} (nothing was registered there); run this where "
                            "you registered prompts, or pass --tracking-uri / set ENGRAM_HOME or "
                            "ENGRAM_TRACKING_URI. `engram prompts register` creates one.")
    return PromptRegistry(uri)


def _print_template(template) -> None:
    from engram.prompts import template_text

    # Plain print: templates contain [role] blocks and braces that rich would read as markup.
    typer.echo(template_text(template))


@app.command("list")
@_errors_as_one_line
def list_prompts(filter_: Annotated[str | None, typer.Option(
                     "--filter", help="MLflow search_prompts filter, e.g. \"name LIKE 'support%'\".")] = None,
                 tracking_uri: UriOption = None) -> None:
    """Registered prompts with their latest version and aliases."""
    registry = _registry(tracking_uri, reading=True)
    names = registry.list(filter=filter_)
    if not names:
        _out.print(f"no prompts registered in {registry.uri}")
        return
    table = Table("prompt", "latest", "aliases", "variables")
    for name in names:
        history = registry.history(name)
        aliases = ", ".join(f"@{a}={v.version}" for v in history for a in v.aliases)
        table.add_row(name, str(history[0].version), aliases or "-", ", ".join(history[0].variables) or "-")
    _out.print(table)


@app.command()
@_errors_as_one_line
def show(ref: Annotated[str, typer.Argument(help="name, name/3 or name@alias")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
         tracking_uri: UriOption = None) -> None:
    """One version: template, aliases, tags and commit message."""
    version = _registry(tracking_uri, reading=True).load(ref)
    if as_json:
        typer.echo(version.model_dump_json(indent=2))
        return
    aliases = " ".join(f"@{a}" for a in version.aliases)
    typer.echo(f"{version.name} version {version.version} {aliases}".rstrip())
    if version.commit_message:
        typer.echo(f"message: {version.commit_message}")
    for key, value in sorted(version.user_tags.items()):
        typer.echo(f"tag {key}: {value}")
    typer.echo("")
    _print_template(version.template)


@app.command()
@_errors_as_one_line
def history(name: str, tracking_uri: UriOption = None) -> None:
    """Every version of a prompt, newest first."""
    table = Table("version", "created", "aliases", "optimizer", "score", "message")
    for v in _registry(tracking_uri, reading=True).history(name):
        score = v.tags.get("score_after", "")
        if v.tags.get("score_before"):
            score = f"{v.tags['score_before']} -> {score}"
        table.add_row(str(v.version), v.created.strftime("%Y-%m-%d %H:%M") if v.created else "",
                      " ".join(f"@{a}" for a in v.aliases), v.tags.get("optimizer", ""), score,
                      (v.commit_message or "").splitlines()[0] if v.commit_message else "")
    _out.print(table)


@app.command()
@_errors_as_one_line
def diff(a: Annotated[str, typer.Argument(help="old: name/1 or name@alias")],
         b: Annotated[str, typer.Argument(help="new: name/2 or name@alias")],
         tracking_uri: UriOption = None) -> None:
    """Unified diff between two versions."""
    text = _registry(tracking_uri, reading=True).diff(a, b)
    typer.echo(text.rstrip("\n") if text else f"{a} and {b} have the same template")


@app.command()
@_errors_as_one_line
def register(name: str,
             source: Annotated[Path, typer.Argument(help="Template file: text, or a JSON / YAML export.")],
             message: Annotated[str | None, typer.Option("-m", "--message", help="Commit message.")] = None,
             tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable).")] = None,
             allow_variable_change: Annotated[bool, typer.Option(
                 "--allow-variable-change", help="Accept a template whose variables differ.")] = False,
             tracking_uri: UriOption = None) -> None:
    """Register a new version from a file."""
    from engram.errors import ValidationError
    from engram.tracking._export import load_export

    from engram._cli_errors import file_error, is_file_error

    if not source.exists():
        raise ValidationError(f"{source} does not exist; pass a template file.")
    try:
        template = (load_export(source) if source.suffix.lower() in {".json", ".yaml", ".yml"}
                    else source.read_text(encoding="utf-8"))
    except Exception as err:  # a directory, a binary file, broken YAML: name the file
        if not is_file_error(err):
            raise
        raise ValidationError(str(file_error(err, source))) from None
    tags = {}
    for item in tag or []:
        if "=" not in item:
            raise ValidationError(f"--tag {item!r} is not key=value.")
        key, value = item.split("=", 1)
        tags[key.strip()] = value.strip()
    version = _registry(tracking_uri).register(name, template, message, tags,
                                               allow_variable_change=allow_variable_change)
    typer.echo(f"registered {version.name} version {version.version}")


@app.command()
@_errors_as_one_line
def promote(name: str, version: int, alias: Annotated[str, typer.Argument(help="Alias to set.")] = "production",
            tracking_uri: UriOption = None) -> None:
    """Point an alias (default: production) at a version."""
    promoted = _registry(tracking_uri).promote(name, version, alias)
    typer.echo(f"{promoted.name}@{alias} -> version {promoted.version}")


_SUFFIX_HINT = ".json (json), .yaml or .yml (yaml), .txt (text), .py (python)"


def _check_output_suffix(output: Path, fmt: str | None) -> None:
    """Refuse a file name whose suffix says another format than the one written (or none known)."""
    from engram.errors import ValidationError
    from engram.tracking._export import format_for_path

    suffix = output.suffix.lower()
    if not suffix:
        return  # no suffix: the --format (default json) decides
    guessed = format_for_path(output)  # "json" also for a suffix it does not know
    implied = guessed if suffix == ".json" or guessed != "json" else None
    if fmt is None and implied is None:
        raise ValidationError(
            f"Cannot tell the export format from {output.name!r}: {suffix} is none of {_SUFFIX_HINT}. "
            f"Name the file with one of those suffixes, or pass --format json|yaml|text|openai|python.")
    if fmt is not None and implied is not None and fmt != implied and not (fmt == "openai" and implied == "json"):
        raise ValidationError(
            f"--format {fmt} would write {fmt} into {output.name!r}, whose suffix {suffix} means {implied}; "
            f"drop --format to write {implied}, or name the file for {fmt} ({_SUFFIX_HINT}; "
            "openai is JSON).")


@app.command()
@_errors_as_one_line
def export(ref: str,
           fmt: Annotated[str | None, typer.Option("--format", "-f", help="json, yaml, text, openai or python "
                                                      "(default: from -o's suffix, else json).")] = None,
           output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
           tracking_uri: UriOption = None) -> None:
    """Export a version (JSON / YAML exports double as the loader's fallback file)."""
    from engram.tracking._export import FORMATS, export_prompt, format_for_path

    from engram.errors import ValidationError

    if fmt is not None and fmt not in FORMATS:
        raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if output is not None:
        _check_output_suffix(output, fmt)
    fmt = fmt or (format_for_path(output) if output else "json")
    prompt = _registry(tracking_uri).load(ref).to_prompt()
    out = export_prompt(prompt, fmt)  # type: ignore[arg-type]
    text = out if isinstance(out, str) else json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text.rstrip("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {prompt.name} version {prompt.version} ({fmt}) to {output}")


@app.command()
@_errors_as_one_line
def load(ref: str,
         fallback_dir: Annotated[Path | None, typer.Option(help="Fallback directory "
                                                              "(default: <ENGRAM_HOME>/prompts).")] = None,
         tracking_uri: UriOption = None) -> None:
    """Load as production does: registry, else the fallback file; says which served it."""
    from engram.tracking._loader import load_prompt

    prompt = load_prompt(ref, tracking_uri=tracking_uri, fallback_dir=fallback_dir)
    typer.echo(f"{prompt.name} version {prompt.version} (from {prompt.metadata.get('source')})")
    _print_template(prompt.template)


@app.command()
@_errors_as_one_line
def rollback(name: str, alias: Annotated[str, typer.Option(help="The alias to move back.")] = "production",
             tracking_uri: UriOption = None) -> None:
    """Point an alias back at the version it pointed at before (recorded as an MLflow run)."""
    from engram.tracking._canary import record_decision

    registry = _registry(tracking_uri)
    before = registry.aliases(name).get(alias)
    restored = registry.rollback(name, alias)
    record_decision(None, "rollback", f"{name}@{alias}: v{before} -> v{restored.version}", registry.uri, name=name)
    typer.echo(f"{name}@{alias} -> version {restored.version} (was {before})")


@app.command("alias-delete")
@_errors_as_one_line
def alias_delete(name: str, alias: str, tracking_uri: UriOption = None) -> None:
    """Remove an alias from a prompt."""
    _registry(tracking_uri).delete_alias(name, alias)
    typer.echo(f"removed {name}@{alias}")


canary_app = typer.Typer(help="Serve a candidate version to a fraction of traffic (see `compare`).",
                         no_args_is_help=True, add_completion=False)
app.add_typer(canary_app, name="canary")


@canary_app.command("start")
@_errors_as_one_line
def canary_start(name: str, version: int,
                 fraction: Annotated[float, typer.Option(help="Share of keys served the candidate.")] = 0.1,
                 control: Annotated[str, typer.Option(help="The alias compared against.")] = "production",
                 experiment: Annotated[str, typer.Option(help="MLflow experiment of the app's traces.")] = "Default",
                 tracking_uri: UriOption = None) -> None:
    """Start a canary: alias `candidate` -> VERSION, served to FRACTION of keys by load_prompt(canary=...)."""
    from engram.tracking._canary import start_canary

    state = start_canary(name, version, fraction=fraction, control=control, experiment=experiment,
                         tracking_uri=tracking_uri)
    typer.echo(f"canary started: {state.candidate_ref} = v{state.candidate_version} for {state.fraction:.0%} of "
               f"keys, against {state.control_ref} = v{state.control_version}; serve it with "
               f"load_prompt('{state.control_ref}', canary='{state.candidate_ref}', fraction={state.fraction}, "
               "key=user_id)")


@canary_app.command("status")
@_errors_as_one_line
def canary_status_command(name: str, tracking_uri: UriOption = None) -> None:
    """The running canary of a prompt, if any."""
    from engram.tracking._canary import canary_status

    state = canary_status(name, tracking_uri=tracking_uri)
    if state is None:
        typer.echo(f"no canary of {name} is running")
        return
    typer.echo(json.dumps(state.model_dump(), indent=2))


@canary_app.command("stop")
@_errors_as_one_line
def canary_stop(name: str, tracking_uri: UriOption = None) -> None:
    """Stop the canary: every key gets the control version again."""
    from engram.tracking._canary import stop_canary

    state = stop_canary(name, tracking_uri=tracking_uri)
    typer.echo(f"canary of {name} v{state.candidate_version} stopped; {state.control_ref} serves everyone")


@app.command()
@_errors_as_one_line
def compare(name: str,
            auto: Annotated[bool, typer.Option("--auto", help="Promote, roll back or stop as the numbers say.")] = False,
            threshold: Annotated[float, typer.Option(help="Gain the lower bound must clear to promote.")] = 0.0,
            min_samples: Annotated[int, typer.Option(help="Users needed on both versions.")] = 10,
            budget: Annotated[int | None, typer.Option(help="Traces after which an open question "
                                                             "stops undecided.")] = None,
            experiment: Annotated[str | None, typer.Option(help="Experiment of the traces (default: the "
                                                                 "canary's).")] = None,
            feedback_name: Annotated[str | None, typer.Option(help="Assessment to score by.")] = None,
            tracking_uri: UriOption = None) -> None:
    """Compare the canary's candidate with the control on the traffic since it started."""
    from engram.tracking._canary import compare_canary

    report = compare_canary(name, auto=auto, threshold=threshold, min_samples=min_samples, budget=budget,
                            experiment=experiment, feedback_name=feedback_name, tracking_uri=tracking_uri)
    typer.echo(report.format())
