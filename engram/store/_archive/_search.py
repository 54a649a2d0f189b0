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
"""

from __future__ import annotations

import threading
from typing import Any

from engram.store._archive._ranking import ArchiveIndex, HybridRanker
from engram.store._codec import from_row, rows
from engram.store._collections import chroma_errors

_MESSAGES = {"$and": [{"_kind": "message"}, {"_deleted": False}]}
_lock = threading.Lock()


def archive_index(store: Any, ns: tuple[str, ...], col: Any) -> tuple[ArchiveIndex, dict[str, Any]]:
    """The cached index of a namespace's messages, rebuilt when the namespace changed."""
    stamp = (store._cols.generation(ns), col.count())
    cache = store.__dict__.setdefault("_archive_cache", {})
    with _lock:
        hit = cache.get(ns)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
    with chroma_errors(f"load the message archive of {ns!r}"):
        got = col.get(where=_MESSAGES, include=["documents", "metadatas", "embeddings"])
    data = rows(got)
    keys = [i for i, _, _, _ in data]
    metas = [m for _, _, m, _ in data]
    positions = [(m.get("conversation", ""), m.get("session", 0), m.get("turn", n))
                 for n, m in enumerate(metas)]
    index = ArchiveIndex.build(keys, [d or "" for _, d, _, _ in data], [e for _, _, _, e in data],
                               positions, [str(m.get("speaker", "")) for m in metas])
    rowmap = {i: (d, m) for i, d, m, _ in data}
    with _lock:
        cache[ns] = (stamp, index, rowmap)
    return index, rowmap


def hybrid_search(store: Any, ns: tuple[str, ...], col: Any, query: str, where: dict | None,
                  keys: list[str] | None, limit: int, offset: int,
                  ranker: HybridRanker | None = None) -> list[Any]:
    """Rank live messages of ``ns`` for ``query``; ``where`` / ``keys`` restrict the results."""
    index, rowmap = archive_index(store, ns, col)
    if not len(index):
        return []
    allowed: set[str] | None = None
    if keys is not None or (where is not None and where != _MESSAGES):
        with chroma_errors(f"filter the message archive of {ns!r}"):
            allowed = set(col.get(ids=keys, where=where, include=[])["ids"])
    [vector] = store._embed([query])
    ranker = ranker or getattr(store, "archive_ranker", None) or HybridRanker()
    candidates = None
    if allowed is not None:
        candidates = [i for i, k in enumerate(index.keys) if k in allowed]
    ranked = ranker.rank(index, query, vector, candidates)[offset : offset + limit]
    return [from_row(ns, key, rowmap[key][0], rowmap[key][1], score=score) for key, score in ranked]
