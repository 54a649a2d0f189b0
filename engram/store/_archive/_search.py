"""``MemoryStore.search(ns, query, kind="message")`` and ``search(..., ranking="hybrid")``: hybrid ranking.

Archive a conversation as messages with their position in metadata, then search::

    store.put_many(ns, [{"key": "D1:3", "kind": "message", "content": "I went to a support group",
                         "text": "Caroline: I went to a support group",
                         "metadata": {"conversation": "c1", "session": 1, "turn": 3, "speaker": "Caroline"}}])
    store.search(ns, "When did Caroline go to the support group?", kind="message", limit=10)

The namespace's live messages are loaded once into an :class:`ArchiveIndex`
(vectors + BM25 + turn order) and cached until the namespace is written again,
so each query is a matrix-vector product and a BM25 lookup in this process.
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
    index, by_key = archive_index(store, ns)
    if not len(index):
        return []
    [vector] = store.embedder.embed([query])
    ranker = ranker or store.archive_ranker or HybridRanker()
    candidates = None if allowed is None else [i for i, k in enumerate(index.keys) if k in allowed]
    ranked = ranker.rank(index, query, vector, candidates)[offset : offset + limit]
    return [by_key[key].model_copy(update={"score": float(score)}) for key, score in ranked]


def memory_search(store: MemoryStore, ns: tuple[str, ...], query: str, allowed: set[str] | None,
                  limit: int, offset: int, kind: str | None, include_deleted: bool,
                  ranker: MemoryRanker | Any = None) -> list[MemoryRecord]:
    """Rank the records of ``ns`` (of ``kind``) with a :class:`MemoryRanker`; ``allowed`` restricts."""
    index, by_key = archive_index(store, ns, kind, include_deleted)
    if not len(index):
        return []
    [vector] = store.embedder.embed([query])
    ranker = ranker or MemoryRanker()
    candidates = None if allowed is None else [i for i, k in enumerate(index.keys) if k in allowed]
    ranked = ranker.rank(index, query, vector, candidates)[offset : offset + limit]
    return [by_key[key].model_copy(update={"score": float(score)}) for key, score in ranked]
