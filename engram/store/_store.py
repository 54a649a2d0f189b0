"""MemoryStore: namespaced, versioned memories in Chroma, searchable by meaning, metadata and key.

Example::

    from engram.store import MemoryStore
    store = MemoryStore.in_memory()                    # or .persistent(), .http(url), .from_settings()
    ns = ("memories", "u42")
    store.put(ns, "diet", {"fact": "vegetarian"}, metadata={"topic": "food"})
    store.search(ns, "what does the user eat?", filter={"topic": "food"})[0].score   # ~0.5
    store.delete(ns, "diet")                           # soft: history keeps every version
    [r.version for r in store.history(ns, "diet")]     # [1, 2]
    store.restore(ns, "diet", version=1)

Backends: :meth:`in_memory` (tests), :meth:`persistent` (default ``.engram/chroma``)
and :meth:`http` (a Chroma server). **A persistent directory has one owner process**:
many threads of one process are fine; a second process opening the directory gets
a :class:`~engram.errors.StoreError` naming the owner (pid, host, since when). Run
``chroma run`` and use :meth:`http` for multi-process setups. The directory also
records that it holds data, so a deleted ``chroma.sqlite3`` is an error on open,
not an empty store (see :mod:`engram.store._owner`).

Every call is scoped to one namespace, stored in its own collection, so nothing
reads, changes or deletes another tenant's memories. Writes are serialized per
namespace and versioned (see :mod:`engram.store._writes`); reads take no lock.

Concurrency limits: the write lock and the ``expected_version`` check are
per-process. Against a server, two *processes* updating the same key can still
race between check and write (Chroma has no conditional write); route writes to
one key through one process, or accept last-writer-wins (history keeps both).
The archive index used by ``search(kind="message")`` is cached per process and
refreshed on this process's writes or when the namespace's row count changes.
"""

from __future__ import annotations

import builtins
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram.errors import ValidationError
from engram.store import _query as query_mod
from engram.store._aio import AsyncMixin
from engram.store._backends import (
    DEFAULT_TIMEOUT,
    drop_in_memory,
    http_client,
    in_memory_client,
    persistent_client,
)
from engram.store._checks import (
    check_flag,
    check_key,
    check_keys,
    check_kind,
    check_page,
    check_query,
)
from engram.store._codec import from_row, rows
from engram.store._collections import Collections, chroma_errors, survives_foreign_drops
from engram.store._embeddings import Embedder, EmbedderLike, prefetch_embedder
from engram.store._expiry import (
    ExpiryMixin,
    TTLLike,
    count_alive,
    is_alive,
    nearest_alive,
    scan_alive,
)
from engram.store._export import ExportMixin
from engram.store._filters import and_where, to_where
from engram.store._frame import FrameMixin
from engram.store._namespaces import (
    Namespace,
    NamespaceLike,
    has_prefix,
    is_internal,
    namespace_key,
    validate_namespace,
)
from engram.store._owner import DirectoryOwner
from engram.store._prefix import PrefixMixin
from engram.store._record import MAX_CONTENT_CHARS, Clock, MemoryRecord, check_clock
from engram.store._removals import RemovalMixin
from engram.store._timetravel import TimeTravelMixin

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from engram.store._archive._ranking import HybridRanker
    from engram.store._ledger import Ledger

_LIVE = {"_deleted": False}


