"""Where ledger rows live: a SQLite table beside a local store, a Chroma collection on a server.

A row is ``(id, namespace key, metadata)``; :class:`~engram.store._ledger.Ledger` builds the
ids and metadata, a table only stores them.

- **SQLite** for a persistent store: ``engram-ledger.sqlite3`` in its directory (one writer
  process, like the directory itself). A mark costs ~0.1 ms; a Chroma upsert costs ~3 ms
  whatever it carries, which was a third of an update's own time. Commits are durable
  against a crash of the process (WAL); after a power loss the newest marks may be missing,
  never present without their writes, so those trajectories are applied again, not lost.
- **A dict** for an in-memory store: its data dies with the process anyway, and plain
  Python never lets go of the GIL midway, so concurrent updates do not queue behind it.
- **Chroma** (the ``engram-ledger`` collection, rows with a one-number vector) for a server:
  processes that share a server share their ledgers, which sharding over processes needs.

A persistent store written by an earlier release keeps its ledger in Chroma; the first open
copies those rows into SQLite, then drops the collection (a crash in between only repeats
the copy, which keeps the newer rows).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engram.errors import StoreError
from engram.store._collections import chroma_errors, page_size
from engram.store._left_behind import delete_collection
from engram.store._microbatch import MicroBatcher

if TYPE_CHECKING:
    from engram.store._collections import Collections

LEDGER = "engram-ledger"
SQLITE_NAME = "engram-ledger.sqlite3"
_VECTOR = [1.0]  # Chroma needs a vector per row; bookkeeping has no meaning to embed
Row = tuple[str, dict[str, Any]]  # (id, metadata with _ns)


class LedgerTable(Protocol):
    def has(self, ids: Sequence[str]) -> set[str]: ...
    def put(self, rows: list[Row]) -> None: ...
    def meta(self, id: str) -> dict[str, Any] | None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def ids(self, nskey: str) -> list[str]: ...
    def clear(self, nskey: str) -> None: ...


class SqliteTable:
    """Ledger rows in SQLite (a file beside the store)."""

    def __init__(self, path: str) -> None:
        self.path, self.closed = path, False
        self._lock = threading.Lock()
        with self._errors("open"):
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS ledger "
                             "(id TEXT PRIMARY KEY, ns TEXT NOT NULL, meta TEXT NOT NULL)")
            self._db.execute("CREATE INDEX IF NOT EXISTS ledger_ns ON ledger (ns)")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        if self.closed:
            raise StoreError("this MemoryStore was closed; open a new one (e.g. MemoryStore.from_settings()).")
        try:
            yield
        except sqlite3.Error as err:
            raise StoreError(f"could not {action} the ledger table {self.path}: {type(err).__name__}: {err}. "
                             f"Check that the store directory is writable and has free space.") from err

    def _many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        with self._lock, self._errors("write"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock, self._errors("read"):
            return self._db.execute(sql, params).fetchall()

    def has(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # SQLite caps the parameters of one statement
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._select(f"SELECT id FROM ledger WHERE id IN ({marks})", chunk))
        return found

    def put(self, rows: list[Row], *, keep_existing: bool = False) -> None:
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT OR REPLACE"
        self._many(f"{verb} INTO ledger (id, ns, meta) VALUES (?, ?, ?)",
                   [(i, str(m["_ns"]), json.dumps(m)) for i, m in rows])

    def meta(self, id: str) -> dict[str, Any] | None:
        got = self._select("SELECT meta FROM ledger WHERE id = ?", [id])
        return json.loads(got[0][0]) if got else None

    def delete(self, ids: Sequence[str]) -> None:
        self._many("DELETE FROM ledger WHERE id = ?", [(i,) for i in ids])

    def ids(self, nskey: str) -> list[str]:
        return [r[0] for r in self._select("SELECT id FROM ledger WHERE ns = ?", [nskey])]

    def clear(self, nskey: str) -> None:
        self._many("DELETE FROM ledger WHERE ns = ?", [(nskey,)])

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._db.close()


class DictTable:
    """Ledger rows of an in-memory store, in a dict per namespace."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, dict[str, Any]]] = {}   # namespace key -> id -> meta
        self._ns: dict[str, str] = {}                            # id -> namespace key

    def has(self, ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {i for i in ids if i in self._ns}

    def put(self, rows: list[Row]) -> None:
        with self._lock:
            for i, meta in rows:
                nskey = str(meta["_ns"])
                self._rows.setdefault(nskey, {})[i] = dict(meta)  # a copy: values are scalars
                self._ns[i] = nskey

    def meta(self, id: str) -> dict[str, Any] | None:
        with self._lock:
            nskey = self._ns.get(id)
            return dict(self._rows[nskey][id]) if nskey is not None else None

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for i in ids:
                nskey = self._ns.pop(i, None)
                if nskey is not None:
                    self._rows[nskey].pop(i, None)

    def ids(self, nskey: str) -> list[str]:
        with self._lock:
            return list(self._rows.get(nskey, {}))

    def clear(self, nskey: str) -> None:
        with self._lock:
            for i in self._rows.pop(nskey, {}):
                self._ns.pop(i, None)


class ChromaTable:
    """Ledger rows in the ``engram-ledger`` collection; concurrent marks of any namespace go
    in one upsert (a Chroma upsert costs ~3 ms however few rows it carries)."""

    def __init__(self, col: Any) -> None:
        self._col = col

        def upsert(rows: list[Row]) -> list[None]:
            col.upsert(ids=[r[0] for r in rows], embeddings=[_VECTOR] * len(rows), metadatas=[r[1] for r in rows])
            return [None] * len(rows)

        self._upsert = MicroBatcher(upsert, max_batch=512)

    def has(self, ids: Sequence[str]) -> set[str]:
        return set(self._col.get(ids=list(ids), include=[])["ids"])

    def put(self, rows: list[Row]) -> None:
        self._upsert(rows)

    def meta(self, id: str) -> dict[str, Any] | None:
        got = self._col.get(ids=[id], include=["metadatas"])
        return (got["metadatas"][0] or {}) if got["ids"] else None

    def delete(self, ids: Sequence[str]) -> None:
        self._col.delete(ids=list(ids))

    def ids(self, nskey: str) -> list[str]:
        return list(self._col.get(where={"_ns": nskey}, include=[])["ids"])

    def clear(self, nskey: str) -> None:
        self._col.delete(where={"_ns": nskey})


# A table per Collections object (it keeps its table alive). Store objects on one in-memory
# database share its dict; each persistent store object opens the SQLite file itself.
_tables: weakref.WeakKeyDictionary[Any, LedgerTable] = weakref.WeakKeyDictionary()
_memory_tables: weakref.WeakValueDictionary[str, DictTable] = weakref.WeakValueDictionary()
_guard = threading.Lock()


def table_for(cols: Collections) -> LedgerTable:
    """The ledger table of the data ``cols`` reaches (opened, and migrated, once)."""
    found = _tables.get(cols)
    if found is None:
        with _guard:
            found = _tables.get(cols)
            if found is None:
                found = _tables[cols] = _open(cols)
    return found


def _open(cols: Collections) -> LedgerTable:
    settings = cols.client.get_settings()
    if getattr(settings, "chroma_server_host", None):
        with chroma_errors("open the ledger collection"):
            return ChromaTable(cols.client.get_or_create_collection(LEDGER, metadata={"engram_format": 1},
                                                                    embedding_function=None))
    if getattr(settings, "is_persistent", False):
        table = SqliteTable(str(Path(str(settings.persist_directory)) / SQLITE_NAME))
        cols.on_close(table.close)
        _migrate(cols, table)
        return table
    shared = _memory_tables.get(cols.scope)
    if shared is None:
        shared = _memory_tables[cols.scope] = DictTable()
    return shared


def _migrate(cols: Collections, table: SqliteTable) -> None:
    """Move the rows of an earlier release's Chroma ledger into ``table``, then drop it."""
    old = cols.existing(LEDGER)
    if old is None:
        return
    page = 5000
    with chroma_errors("move the ledger out of Chroma"):
        offset = 0
        while True:
            got = old.get(include=["metadatas"], limit=page, offset=offset)
            table.put([(i, m) for i, m in zip(got["ids"], got["metadatas"]) if m and "_ns" in m],
                      keep_existing=True)
            offset += len(got["ids"])
            if len(got["ids"]) < page:
                break
        delete_collection(cols.client, old, page_size(cols.client))


__all__ = ["LEDGER", "SQLITE_NAME", "ChromaTable", "DictTable", "LedgerTable", "SqliteTable", "table_for"]
