"""``engram memory compact NAMESPACE``: compaction from the command line.

    engram memory compact memories/u1                       # the configured store and LM
    engram memory compact memories/u1 --cap 200 --store .engram/chroma --json
    ENGRAM_LM=offline/compaction engram memory compact memories/u1     # the offline stand-in

NAMESPACE is the namespace's parts joined by ``/`` (or a JSON list). The command loads
only typer and rich at import; the store and DSPy load when it runs. Every change is a
version: the JSON report's ``versions`` map each key to the version to restore.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engram.errors import EngramError, NamespaceError, ValidationError

if TYPE_CHECKING:
    from engram.store import MemoryStore


def parse_namespace(text: str) -> tuple[str, ...]:
    """``"memories/u1"`` or ``'["memories", "u1"]'`` (for parts that contain "/") ->
    ``("memories", "u1")``, checked like any namespace. Used by every ``engram memory`` command.

    >>> parse_namespace("memories/u1")
    ('memories', 'u1')
    """
    from engram.store import validate_namespace

    text = text.strip()
    if text.startswith("["):
        try:
            parts = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"namespace {text!r} is not a JSON list ({err}); write e.g. memories/u1.") from None
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
            raise ValidationError(f"namespace {text!r} must be a list of non-empty strings, e.g. [\"memories\", \"u1\"].")
    else:
        parts = text.strip("/").split("/")
        if not text.strip("/ ") or any(not p.strip() for p in parts):
            raise NamespaceError(f"namespace {text!r} has an empty part; write parts joined by '/', e.g. memories/u1.")
    for i, part in enumerate(parts):
        if "{" in part or "}" in part:  # the store's own message is about filling templates in Python
            above = "/".join(parts[:i])
            listing = f"`engram memory ls {above}`" if above else "`engram memory ls`"
            raise NamespaceError(
                f"namespace part {part!r} of {text!r} is a template field (or has a brace): a command takes "
                f"a namespace as stored, with the value in its place (e.g. memories/u1); {listing} lists "
                "the namespaces there.")
    return validate_namespace(tuple(parts))


@contextmanager
def open_store(path: Path | None, *, create: bool = False) -> Iterator[MemoryStore]:
    """The store at ``path`` (or the configured one), closed after the command. Used by every
    ``engram memory`` command.

    Reading commands refuse a directory that does not exist rather than create an empty store.
    A command that creates the store and then fails (an import of a bad file) removes it again,
    so a failed command leaves nothing behind.
    """
    from engram.store import MemoryStore

    # the outermost directory this command creates (the store's, or a parent such as .engram)
    created = _configured_directory(path) if create else None
    if created is not None and created.exists():
        created = None
    while created is not None and not created.parent.exists():
        created = created.parent
    target = store_directory(path, create=create)  # refused here with CLI advice, not the library's
    store = MemoryStore.persistent(target) if path is not None else MemoryStore.from_settings()
    try:
        yield store
    except BaseException:
        store.close()
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    else:
        store.close()


def _configured_directory(path: Path | None) -> Path | None:
    """``path``, else the configured store directory (None: a Chroma server)."""
    from engram.config import get_settings

    settings = get_settings()
    return path if path is not None else (None if settings.chroma_url else Path(settings.store_path))


def store_directory(path: Path | None, *, create: bool) -> Path | None:
    """The store directory a command opens (None: a Chroma server), refused with CLI advice
    when it is a file, missing (unless ``create``) or cannot be created."""
    target = _configured_directory(path)
    if target is None:
        return None
    where = "--store PATH (a store directory) or set ENGRAM_HOME / ENGRAM_CHROMA_URL"
    if target.exists() and not target.is_dir():
        raise ValidationError(f"{target} is a file, not a memory store directory; pass {where}.")
    if not target.exists():
        if not create:
            raise EngramError(f"no memory store at {target}; pass {where}.")
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValidationError(f"cannot create the memory store directory {target} "
                                  f"({err.strerror or err}); pass {where} to a writable place.") from None
    return target


def compact_command(
    namespace: Annotated[str, typer.Argument(help="The namespace, parts joined by '/' (e.g. memories/u1).")],
    cap: Annotated[int | None, typer.Option("--cap", help="Keep at most N memories (evict the least "
                                                          "recently stated).")] = None,
    store_path: Annotated[Path | None, typer.Option("--store", help="A persistent store directory "
                                                                     "(default: the configured store).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Memories per LM call.")] = 40,
    lm: Annotated[str | None, typer.Option("--lm", help="The LM (default: ENGRAM_LM).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Merge duplicate memories and resolve contradictions in NAMESPACE (one LM call per batch)."""
    from rich.console import Console

    errors = Console(stderr=True, soft_wrap=True)
    try:
        report = _run(parse_namespace(namespace), cap, store_path, batch_size, lm)
    except EngramError as err:
        errors.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    typer.echo(f"{'/'.join(report.namespace)}: {report.before} -> {report.after} memories; "
               f"{sum(len(v) for v in report.merged.values())} merged into {len(report.merged)}, "
               f"{len(report.deleted)} deleted as contradicted, {len(report.updated)} updated, "
               f"{len(report.evicted)} evicted; {report.lm_calls} LM calls in {report.rounds} round(s).")
    for target, sources in report.merged.items():
        typer.echo(f"  merged {', '.join(sources)} -> {target}")
    for line in report.refused:
        typer.echo(f"  refused: {line}")


def _run(ns: tuple[str, ...], cap: int | None, store_path: Path | None, batch_size: int, lm: str | None):
    from engram.modules._manager import MemoryManager

    with open_store(store_path) as store:
        if ns not in store.list_namespaces(ns, include_internal=True):  # the library advises Python
            from engram.errors import NotFoundError

            listing = "engram memory ls" + (f" --store {store_path}" if store_path is not None else "")
            raise NotFoundError(f"namespace {'/'.join(ns)} holds no memories in this store; check it, or "
                                f"list the namespaces with `{listing}`.")
        return MemoryManager(store, ns, lm=lm).compact(ns, cap=cap, batch_size=batch_size)


__all__ = ["compact_command", "open_store", "parse_namespace", "store_directory"]
