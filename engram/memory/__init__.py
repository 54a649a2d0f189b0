"""Memory storage: records, namespaces, embeddings, the Chroma store and archive ranking.

Example::

    from engram.memory import MemoryStore, NamespaceTemplate
    store = MemoryStore.in_memory()
    ns = NamespaceTemplate(("memories", "{user_id}")).fill({"user_id": "u1"})
    store.put(ns, "lang", "prefers Python")
    store.search(ns, "which language?")[0].content   # 'prefers Python'

Light names (records, namespaces, filters) import eagerly; the store and the
embedders load chromadb / torch only when first used.
"""

from __future__ import annotations

from engram._lazy import lazy_exports
from engram.memory.namespaces import NamespaceTemplate, validate_namespace
from engram.memory.record import MemoryRecord, Provenance

_LAZY = {
    "MemoryStore": "engram.memory.store",
    "Embedder": "engram.memory.embeddings",
    "get_embedder": "engram.memory.embeddings",
    "embed_texts": "engram.memory.embeddings",
    "normalize_metadata": "engram.memory.filters",
    "HybridRanker": "engram.memory.archive.ranking",
}


__all__ = ["MemoryRecord", "Provenance", "NamespaceTemplate", "validate_namespace", "MemoryStore",
           "Embedder", "get_embedder", "embed_texts", "normalize_metadata", "HybridRanker"]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
