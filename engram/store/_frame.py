"""Table views of a store: every memory (or every version) of the namespaces under a prefix.

:meth:`MemoryStore.to_frame` gives a pandas DataFrame, one row per memory, sorted by
namespace, key and version; :mod:`engram.store._export` writes the same rows to a file.
Example::

    store.put(("memories", "u1"), "lang", "prefers Python")
    df = store.to_frame(("memories",))
    df[["path", "key", "content", "version"]].values.tolist()
    # [['memories/u1', 'lang', 'prefers Python', 1]]

Columns: ``namespace`` (the tuple), ``path`` (its parts joined by ``/``), ``key``, and the
record's own fields (``kind``, ``content``, ``text``, ``metadata``, ``created_at``,
``updated_at`` as UTC timestamps, ``version``, ``provenance`` as a list of dicts,
``deleted``, and any field a later release adds). ``history=True`` adds a ``current`` column.

Bookkeeping namespaces (:func:`~engram.store._namespaces.is_internal`) are left out
unless ``include_internal=True``, the same rule as ``list_namespaces``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engram.errors import ValidationError
from engram.store._checks import check_flag
from engram.store._codec import from_row, rows
from engram.store._collections import chroma_errors
from engram.store._namespaces import (
    NamespaceLike,
    has_prefix,
    is_internal,
    namespace_key,
    validate_namespace,
)
from engram.store._record import MemoryRecord

if TYPE_CHECKING:
    import pandas as pd

    from engram.store._collections import Collections

#: Record fields that a row names itself (``namespace``, ``key``) or that only searches set.
_OWN = {"id", "namespace", "score"}
_PAGE = 1000


@dataclass(frozen=True)
class StoredVersion:
    """One stored version of a memory, with its vector (empty unless asked for)."""

    record: MemoryRecord
    vector: list[float]
    current: bool


def prefixes(namespaces: NamespaceLike | Iterable[NamespaceLike] | None) -> list[tuple[str, ...]] | None:
    """``None`` (everything), one namespace tuple, or a list of namespaces / prefixes.

    A tuple of strings is one prefix; a list holds several (a plain string in the list is
    a one-part prefix, so ``["memories", "notes"]`` selects both trees).
    """
    if namespaces is None:
        return None
    if isinstance(namespaces, (tuple, str)):
        return [validate_namespace(namespaces)]
    if isinstance(namespaces, (bytes, dict)) or not isinstance(namespaces, Iterable):
        raise ValidationError(f"namespaces must be None, a namespace tuple or a list of them, "
                              f"got {type(namespaces).__name__} {namespaces!r}.")
    out = [validate_namespace(ns) for ns in namespaces]
    if not out:
        raise ValidationError("namespaces is an empty list, which selects nothing; pass None for everything.")
    return out


def selected(cols: Collections, wanted: list[tuple[str, ...]] | None, include_internal: bool) -> list[tuple[str, ...]]:
    """The namespaces of the store under any of ``wanted`` (all when None), sorted."""
    check_flag("include_internal", include_internal)
    return [ns for ns in cols.namespaces()
            if (include_internal or not is_internal(ns))
            and (wanted is None or any(has_prefix(ns, p) for p in wanted))]


def _paged(fetch: Any, include: list[str]) -> Iterator[tuple[str, str | None, dict[str, Any], Any]]:
    offset = 0
    while True:
        batch = rows(fetch(limit=_PAGE, offset=offset, include=include))
        yield from batch
        if len(batch) < _PAGE:
            return
        offset += _PAGE


def versions(cols: Collections, ns: tuple[str, ...], *, history: bool, vectors: bool) -> list[StoredVersion]:
    """Every current row of ``ns`` (and, with ``history``, every superseded one), sorted by key and version."""
    include = ["documents", "metadatas", *(["embeddings"] if vectors else [])]
    out: list[StoredVersion] = []
    col = cols.get(ns)
    if col is not None:
        with chroma_errors(f"read the memories of {ns!r}"):
            for key, doc, meta, emb in _paged(col.get, include):
                out.append(StoredVersion(from_row(ns, key, doc, meta), _floats(emb), True))
    if history:
        where: Any = {"_ns": namespace_key(ns)}
        with chroma_errors(f"read the history of {ns!r}"):
            for _, doc, meta, emb in _paged(lambda **kw: cols.history.get(where=where, **kw), include):
                out.append(StoredVersion(from_row(ns, str(meta.get("_key")), doc, meta), _floats(emb), False))
    out.sort(key=lambda v: (v.record.id, v.record.version))
    return out


def _floats(embedding: Any) -> list[float]:
    return [] if embedding is None else [float(x) for x in embedding]


def record_fields(record: MemoryRecord) -> dict[str, Any]:
    """The record's own fields as plain Python values (``content`` keeps its str / dict type)."""
    fields = {name: getattr(record, name) for name in type(record).model_fields if name not in _OWN}
    fields["provenance"] = [p.model_dump(exclude_none=True) for p in record.provenance]
    return fields


class FrameMixin:
    """``to_frame`` for :class:`~engram.store._store.MemoryStore` (see the module docstring)."""

    _cols: Collections

    def to_frame(self, namespace_prefix: NamespaceLike | Iterable[NamespaceLike] | None = None, *,
                 include_deleted: bool = False, history: bool = False,
                 include_internal: bool = False) -> pd.DataFrame:
        """The memories under ``namespace_prefix`` (all namespaces when None) as a DataFrame.

        One row per memory at its current version; ``history=True`` gives one row per
        stored version (oldest first, ``current`` marks the live one). Memories whose
        current version is deleted are left out (all their versions) unless
        ``include_deleted``. Example::

            store.put(("memories", "u1"), "diet", "vegetarian", metadata={"topic": "food"})
            df = store.to_frame(("memories",))
            df.loc[0, "metadata"]       # {'topic': 'food'}
            store.to_frame(("memories",), history=True)["version"].tolist()   # [1]
        """
        import pandas as pd

        check_flag("include_deleted", include_deleted)
        check_flag("history", history)
        table: list[dict[str, Any]] = []
        for ns in selected(self._cols, prefixes(namespace_prefix), include_internal):
            found = versions(self._cols, ns, history=history, vectors=False)
            gone = {v.record.id for v in found if v.current and v.record.deleted}
            for v in found:
                if v.record.id in gone and not include_deleted:
                    continue
                row = {"namespace": ns, "path": "/".join(ns), "key": v.record.id, **record_fields(v.record)}
                if history:
                    row["current"] = v.current
                table.append(row)
        columns = ["namespace", "path", "key", *(f for f in MemoryRecord.model_fields if f not in _OWN)]
        frame = pd.DataFrame(table, columns=columns + (["current"] if history else []))
        for stamp in ("created_at", "updated_at"):
            frame[stamp] = pd.to_datetime(frame[stamp], utc=True)
        return frame


__all__ = ["FrameMixin", "StoredVersion", "prefixes", "record_fields", "selected", "versions"]
