"""``MemoryStore.search(kind="message")``: hybrid ranking over a namespace's archived turns."""

from __future__ import annotations

from typing import Any

from engram.memory.codec import from_row
from engram.memory.collections import chroma_errors


def hybrid_search(store: Any, ns: tuple[str, ...], col: Any, query: str, where: dict | None,
                  keys: list[str] | None, limit: int, offset: int) -> list[Any]:
    """Dense-only placeholder until the hybrid ranker lands (same signature)."""
    [vector] = store._embed([query])
    with chroma_errors(f"search {ns!r}"):
        got = col.query(query_embeddings=[vector], n_results=limit + offset, where=where, ids=keys,
                        include=["documents", "metadatas", "distances"])
    out = [from_row(ns, i, d, m or {}, score=1.0 - float(s))
           for i, d, m, s in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                 got["distances"][0])]
    return out[offset:]
