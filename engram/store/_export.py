"""Export and import: every version of every memory, to and from JSONL or Parquet.

An export holds a manifest (format, format version, engram version, the embedder's spec
and vector size, what was exported) and one row per stored version of each memory:
``namespace`` (list of parts), ``key``, the record's fields (``kind``, ``content``,
``text``, ``metadata``, ``created_at``, ``updated_at``, ``version``, ``provenance``,
``deleted``, ...), ``current`` (the live version) and ``vector`` (its embedding).
In JSONL the manifest is the first line (``{"manifest": {...}}``); in Parquet it is the
file's key-value metadata under ``engram.export`` and ``content`` / ``metadata`` /
``provenance`` are JSON text columns. Example::

    store.put(("memories", "u1"), "lang", "prefers Python")
    store.export("memories.jsonl")                      # or "memories.parquet"
    fresh = MemoryStore.in_memory()
    fresh.import_("memories.jsonl").versions            # 1
    fresh.get(("memories", "u1"), "lang").content       # 'prefers Python'

Import keeps versions, timestamps and histories as they were, so ``to_frame(history=True)``
of the source and of a fresh target are equal. It reuses the exported vectors when the
target store's embedder has the exported spec and size, and re-embeds every text otherwise.
The whole file is checked before anything is written: a bad file raises
:class:`~engram.errors.ValidationError` naming the line (JSONL) or row (Parquet) and the
problem, and leaves the store untouched. A key that already exists in the target is a
conflict: ``on_conflict="error"`` (default) refuses the import, ``"skip"`` keeps the
target's memory, ``"replace"`` swaps the target's memory and its history for the file's.
If a write fails midway, what this import wrote is removed and replaced memories come back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram._version import __version__
from engram.errors import ConflictError, ValidationError
from engram.store._codec import from_row, history_id, history_metadata, rows, to_metadata
from engram.store._collections import chroma_errors
from engram.store._export_file import (
    FORMAT,
    FORMAT_VERSION,
    check_groups,
    check_manifest,
    check_row,
    kind_of,
    read_export,
    write_export,
)
from engram.store._frame import StoredVersion, prefixes, record_fields, selected, versions
from engram.store._namespaces import NamespaceLike, namespace_key

if TYPE_CHECKING:
    from engram.store._collections import Collections
    from engram.store._embeddings import Embedder
    from engram.store._owner import DirectoryOwner

logger = logging.getLogger(__name__)
_CONFLICT = ("error", "skip", "replace")
_Key = tuple[tuple[str, ...], str]
#: One namespace an import touched: (namespace, keys written, history ids written, replaced versions).
_Done = tuple[tuple[str, ...], list[str], list[str], dict[str, list[StoredVersion]]]


@dataclass(frozen=True)
class ExportReport:
    """What :meth:`MemoryStore.export` wrote."""

    path: Path
    namespaces: list[tuple[str, ...]]
    memories: int            #: distinct (namespace, key) pairs
    versions: int            #: rows, one per stored version


@dataclass(frozen=True)
class ImportReport:
    """What :meth:`MemoryStore.import_` wrote."""

    namespaces: list[tuple[str, ...]]
    memories: int            #: memories written (new or replaced)
    versions: int            #: stored versions written
    skipped: list[_Key] = field(default_factory=list)    #: kept as they were (``on_conflict="skip"``)
    replaced: list[_Key] = field(default_factory=list)   #: swapped for the file's (``on_conflict="replace"``)
    reembedded: int = 0      #: texts embedded again because the embedder differs (0: vectors reused)


# -- writing ------------------------------------------------------------------------------------
def _row(v: StoredVersion) -> dict[str, Any]:
    fields = {k: (val.isoformat() if isinstance(val, datetime) else val)
              for k, val in record_fields(v.record).items()}
    return {"namespace": list(v.record.namespace), "key": v.record.id, **fields,
            "current": v.current, "vector": v.vector}


# -- the mixin ------------------------------------------------------------------------------
class ExportMixin:
    """``export`` and ``import_`` for :class:`~engram.store._store.MemoryStore` (module docstring)."""

    _cols: Collections
    _owner: DirectoryOwner | None
    max_content_chars: int

    if TYPE_CHECKING:  # provided by MemoryStore
        @property
        def embedder(self) -> Embedder: ...
        def _embed(self, texts: list[str]) -> list[list[float]]: ...
        def _batch_size(self) -> int: ...

    def export(self, path: str | Path, namespaces: NamespaceLike | Iterable[NamespaceLike] | None = None, *,
               include_internal: bool = False) -> ExportReport:
        """Write every version of every memory under ``namespaces`` to ``path`` (``.jsonl`` / ``.parquet``).

        ``namespaces``: None (all), one namespace tuple, or a list of namespaces / prefixes.
        Bookkeeping namespaces are left out unless ``include_internal``. The file appears
        whole or not at all. Example::

            store.put(("memories", "u1"), "lang", "prefers Python")
            store.export("backup.parquet", [("memories",)]).versions     # 1
        """
        target = Path(path)
        kind_of(target)
        chosen = selected(self._cols, prefixes(namespaces), include_internal)
        table: list[dict[str, Any]] = []
        for ns in chosen:
            table.extend(_row(v) for v in versions(self._cols, ns, history=True, vectors=True))
        dims = {len(r["vector"]) for r in table}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "engram_version": __version__,
            "embedder": self.embedder.spec, "dimension": dims.pop() if len(dims) == 1 else None,
            "exported_at": datetime.now(UTC).isoformat(),
            "namespaces": [list(ns) for ns in chosen], "versions": len(table),
        }
        write_export(target, manifest, table)
        memories = len({(tuple(r["namespace"]), r["key"]) for r in table})
        return ExportReport(target, chosen, memories, len(table))

    def import_(self, path: str | Path, *, on_conflict: str = "error") -> ImportReport:
        """Add the memories of an export file, with their versions, timestamps and history.

        ``on_conflict`` decides for a key the store already holds: ``"error"`` refuses the
        whole import, ``"skip"`` keeps the store's memory, ``"replace"`` swaps it (and its
        history) for the file's. Nothing is written unless the whole file is valid. Example::

            store.put(("memories", "u1"), "lang", "prefers Python")
            store.export("backup.jsonl")
            store.import_("backup.jsonl", on_conflict="skip").skipped   # [(('memories', 'u1'), 'lang')]
        """
        if on_conflict not in _CONFLICT:
            raise ValidationError(f"on_conflict must be one of {list(_CONFLICT)}, got {on_conflict!r}.")
        source = Path(path)
        manifest, raw = read_export(source)
        check_manifest(source, manifest)
        dim = manifest.get("dimension")
        dim = dim if isinstance(dim, int) and not isinstance(dim, bool) else None
        checked = []
        for where, item in raw:
            record, vector, current = check_row(where, item, dim, self.max_content_chars)
            checked.append((where, StoredVersion(record, vector, current)))
        groups = check_groups(checked)
        existing = self._existing(list(groups))
        if existing and on_conflict == "error":
            shown = ", ".join(f"{'/'.join(ns)} {key!r}" for ns, key in existing[:5])
            raise ConflictError(f"{len(existing)} memories of {source} already exist in this store ({shown}"
                                f"{', ...' if len(existing) > 5 else ''}); nothing was imported. Pass "
                                f"on_conflict='skip' to keep them or 'replace' to take the file's "
                                f"(engram memory import --on-conflict skip|replace).")
        skipped = existing if on_conflict == "skip" else []
        todo = {k: vs for k, vs in groups.items() if k not in set(skipped)}
        reembedded = self._vectors_for(manifest, [v for vs in todo.values() for v in vs])
        replaced = [k for k in existing if k in todo]
        self._import_write(todo, set(replaced))
        return ImportReport(sorted({ns for ns, _ in todo}), len(todo), sum(len(vs) for vs in todo.values()),
                            skipped, replaced, reembedded)

    def _existing(self, keys: list[_Key]) -> list[_Key]:
        """Which of ``keys`` the store holds (live, deleted, or only in history)."""
        by_ns: dict[tuple[str, ...], list[str]] = {}
        for ns, key in keys:
            by_ns.setdefault(ns, []).append(key)
        found: set[_Key] = set()
        for ns, names in by_ns.items():
            col = self._cols.get(ns)
            with chroma_errors(f"check which memories of {ns!r} exist"):
                if col is not None:
                    found.update((ns, k) for k in col.get(ids=names, include=[])["ids"])
                where: Any = {"$and": [{"_ns": namespace_key(ns)}, {"_key": {"$in": names}}]}
                metas = self._cols.history.get(where=where, include=["metadatas"])["metadatas"] or []
                found.update((ns, str(m.get("_key"))) for m in metas if m)
        return [k for k in keys if k in found]

    def _vectors_for(self, manifest: dict[str, Any], todo: list[StoredVersion]) -> int:
        """Fill in vectors: the file's when the embedder matches, else embed every text here."""
        if manifest.get("embedder") == self.embedder.spec and all(v.vector for v in todo):
            return 0
        texts = list(dict.fromkeys(v.record.text for v in todo))
        vectors = dict(zip(texts, self._embed(texts)))
        for v in todo:
            v.vector[:] = vectors[v.record.text]
        return len(texts)

    def _import_write(self, todo: dict[_Key, list[StoredVersion]], replace: set[_Key]) -> None:
        """Write every namespace; on failure undo what was written and put replaced memories back."""
        by_ns: dict[tuple[str, ...], list[_Key]] = {}
        for k in todo:
            by_ns.setdefault(k[0], []).append(k)
        done: list[_Done] = []
        try:
            for ns, keys in sorted(by_ns.items()):
                with self._cols.lock(ns):
                    self._cols.touch(ns)
                    try:
                        col = self._cols.create(ns)
                        names = [k for _, k in keys]
                        saved = {k: versions_of(self._cols, ns, k) for _, k in keys if (ns, k) in replace}
                        entry: _Done = (ns, names, [], saved)
                        done.append(entry)
                        self._drop_keys(ns, col, list(saved))
                        hist = [v for k in keys for v in todo[k] if not v.current]
                        cur = [v for k in keys for v in todo[k] if v.current]
                        entry[2].extend(history_id(col.name, v.record.id, v.record.version) for v in hist)
                        self._put_rows(ns, col, hist, cur)
                    finally:
                        self._cols.touch(ns)
        except Exception:
            self._import_undo(done)
            raise
        if self._owner is not None:
            self._owner.note_writes(sum(len(vs) for vs in todo.values()))

    def _drop_keys(self, ns: tuple[str, ...], col: Any, keys: list[str]) -> None:
        if not keys:
            return
        with chroma_errors(f"remove the memories to replace in {ns!r}"):
            self._cols.history.delete(where={"$and": [{"_ns": namespace_key(ns)}, {"_key": {"$in": keys}}]})
            col.delete(ids=keys)

    def _put_rows(self, ns: tuple[str, ...], col: Any, hist: list[StoredVersion], cur: list[StoredVersion]) -> None:
        size = self._batch_size()
        for start in range(0, len(hist), size):
            chunk = hist[start : start + size]
            with chroma_errors(f"import the history of {len(chunk)} memories into {ns!r}"):
                self._cols.history.upsert(
                    ids=[history_id(col.name, v.record.id, v.record.version) for v in chunk],
                    embeddings=[v.vector for v in chunk], documents=[v.record.text for v in chunk],  # type: ignore[arg-type]
                    metadatas=[history_metadata(v.record) for v in chunk])
        for start in range(0, len(cur), size):
            chunk = cur[start : start + size]
            with chroma_errors(f"import {len(chunk)} memories into {ns!r}"):
                col.upsert(ids=[v.record.id for v in chunk], embeddings=[v.vector for v in chunk],  # type: ignore[arg-type]
                           documents=[v.record.text for v in chunk], metadatas=[to_metadata(v.record) for v in chunk])

    def _import_undo(self, done: list[_Done]) -> None:
        for ns, names, hist_ids, saved in reversed(done):
            try:
                col = self._cols.create(ns)
                col.delete(ids=names)
                if hist_ids:
                    self._cols.history.delete(ids=hist_ids)
                back = [v for vs in saved.values() for v in vs]
                self._put_rows(ns, col, [v for v in back if not v.current], [v for v in back if v.current])
                self._cols.touch(ns)
            except Exception as err:  # the original error is the one worth raising
                logger.warning("engram: could not fully undo a failed import into %s: %s", ns, err)


def versions_of(cols: Collections, ns: tuple[str, ...], key: str) -> list[StoredVersion]:
    """Every stored version of one key, with vectors (to put back if a replacing import fails)."""
    out: list[StoredVersion] = []
    col = cols.get(ns)
    include: Any = ["documents", "metadatas", "embeddings"]
    with chroma_errors(f"read {key!r} in {ns!r}"):
        if col is not None:
            out += [StoredVersion(from_row(ns, i, d, m), [float(x) for x in e], True)
                    for i, d, m, e in rows(col.get(ids=[key], include=include))]
        where: Any = {"$and": [{"_ns": namespace_key(ns)}, {"_key": key}]}
        out += [StoredVersion(from_row(ns, key, d, m), [float(x) for x in e], False)
                for _, d, m, e in rows(cols.history.get(where=where, include=include))]
    return out


__all__ = ["FORMAT", "FORMAT_VERSION", "ExportMixin", "ExportReport", "ImportReport"]
