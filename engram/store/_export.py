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

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram._files import atomic_path
from engram._version import __version__
from engram.errors import ConflictError, EngramError, ValidationError
from engram.store._checks import check_key, check_kind, check_text
from engram.store._codec import history_id, history_metadata, rows, to_metadata
from engram.store._collections import chroma_errors
from engram.store._filters import normalize_metadata
from engram.store._frame import StoredVersion, prefixes, record_fields, selected, versions
from engram.store._namespaces import NamespaceLike, namespace_key, validate_namespace
from engram.store._record import MemoryRecord, check_size, coerce_content, coerce_provenance

if TYPE_CHECKING:
    from engram.store._collections import Collections
    from engram.store._embeddings import Embedder
    from engram.store._owner import DirectoryOwner

FORMAT = "engram.memory-export"
FORMAT_VERSION = 1
PARQUET_KEY = b"engram.export"
_JSON_COLUMNS = ("content", "metadata", "provenance")
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


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    raise ValidationError(f"{path}: unknown export format {suffix or '(no suffix)'!r}; "
                          f"name the file *.jsonl or *.parquet.")


# -- writing ------------------------------------------------------------------------------------
def _row(v: StoredVersion) -> dict[str, Any]:
    fields = {k: (val.isoformat() if isinstance(val, datetime) else val)
              for k, val in record_fields(v.record).items()}
    return {"namespace": list(v.record.namespace), "key": v.record.id, **fields,
            "current": v.current, "vector": v.vector}


def write_export(path: Path, manifest: dict[str, Any], table: list[dict[str, Any]]) -> None:
    """Write ``manifest`` and ``table`` to ``path`` atomically (format by suffix)."""
    kind = _kind_of(path)
    with atomic_path(path) as tmp:
        if kind == "jsonl":
            with open(tmp, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(item, ensure_ascii=False, allow_nan=False) + "\n"
                               for item in [{"manifest": manifest}, *table])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = [{k: (json.dumps(v, ensure_ascii=False) if k in _JSON_COLUMNS else v) for k, v in r.items()}
                for r in table]
        arrow = pa.Table.from_pylist(flat) if flat else pa.table({})
        arrow = arrow.replace_schema_metadata({PARQUET_KEY: json.dumps(manifest, ensure_ascii=False)})
        pq.write_table(arrow, tmp)


# -- reading and checking -------------------------------------------------------------------
#: Where a row came from, as ValidationError's ``source`` / ``line`` ("f.jsonl:12: ...", "f.parquet row 3: ...").
_Where = dict[str, Any]


