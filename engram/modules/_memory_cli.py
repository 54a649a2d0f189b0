"""``engram memory``: look into a memory store, export or import it, erase from it.

    engram memory ls                              # namespaces with their memory counts
    engram memory ls memories/u1 --json
    engram memory show memories/u1 diet           # the current version of one memory
    engram memory history memories/u1 diet        # every version, oldest first
    engram memory export backup.jsonl --namespace memories/u1 --namespace notes
    engram memory import backup.parquet --on-conflict skip
    engram memory purge memories/u1 --yes         # erase a namespace for good (or one key)

Namespaces are written as their parts joined by ``/`` (``memories/u1`` is
``("memories", "u1")``). Every command takes ``--store PATH`` (a persistent store
directory; default: the configured store, ``MemoryStore.from_settings()``) and ``--json``.
Errors print one line, ``error: ...``, and exit with status 1. Only typer and rich load
with this module; chromadb loads inside the commands.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engram.errors import EngramError
from engram.modules._compaction_cli import compact_command, open_store, parse_namespace

if TYPE_CHECKING:
    from engram.store import MemoryRecord

app = typer.Typer(help="List, show, export, import and erase the memories of a store.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
memory_app = app  # the public name `engram.cli` mounts as `engram memory`
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
_F = TypeVar("_F", bound=Callable[..., Any])

StoreOption = Annotated[Path | None, typer.Option(
    "--store", help="A persistent store directory (default: the configured store, "
                    "ENGRAM_CHROMA_URL or $ENGRAM_HOME/chroma).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_CELL = 80


def _one_line_errors(command: _F) -> _F:
    """Engram errors and file errors (``PATH: reason``) become ``error: <message>`` on stderr
    and exit status 1."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as err:
            from engram._cli_errors import error_line

            line = error_line(err)
            if line is None:
                raise
            _err.print(f"[bold red]error:[/] {escape(' '.join(line.split()))}")
            raise typer.Exit(1) from None
    return wrapper  # type: ignore[return-value]


