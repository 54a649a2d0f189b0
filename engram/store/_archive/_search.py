"""``MemoryStore.search(ns, query, kind="message")``: hybrid ranking over archived turns.

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

Only the store's public methods are used (:meth:`MemoryStore.vectors`,
:meth:`MemoryStore.generation`, ``store.embedder``); the cache is kept here,
per store object, and goes away with the store.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from engram.store._archive._ranking import ArchiveIndex, HybridRanker
from engram.store._record import MemoryRecord

if TYPE_CHECKING:
    from engram.store._store import MemoryStore

_lock = threading.Lock()
_Cached = tuple[tuple[int, int], ArchiveIndex, dict[str, MemoryRecord]]
_CACHE: weakref.WeakKeyDictionary[MemoryStore, dict[tuple[str, ...], _Cached]] = weakref.WeakKeyDictionary()


def archive_index(store: MemoryStore, ns: tuple[str, ...]) -> tuple[ArchiveIndex, dict[str, MemoryRecord]]:
    """The cached index of a namespace's live messages, rebuilt when the namespace changed."""
    # the row count (all kinds, O(1)) also catches writes by other processes
    stamp = (store.generation(ns), store.count(ns, include_deleted=True))
    with _lock:
        hit = _CACHE.get(store, {}).get(ns)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
    data = store.vectors(ns, kind="message")
    records = [r for r, _ in data]
    metas = [r.metadata for r in records]
    positions = [(m.get("conversation", ""), m.get("session", 0), m.get("turn", n))
                 for n, m in enumerate(metas)]
    index = ArchiveIndex.build([r.id for r in records], [r.text for r in records], [v for _, v in data],
                               positions, [str(m.get("speaker", "")) for m in metas])
    by_key = {r.id: r for r in records}
    with _lock:
        _CACHE.setdefault(store, {})[ns] = (stamp, index, by_key)
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
