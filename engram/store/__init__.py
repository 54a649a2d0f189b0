"""Memory storage: records, namespaces, embeddings, the Chroma store and archive ranking.

Example::

    from engram.store import MemoryStore, NamespaceTemplate
    store = MemoryStore.in_memory()
    ns = NamespaceTemplate(("memories", "{user_id}")).fill({"user_id": "u1"})
    store.put(ns, "lang", "prefers Python")
    store.search(ns, "which language?")[0].content   # 'prefers Python'

Light names (records, namespaces, filters) import eagerly; the store and the
embedders load chromadb / torch only when first used.
"""

from __future__ import annotations

from engram._lazy import lazy_exports
from engram.store._namespaces import Namespace, NamespaceTemplate, validate_namespace
from engram.store._record import MemoryRecord, Provenance

_LAZY = {
    "MemoryStore": "engram.store._store",
    "Embedder": "engram.store._embeddings",
    "get_embedder": "engram.store._embeddings",
    "embed_texts": "engram.store._embeddings",
    "normalize_metadata": "engram.store._filters",
    "HybridRanker": "engram.store._archive._ranking",
    "Ledger": "engram.store._ledger",
}


__all__ = [
    "Embedder",
    "HybridRanker",
    "Ledger",
    "MemoryRecord",
    "MemoryStore",
    "Namespace",
    "NamespaceTemplate",
    "Provenance",
    "embed_texts",
    "get_embedder",
    "normalize_metadata",
    "validate_namespace",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