class MemoryStore(RemovalMixin, ExpiryMixin, TimeTravelMixin, ExportMixin, FrameMixin, AsyncMixin, PrefixMixin):
    """A memory store on a Chroma client (see the module docstring)."""

    def __init__(self, client: ClientAPI, *, embedder: EmbedderLike = None,
                 max_content_chars: int = MAX_CONTENT_CHARS, archive_ranker: HybridRanker | None = None,
                 backend: str = "custom", owner: DirectoryOwner | None = None,
                 clock: Clock | None = None, default_ttl: TTLLike = None, refresh_on_read: bool = True) -> None:
        """Wrap a chromadb client; prefer the constructors below. ``archive_ranker`` is a
        :class:`~engram.store._archive._ranking.HybridRanker` with other weights for kind "message".

        ``clock`` is a callable returning an aware datetime (default: the real UTC time);
        every timestamp the store writes comes from it, so tests can move time by hand::

            from datetime import UTC, datetime, timedelta
            now = [datetime(2025, 1, 1, tzinfo=UTC)]
            store = MemoryStore.in_memory(clock=lambda: now[0])
            store.put(("memories", "u1"), "k", "hello").created_at.year   # 2025
            now[0] += timedelta(days=1)

        ``default_ttl`` (seconds or a timedelta) makes every memory expire unless a write or
        :meth:`set_ttl` says otherwise; ``refresh_on_read`` extends it on reads
        (see :mod:`engram.store._expiry`).
        """
        self.clock = check_clock(clock)
        self._init_expiry(default_ttl, refresh_on_read)
        self._owner = owner
        if owner is not None:  # released on close(), or when the store is garbage-collected
            self._release = weakref.finalize(self, owner.release)
        self._cols = Collections(client, embedder)
        self.max_content_chars = max_content_chars
        self.archive_ranker = archive_ranker
        self.backend = backend

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def in_memory(cls, embedder: EmbedderLike = None, **kwargs: Any) -> MemoryStore:
        """A private in-memory store (tests, notebooks). ``embedder``: spec or function."""
        return cls(in_memory_client(), embedder=embedder, backend="memory", **kwargs)

    @classmethod
    def persistent(cls, path: str | Path | None = None, embedder: EmbedderLike = None, **kwargs: Any) -> MemoryStore:
        """A store in a directory (default ``get_settings().store_path``). One writer process only."""
        if path is None:
            from engram.config import get_settings

            path = get_settings().store_path
        prefetch_embedder(embedder)  # the model loads while chromadb imports: a faster cold start
        client, owner = persistent_client(path)
        try:
            return cls(client, embedder=embedder, backend="persistent", owner=owner, **kwargs)
        except BaseException:
            owner.release()
            raise

    @classmethod
    def http(cls, url: str, embedder: EmbedderLike = None, *, timeout: float = DEFAULT_TIMEOUT,
             headers: dict[str, str] | None = None, **kwargs: Any) -> MemoryStore:
        """A store on a Chroma server; a down server raises StoreError within ``timeout``."""
        prefetch_embedder(embedder)
        return cls(http_client(url, timeout, headers), embedder=embedder, backend="http", **kwargs)

    @classmethod
    def from_settings(cls, **kwargs: Any) -> MemoryStore:
        """The configured store: the server if ``chroma_url`` is set, else the persistent directory."""
        from engram.config import get_settings

        settings = get_settings()
        kwargs.setdefault("embedder", None)
        if settings.chroma_url:
            return cls.http(settings.chroma_url, **kwargs)
        return cls.persistent(settings.store_path, **kwargs)

    @property
    def embedder(self) -> Embedder:
        """The store's :class:`~engram.store._embeddings.Embedder`."""
        return self._cols.embedder

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self._cols.embedder.embed(texts) if texts else []

    def __repr__(self) -> str:
        return f"MemoryStore(backend={self.backend!r}, embedder={self.embedder.spec!r})"

    def close(self) -> None:
        """Release the store; an in-memory store's data is freed (persistent data stays)."""
        if self.backend == "memory":
            drop_in_memory(self._cols.client)
        self._cols.close()
        if self._owner is not None:
            self._release()  # a finalizer runs once, so close() twice is harmless

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------------
    def get(self, namespace: NamespaceLike, key: str, *, include_deleted: bool = False) -> MemoryRecord | None:
        """The current version of a memory, or ``None`` (also when soft-deleted)."""
        ns = validate_namespace(namespace)
        check_key(key)
        check_flag("include_deleted", include_deleted)
        col = self._cols.get(ns)
        if col is None:
            return None
        with chroma_errors(f"get {key!r} from {ns!r}"):
            got = col.get(ids=[key], include=["documents", "metadatas"])
        for i, doc, meta, _ in rows(got):
            record = from_row(ns, i, doc, meta)
            if include_deleted:
                return record
            if not record.deleted and is_alive(meta, self._now().timestamp()):
                return self._refresh(ns, col, [record])[0]
        return None

    def search(self, namespace: NamespaceLike, query: str | None = None, *, filter: dict | None = None,
               kind: str | None = None, keys: list[str] | None = None, limit: int = 10,
               offset: int = 0, include_deleted: bool = False, min_score: float | None = None,
               ranking: Any = None) -> list[MemoryRecord]:
        """Memories of one namespace ranked by meaning, filtered by metadata / kind / keys.

        ``score`` is higher-is-better. ``ranking="dense"`` (the default for memories):
        cosine similarity, in [-1, 1]. ``ranking="hybrid"``: cosine plus bonuses of up to 0.2
        for the namespace's best BM25 match and 0.2 for a memory dated as the query names
        ("in June 2023"; :class:`~engram.store._archive._ranking.MemoryRanker`, pass one as
        ``ranking`` for other weights). ``kind="message"``
        ranks a conversation archive with dense + BM25 + neighbouring turns
        (:mod:`engram.store._archive`); its score is a fused z-score (0 = the archive's average).
        ``min_score`` drops results scoring below it. Without ``query`` the filter alone
        selects (``score`` is None). Example::

            store.search(ns, "food preferences", filter={"confidence": {"$gte": 0.5}}, limit=5)
            store.search(ns, "food preferences", ranking="hybrid", min_score=0.3)
        """
        ns = validate_namespace(namespace)
        check_query(query)
        check_page(limit, offset)
        check_kind(kind, optional=True)
        keys = check_keys(keys)
        ranking = query_mod.check_ranking(ranking)
        min_score = query_mod.check_min_score(min_score, ranking=ranking, kind=kind)
        if min_score is not None and query is None:
            raise ValidationError("min_score needs a query: without one nothing is scored.")
        where = and_where(None if check_flag("include_deleted", include_deleted) else _LIVE,
                          {"_kind": kind} if kind else None, to_where(filter))
        col = self._cols.get(ns)
        if col is None or keys == []:
            return []
        live = not include_deleted
        if query is None:
            return self._get_rows(ns, col, where, keys, limit, offset, live)
        if kind == "message" or ranking != "dense":
            from engram.store._archive._search import hybrid_search, memory_search

            allowed = None
            if keys is not None or filter:
                with chroma_errors(f"filter {ns!r}"):
                    allowed = set(col.get(ids=keys, where=where, include=[])["ids"])
            if kind == "message":
                hits = hybrid_search(self, ns, query, allowed, limit, offset)
            else:
                ranker = None if ranking == "hybrid" else ranking
                hits = memory_search(self, ns, query, allowed, limit, offset, kind, include_deleted, ranker)
            hits = query_mod.above(hits, min_score)
            # the ranking index is cached, so rows that expired since it was built are dropped here
            return self._refresh(ns, col, [h for h in hits if self._alive(h)]) if live else hits
        [vector] = self._embed([query])
        with chroma_errors(f"search {ns!r}"):
            found = (nearest_alive(col, vector, where, keys, limit + offset, self._now().timestamp()) if live
                     else query_mod.nearest(col, vector, where, keys, limit + offset))
        hits = query_mod.above([from_row(ns, i, doc, meta, score=1.0 - dist) for i, doc, meta, dist in found[offset:]],
                               min_score)
        return self._refresh(ns, col, hits) if live else hits

    def list(self, namespace: NamespaceLike, *, kind: str | None = None, filter: dict | None = None,
             limit: int = 100, offset: int = 0, include_deleted: bool = False) -> list[MemoryRecord]:
        """Memories of a namespace in insertion order (no ranking). Example::

            store.list(ns, kind="profile", limit=20)
        """
        ns = validate_namespace(namespace)
        check_page(limit, offset)
        check_kind(kind, optional=True)
        where = and_where(None if check_flag("include_deleted", include_deleted) else _LIVE,
                          {"_kind": kind} if kind else None, to_where(filter))
        col = self._cols.get(ns)
        return [] if col is None else self._get_rows(ns, col, where, None, limit, offset, not include_deleted)

    def _get_rows(self, ns: tuple[str, ...], col: Collection, where: dict | None, keys: builtins.list[str] | None,
                  limit: int, offset: int, live: bool) -> builtins.list[MemoryRecord]:
        with chroma_errors(f"list {ns!r}"):
            found = (scan_alive(col, where, keys, limit, offset, self._now().timestamp()) if live
                     else query_mod.scan(col, where, keys, limit, offset))
        records = [from_row(ns, i, d, m) for i, d, m, _ in found]
        return self._refresh(ns, col, records) if live else records

    def _alive(self, record: MemoryRecord) -> bool:
        return not record.deleted and (record.expires_at is None or record.expires_at > self._now())

    def count(self, namespace: NamespaceLike, *, kind: str | None = None, include_deleted: bool = False) -> int:
        """Number of (live) memories in a namespace."""
        ns = validate_namespace(namespace)
        check_kind(kind, optional=True)
        check_flag("include_deleted", include_deleted)
        col = self._cols.get(ns)
        if col is None:
            return 0
        where = and_where(None if include_deleted else _LIVE, {"_kind": kind} if kind else None)
        with chroma_errors(f"count {ns!r}"):
            return query_mod.count(col, where) if include_deleted else count_alive(col, where, self._now().timestamp())

    def list_namespaces(self, prefix: NamespaceLike | None = None, *, max_depth: int | None = None,
                        limit: int = 1000, offset: int = 0, include_internal: bool = False) -> builtins.list[Namespace]:
        """Namespaces that hold memories, optionally under a prefix (compared part by part).

        ``max_depth`` truncates namespaces to that many parts (deduplicated). Bookkeeping
        namespaces (a part starting with ``engram.``, such as the ledgers older engram
        versions kept as ``(..., "engram.processed")``; see
        :func:`~engram.store._namespaces.is_internal`) are left out unless
        ``include_internal``. Example::

            store.list_namespaces(("memories",))    # [('memories', 'u1'), ('memories', 'u2')]
        """
        pre = validate_namespace(prefix) if prefix is not None else None
        check_page(limit, offset)
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)
                                      or max_depth < 1):
            raise ValidationError(f"max_depth must be a positive int or None, got {max_depth!r}.")
        check_flag("include_internal", include_internal)
        found = [ns for ns in self._cols.namespaces() if has_prefix(ns, pre)
                 and (include_internal or not is_internal(ns))]
        if max_depth is not None:
            found = sorted({ns[:max_depth] for ns in found})
        return found[offset : offset + limit]

    def generation(self, namespace: NamespaceLike) -> int:
        """A number that changes whenever this process writes ``namespace`` (for caches).

        Writes by other processes do not change it; pair it with :meth:`count`
        (``include_deleted=True``) to notice those too.
        """
        return self._cols.generation(validate_namespace(namespace))

    def vectors(self, namespace: NamespaceLike, *, kind: str | None = None,
                include_deleted: bool = False) -> builtins.list[tuple[MemoryRecord, builtins.list[float]]]:
        """Every (live) record of a namespace with its stored embedding, in insertion order.

        For indexes built beside the store (the message archive) and for copying
        a store without re-embedding. Example::

            [(rec.id, len(vec)) for rec, vec in store.vectors(ns, kind="message")]
        """
        ns = validate_namespace(namespace)
        check_kind(kind, optional=True)
        where = and_where(None if check_flag("include_deleted", include_deleted) else _LIVE,
                          {"_kind": kind} if kind else None)
        col = self._cols.get(ns)
        if col is None:
            return []
        with chroma_errors(f"read the vectors of {ns!r}"):
            got = col.get(where=where, include=["documents", "metadatas", "embeddings"])
        now = self._now().timestamp()
        return [(from_row(ns, i, d, m), [float(x) for x in e]) for i, d, m, e in rows(got)
                if include_deleted or is_alive(m, now)]

    def ledger(self, namespace: NamespaceLike) -> Ledger:
        """The bookkeeping ledger of a namespace (which trajectories were applied); no embeddings.

        Example::

            ledger = store.ledger(("memories", "u1"))
            if "t1" not in ledger:
                ...  # apply t1
                ledger.mark(["t1"], {"written": 2})
        """
        from engram.store._ledger import Ledger

        return Ledger(self._cols, validate_namespace(namespace))

    def history(self, namespace: NamespaceLike, key: str) -> builtins.list[MemoryRecord]:
        """Every stored version of a memory, oldest first (the last one is current)."""
        return [r for r, _ in self._versions(validate_namespace(namespace), check_key(key))]

    def _versions(self, ns: tuple[str, ...], key: str) -> builtins.list[tuple[MemoryRecord, builtins.list[float]]]:
        where: Any = {"$and": [{"_ns": namespace_key(ns)}, {"_key": key}]}  # a Chroma Where
        with chroma_errors(f"read the history of {key!r} in {ns!r}"):
            old = self._cols.history.get(where=where, include=["documents", "metadatas", "embeddings"])
        out = [(from_row(ns, key, d, m), e) for _, d, m, e in rows(old)]
        col = self._cols.get(ns)
        if col is not None:
            out.extend(self._read(col, ns, [key]).values())
        out.sort(key=lambda pair: pair[0].version)
        return out


# Every call that uses a namespace's cached collection (the async ones call these in a thread).
for _name in ("get", "search", "search_prefix", "list", "count", "put", "put_many", "update", "mutate",
              "delete", "purge", "history", "restore", "diff", "set_ttl", "sweep", "to_frame", "vectors",
              "export", "import_"):
    setattr(MemoryStore, _name, survives_foreign_drops(getattr(MemoryStore, _name)))
