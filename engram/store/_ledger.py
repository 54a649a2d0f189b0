"""Ledgers: per-namespace bookkeeping rows (which trajectories were applied), never embedded.

A ledger row costs no embedding and never shows up in ``list_namespaces``,
``search`` or ``count``. A persistent store keeps its ledgers in a SQLite table in its
directory (``engram-ledger.sqlite3``), an in-memory store in a dict, and a store on a Chroma
server in the server (the ``engram-ledger`` collection), so processes that share the server
share their ledgers (see :mod:`engram.store._ledger_tables`). Example::

    ledger = store.ledger(("memories", "u1"))
    ledger.mark(["t1", "t2"], {"written": 2})
    ledger.has(["t1", "t3"])          # {'t1'}
    "t2" in ledger                    # True
    ledger.get("t1")["written"]       # 2 (plus 'at', when it was marked)
    ledger.remove(["t2"])             # 1: t2 will be applied again

``store.purge(namespace)`` clears the namespace's ledger with its memories.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engram.errors import ValidationError
from engram.store._checks import check_key
from engram.store._collections import chroma_errors
from engram.store._filters import normalize_metadata
from engram.store._ledger_tables import LEDGER, table_for
from engram.store._namespaces import namespace_key

if TYPE_CHECKING:
    from engram.store._collections import Collections

class Ledger:
    """The bookkeeping rows of one namespace (see the module docstring)."""

    def __init__(self, cols: Collections, namespace: tuple[str, ...]) -> None:
        self.namespace = namespace
        self._nskey = namespace_key(namespace)
        self._prefix = hashlib.sha256(self._nskey.encode()).hexdigest()[:32] + "|"
        self._table = table_for(cols)

    def __repr__(self) -> str:
        return f"Ledger({self.namespace!r})"

    def _ids(self, ids: Iterable[str] | str) -> list[str]:
        if isinstance(ids, str):
            ids = [ids]
        elif ids is None or isinstance(ids, (bytes, dict)) or not isinstance(ids, Iterable):
            raise ValidationError(f"ledger ids must be a list of ids (or one id), got {type(ids).__name__}.")
        out = [check_key(i, "ledger id") for i in ids]
        return list(dict.fromkeys(out))

    def has(self, ids: Iterable[str] | str) -> set[str]:
        """Which of ``ids`` are marked."""
        wanted = self._ids(ids)
        if not wanted:
            return set()
        with chroma_errors(f"read the ledger of {self.namespace!r}"):
            got = self._table.has([self._prefix + i for i in wanted])
        return {row[len(self._prefix):] for row in got}

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and bool(id.strip()) and id in self.has([id])

    def mark(self, ids: Iterable[str] | str, meta: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
        """Mark ``ids`` (again: the newest mark wins). ``meta`` is one dict for all, or one per id;
        values follow the metadata rules (scalars, no ``_`` keys)."""
        wanted = self._ids(ids)
        metas = meta if isinstance(meta, list) else [meta] * len(wanted)
        if len(metas) != len(wanted):
            raise ValidationError(f"mark() got {len(wanted)} ids but {len(metas)} meta dicts; pass one per id.")
        at = datetime.now(UTC).timestamp()
        rows = [{**normalize_metadata(m), "_ns": self._nskey, "_id": i, "_at": at} for i, m in zip(wanted, metas)]
        if not wanted:
            return
        with chroma_errors(f"write the ledger of {self.namespace!r}"):
            self._table.put([(self._prefix + i, row) for i, row in zip(wanted, rows)])

    def get(self, id: str) -> dict[str, Any] | None:
        """The meta of one marked id with ``at`` (when, a UTC datetime), or None."""
        (key,) = self._ids([id])
        with chroma_errors(f"read the ledger of {self.namespace!r}"):
            meta = self._table.meta(self._prefix + key)
        if meta is None:
            return None
        out = {k: v for k, v in meta.items() if not k.startswith("_")}
        out["at"] = datetime.fromtimestamp(float(meta.get("_at", 0)), tz=UTC)
        return out

    def remove(self, ids: Iterable[str] | str) -> int:
        """Unmark ``ids`` (so they are applied again); returns how many were marked."""
        present = self.has(ids)
        if present:
            with chroma_errors(f"write the ledger of {self.namespace!r}"):
                self._table.delete([self._prefix + i for i in present])
        return len(present)

    def ids(self) -> list[str]:
        """Every marked id, in no particular order."""
        with chroma_errors(f"read the ledger of {self.namespace!r}"):
            got = self._table.ids(self._nskey)
        return [row[len(self._prefix):] for row in got]

    def count(self) -> int:
        return len(self.ids())

    def clear(self) -> int:
        """Unmark everything in this namespace; returns how many ids were marked."""
        marked = self.ids()
        if marked:
            with chroma_errors(f"clear the ledger of {self.namespace!r}"):
                self._table.clear(self._nskey)
        return len(marked)


__all__ = ["LEDGER", "Ledger"]