def _shown(content: Any, width: int = _CELL) -> str:
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split())
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def _record_json(record: MemoryRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude={"score"})
    data["provenance"] = [p.model_dump(exclude_none=True) for p in record.provenance]
    data["path"] = "/".join(record.namespace)
    return data


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("ls")
@_one_line_errors
def ls(prefix: Annotated[str | None, typer.Argument(help="Only namespaces under this one, e.g. memories/u1.")] = None,
       keys: Annotated[bool, typer.Option("--keys", help="List the memories themselves (key, version, "
                                                             "content) instead of counting them.")] = False,
       internal: Annotated[bool, typer.Option("--internal", help="Include engram's bookkeeping namespaces.")] = False,
       store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Namespaces (under PREFIX) with how many live and deleted memories each holds."""
    pre = parse_namespace(prefix) if prefix else None
    if keys:
        _ls_keys(pre, internal, store, as_json)
        return
    with open_store(store) as opened:
        found = opened.list_namespaces(pre, include_internal=internal, limit=1_000_000)
        rows = [{"namespace": list(ns), "path": "/".join(ns), "memories": opened.count(ns),
                 "deleted": opened.count(ns, include_deleted=True) - opened.count(ns)} for ns in found]
    if as_json:
        _echo_json(rows)
        return
    if not rows:  # an empty table says less than this line
        _out.print("no memories" + (f" under {prefix}" if prefix else ""))
        return
    table = Table(title=f"namespaces under {escape(prefix)}" if prefix else "namespaces")
    table.add_column("namespace")
    table.add_column("memories", justify="right")
    table.add_column("deleted", justify="right")
    for row in rows:
        table.add_row(escape(str(row["path"])), str(row["memories"]), str(row["deleted"]))
    _out.print(table)


def _ls_keys(prefix: tuple[str, ...] | None, internal: bool, store: Path | None, as_json: bool) -> None:
    with open_store(store) as opened:
        frame = opened.to_frame(prefix, include_internal=internal)
    if as_json:
        _echo_json([{"path": r.path, "key": r.key, "version": int(r.version), "kind": r.kind,
                     "content": r.content} for r in frame.itertuples()])
        return
    table = Table(title="memories")
    for name in ("namespace", "key", "version", "content"):
        table.add_column(name, justify="right" if name == "version" else "left")
    for r in frame.itertuples():
        table.add_row(escape(r.path), escape(r.key), str(r.version), _shown(r.content))
    _out.print(table)


@app.command("show")
@_one_line_errors
def show(namespace: Annotated[str, typer.Argument(help="The namespace, e.g. memories/u1.")],
         key: Annotated[str, typer.Argument(help="The memory's key.")],
         store: StoreOption = None, as_json: JsonOption = False) -> None:
    """The current version of one memory (a deleted one is shown as deleted)."""
    ns = parse_namespace(namespace)
    with open_store(store) as opened:
        record = opened.get(ns, key, include_deleted=True)
    if record is None:
        raise EngramError(f"no memory {key!r} in {namespace}; list its keys with "
                          f"`engram memory ls {namespace} --keys`.")
    if as_json:
        _echo_json(_record_json(record))
        return
    table = Table(title=f"{escape(namespace)} {escape(key)}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in _record_json(record).items():
        if name in {"namespace", "path", "id"}:
            continue
        table.add_row(name, _shown(value, 400) if not isinstance(value, str) else escape(value))
    _out.print(table)


@app.command("history")
@_one_line_errors
def history(namespace: Annotated[str, typer.Argument(help="The namespace, e.g. memories/u1.")],
            key: Annotated[str, typer.Argument(help="The memory's key.")],
            store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Every stored version of one memory, oldest first (the last is current)."""
    ns = parse_namespace(namespace)
    with open_store(store) as opened:
        versions = opened.history(ns, key)
    if not versions:
        raise EngramError(f"no memory {key!r} in {namespace} (never stored, or purged).")
    if as_json:
        _echo_json([_record_json(r) for r in versions])
        return
    table = Table(title=f"history of {escape(namespace)} {escape(key)}")
    for name, justify in (("version", "right"), ("updated", "left"), ("deleted", "left"),
                          ("kind", "left"), ("content", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in versions:
        table.add_row(str(r.version), r.updated_at.isoformat(timespec="seconds"), "yes" if r.deleted else "",
                      escape(r.kind), _shown(r.content))
    _out.print(table)


@app.command("export")
@_one_line_errors
def export(path: Annotated[Path, typer.Argument(help="The file to write: *.jsonl or *.parquet.")],
           namespace: Annotated[list[str] | None, typer.Option(
               "--namespace", "-n", help="Only this namespace and those under it (repeatable).")] = None,
           force: Annotated[bool, typer.Option("--force", help="Overwrite PATH if it exists.")] = False,
           store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Write every version of every memory (with provenance and vectors) to PATH."""
    if path.exists() and not force:
        raise EngramError(f"{path} exists; pass --force to overwrite it.")
    wanted = [parse_namespace(n) for n in namespace] if namespace else None
    with open_store(store) as opened:
        report = opened.export(path, wanted)
    if as_json:
        _echo_json({"path": str(report.path), "namespaces": [list(ns) for ns in report.namespaces],
                    "memories": report.memories, "versions": report.versions})
        return
    _out.print(f"exported {report.memories} memories ({report.versions} versions) from "
               f"{len(report.namespaces)} namespaces to {escape(str(path))}")


@app.command("import")
@_one_line_errors
def import_(path: Annotated[Path, typer.Argument(help="A file written by `engram memory export`.")],
            on_conflict: Annotated[str, typer.Option(
                "--on-conflict", help="For a key the store already holds: error (import nothing), "
                                      "skip (keep the store's), replace (take the file's).")] = "error",
            store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Add the memories of an export file, with their versions and history. Writes nothing if the file is bad."""
    with open_store(store, create=True) as opened:
        report = opened.import_(path, on_conflict=on_conflict)
    if as_json:
        _echo_json({"namespaces": [list(ns) for ns in report.namespaces], "memories": report.memories,
                    "versions": report.versions, "skipped": [["/".join(ns), k] for ns, k in report.skipped],
                    "replaced": [["/".join(ns), k] for ns, k in report.replaced],
                    "reembedded": report.reembedded})
        return
    line = f"imported {report.memories} memories ({report.versions} versions) into {len(report.namespaces)} namespaces"
    extras = [f"{len(report.skipped)} skipped", f"{len(report.replaced)} replaced"] if on_conflict != "error" else []
    if report.reembedded:
        extras.append(f"{report.reembedded} texts re-embedded (the export used another embedder)")
    _out.print(line + (f"; {', '.join(extras)}" if extras else ""))


@app.command("purge")
@_one_line_errors
def purge(namespace: Annotated[str, typer.Argument(help="The namespace to erase, e.g. memories/u1.")],
          key: Annotated[str | None, typer.Argument(help="Only this memory, with its history.")] = None,
          yes: Annotated[bool, typer.Option("--yes", help="Erase without asking (for scripts).")] = False,
          store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Erase for good: every memory of NAMESPACE with its history and ledger, or one KEY with its
    history. Namespaces under it are kept. There is no undo: `engram memory export` first to keep a copy."""
    ns = parse_namespace(namespace)
    what = f"memory {key!r} in {namespace}" if key else f"every memory in {namespace}"
    if not yes and not typer.confirm(f"Erase {what}, with its history, for good?", default=False):
        _err.print("nothing erased.")
        raise typer.Exit(1)
    with open_store(store) as opened:
        removed = opened.purge(ns, key)
    if key is not None and not removed:
        raise EngramError(f"no memory {key!r} in {namespace} (never stored, or purged); list its keys "
                          f"with `engram memory ls {namespace} --keys`.")
    if as_json:
        _echo_json({"namespace": list(ns), "key": key, "memories": removed})
        return
    _out.print(f"erased {removed} memor{'y' if removed == 1 else 'ies'} from {escape(namespace)}"
               + ("" if removed or key else " (it held none)"))


# Commands defined beside their feature in engram.modules register on `app` here, one line each;
# keep this module free of their logic.
app.command("compact")(compact_command)


__all__ = ["memory_app", "open_store", "parse_namespace"]