def read_export(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    """(manifest, [(where, row)]): the file parsed, not yet checked."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such export file.")
    if _kind_of(path) == "jsonl":
        return _read_jsonl(path)
    return _read_parquet(path)


def _read_jsonl(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    manifest: dict[str, Any] | None = None
    out: list[tuple[_Where, dict[str, Any]]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValidationError(f"not UTF-8 text ({err.reason} at byte {err.start}).", source=str(path)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValidationError(f"not valid JSON: {err.msg} (column {err.colno}).",
                                  source=str(path), line=number) from None
        if not isinstance(item, dict):
            raise ValidationError(f"each line must be a JSON object, got {type(item).__name__}.",
                                  source=str(path), line=number)
        if manifest is None:
            if not isinstance(item.get("manifest"), dict):
                raise ValidationError("the first line must be the manifest {\"manifest\": {...}}; "
                                      "is this a file written by store.export()?", source=str(path), line=number)
            manifest = item["manifest"]
            continue
        out.append(({"source": str(path), "line": number}, item))
    if manifest is None:
        raise ValidationError("the file is empty; it has no manifest line.", source=str(path))
    return manifest, out


def _read_parquet(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError...
        raise ValidationError(f"not a readable Parquet file: {err}", source=str(path)) from None
    raw = (table.schema.metadata or {}).get(PARQUET_KEY)
    try:
        manifest = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        manifest = None
    if not isinstance(manifest, dict):
        raise ValidationError(f"the Parquet metadata has no valid {PARQUET_KEY.decode()!r} manifest; "
                              "is this a file written by store.export()?", source=str(path))
    out: list[tuple[_Where, dict[str, Any]]] = []
    for number, item in enumerate(table.to_pylist(), 1):
        where: _Where = {"source": f"{path} row {number}"}
        for col in _JSON_COLUMNS:
            if isinstance(item.get(col), str):
                try:
                    item[col] = json.loads(item[col])
                except json.JSONDecodeError as err:
                    raise ValidationError(f"not valid JSON: {err.msg}.", field=col, **where) from None
        out.append((where, item))
    return manifest, out


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"manifest format is {manifest.get('format')!r}, not {FORMAT!r}; "
                              "import reads files written by store.export().", source=str(path))
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ValidationError(f"format_version {version!r} is not one this engram ({__version__}) reads "
                              f"(1..{FORMAT_VERSION}); upgrade engram to import it.", source=str(path))


def check_row(where: _Where, item: dict[str, Any], dim: int | None,
              max_chars: int) -> tuple[MemoryRecord, list[float], bool]:
    """One row as (record, vector, current), or ValidationError naming the row and field."""
    def bad(message: str, name: str | None = None) -> ValidationError:
        return ValidationError(message, field=name, **where)

    body = dict(item)
    for name in ("namespace", "key", "version", "current", "content"):
        if name not in body:
            raise bad(f"missing {name!r}.", name)
    try:
        ns = validate_namespace(body.pop("namespace"))
        key = check_key(body.pop("key"))
    except EngramError as err:
        raise bad(str(err)) from None
    current, vector = body.pop("current"), body.pop("vector", None)
    if not isinstance(current, bool):
        raise bad(f"must be true or false, got {current!r}.", "current")
    if vector is not None:
        if not isinstance(vector, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    and math.isfinite(x) for x in vector):
            raise bad("must be a list of finite numbers (or absent).", "vector")
        if dim is not None and len(vector) != dim:
            raise bad(f"has {len(vector)} numbers but the manifest's dimension is {dim}.", "vector")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"must be an int >= 1, got {version!r}.", "version")
    try:
        body["content"] = coerce_content(body["content"])
        body["metadata"] = normalize_metadata(body.get("metadata") or {})
        body["provenance"] = coerce_provenance(body.get("provenance"))
        check_kind(body.get("kind", "memory"))
        check_text(body.get("text"))
        record = MemoryRecord.model_validate({**body, "id": key, "namespace": ns})
        check_size(record.text, record.content, max_chars)
    except EngramError as err:
        raise bad(str(err)) from None
    except Exception as err:  # pydantic's message names the field
        raise bad(f"not a memory record: {err}".replace("\n", " ")) from None
    if record.created_at.tzinfo is None or record.updated_at.tzinfo is None:
        raise bad("timestamps need a timezone (exports write UTC, e.g. '2026-01-01T00:00:00+00:00').")
    return record, [float(x) for x in vector] if vector is not None else [], current


def check_groups(checked: list[tuple[_Where, StoredVersion]]) -> dict[_Key, list[StoredVersion]]:
    """Group versions by memory: versions distinct, exactly one current one, and it is the newest."""
    groups: dict[_Key, list[tuple[_Where, StoredVersion]]] = {}
    for where, v in checked:
        groups.setdefault((v.record.namespace, v.record.id), []).append((where, v))
    out: dict[_Key, list[StoredVersion]] = {}
    for (ns, key), found in groups.items():
        seen: set[int] = set()
        for where, v in found:
            if v.record.version in seen:
                raise ValidationError(f"memory {key!r} in {ns!r} has version {v.record.version} twice.", **where)
            seen.add(v.record.version)
        currents = [(w, v) for w, v in found if v.current]
        newest = max(found, key=lambda wv: wv[1].record.version)
        if len(currents) != 1 or currents[0][1] is not newest[1]:
            raise ValidationError(f"memory {key!r} in {ns!r} needs exactly one row with current=true, "
                                  f"its newest version ({newest[1].record.version}); found "
                                  f"{len(currents)} current row(s).", **newest[0])
        out[(ns, key)] = sorted((v for _, v in found), key=lambda v: v.record.version)
    return out


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
        _kind_of(target)
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
        import logging

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
                logging.getLogger(__name__).warning("engram: could not fully undo a failed import into %s: %s",
                                                    ns, err)


def versions_of(cols: Collections, ns: tuple[str, ...], key: str) -> list[StoredVersion]:
    """Every stored version of one key, with vectors (to put back if a replacing import fails)."""
    from engram.store._codec import from_row

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
