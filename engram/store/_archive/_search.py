"""``MemoryStore.search(ns, query, kind="message")`` and ``search(..., ranking="hybrid")``: hybrid ranking.

Archive a conversation as messages with their position in metadata, then search::

    store.put_many(ns, [{"key": "D1:3", "kind": "message", "content": "I went to a support group",
                         "text": "Caroline: I went to a support group",
                         "metadata": {"conversation": "c1", "session": 1, "turn": 3, "speaker": "Caroline"}}])
    store.search(ns, "When did Caroline go to the support group?", kind="message", limit=10)

The namespace's live messages are loaded once into an :class:`ArchiveIndex`
(vectors + BM25 + turn order) and cached until the namespace is written again,
so each query is a matrix-vector product and a BM25 lookup in this process. On a
Chroma server, which other processes write unseen, the hits are checked against the
server (one read) and the index is rebuilt when one of them changed or went.
``score`` on these results is the fused z-score (not a cosine). Filters and
``keys`` restrict which turns are returned; neighbours still lend context.

``ranking="hybrid"`` on other kinds ranks memories the same way with
:class:`MemoryRanker` (cosine + BM25 + optional temporal bonuses; ``score`` keeps
cosine's scale), over an index cached the same way per (namespace, kind)::

    store.search(ns, "what does the user eat?", ranking="hybrid", min_score=0.3)

Only the store's public methods are used (:meth:`MemoryStore.vectors`,
:meth:`MemoryStore.generation`, ``store.embedder``); the cache is kept here,
per store object, and goes away with the store.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from engram.store._archive._ranking import ArchiveIndex, HybridRanker, MemoryRanker
from engram.store._archive._temporal import metadata_date
from engram.store._record import MemoryRecord

if TYPE_CHECKING:
    from engram.store._store import MemoryStore

_lock = threading.Lock()
_Cached = tuple[tuple[int, int], ArchiveIndex, dict[str, MemoryRecord]]
_Slot = tuple[tuple[str, ...], str | None, bool]     # namespace, kind, include_deleted
_CACHE: weakref.WeakKeyDictionary[MemoryStore, dict[_Slot, _Cached]] = weakref.WeakKeyDictionary()


def archive_index(store: MemoryStore, ns: tuple[str, ...], kind: str | None = "message",
                  include_deleted: bool = False) -> tuple[ArchiveIndex, dict[str, MemoryRecord]]:
    """The cached index of a namespace's (live) records of ``kind`` (None: every kind),
    rebuilt when the namespace changed."""
    # the row count (all kinds, O(1)) also catches writes by other processes
    stamp = (store.generation(ns), store.count(ns, include_deleted=True))
    slot = (ns, kind, include_deleted)
    with _lock:
        hit = _CACHE.get(store, {}).get(slot)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
    data = store.vectors(ns, kind=kind, include_deleted=include_deleted)
    records = [r for r, _ in data]
    metas = [r.metadata for r in records]
    positions = [(m.get("conversation", ""), m.get("session", 0), m.get("turn", n))
                 for n, m in enumerate(metas)]
    index = ArchiveIndex.build([r.id for r in records], [r.text for r in records], [v for _, v in data],
                               positions, [str(m.get("speaker", "")) for m in metas],
                               # a message is dated when it was said (metadata), never when it was archived
                               [metadata_date(r.metadata, None if kind == "message" else r.updated_at)
                                for r in records])
    by_key = {r.id: r for r in records}
    with _lock:
        _CACHE.setdefault(store, {})[slot] = (stamp, index, by_key)
    return index, by_key


def hybrid_search(store: MemoryStore, ns: tuple[str, ...], query: str, allowed: set[str] | None,
                  limit: int, offset: int, ranker: HybridRanker | None = None) -> list[MemoryRecord]:
    """Rank live messages of ``ns`` for ``query``; ``allowed`` (keys) restricts the results."""
    return _ranked(store, ns, "message", False, query, ranker or store.archive_ranker or HybridRanker(),
                   allowed, limit, offset)


def memory_search(store: MemoryStore, ns: tuple[str, ...], query: str, allowed: set[str] | None,
                  limit: int, offset: int, kind: str | None, include_deleted: bool,
                  ranker: MemoryRanker | Any = None) -> list[MemoryRecord]:
    """Rank the records of ``ns`` (of ``kind``) with a :class:`MemoryRanker`; ``allowed`` restricts."""
    return _ranked(store, ns, kind, include_deleted, query, ranker or MemoryRanker(), allowed, limit, offset)


def _ranked(store: MemoryStore, ns: tuple[str, ...], kind: str | None, include_deleted: bool, query: str,
            ranker: Any, allowed: set[str] | None, limit: int, offset: int) -> list[MemoryRecord]:
    vector: list[float] | None = None
    for attempt in range(2):
        index, by_key = archive_index(store, ns, kind, include_deleted)
        if not len(index):
            return []
        if vector is None:
            [vector] = store.embedder.embed([query])
        candidates = None if allowed is None else [i for i, k in enumerate(index.keys) if k in allowed]
        ranked = ranker.rank(index, query, vector, candidates)[offset : offset + limit]
        hits = [by_key[key].model_copy(update={"score": float(score)}) for key, score in ranked]
        if attempt or _unchanged_elsewhere(store, ns, hits):
            break
        with _lock:  # another process changed a hit: rebuild from what the server holds now
            _CACHE.get(store, {}).pop((ns, kind, include_deleted), None)
    return hits


def _unchanged_elsewhere(store: MemoryStore, ns: tuple[str, ...], hits: list[MemoryRecord]) -> bool:
    """Whether the hits are still as the store holds them. Only a store on a Chroma server can be
    written by other processes unseen by this one's generation counter; an update or a delete
    there keeps the row count, so the cached index would go on returning what was deleted."""
    if store.backend != "http" or not hits:
        return True
    now = {r.id: r for r in store.search(ns, keys=[h.id for h in hits], include_deleted=True, limit=len(hits))}
    return all(h.id in now and (now[h.id].version, now[h.id].deleted) == (h.version, h.deleted) for h in hits)
