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

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engram.memory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["MemoryRecord", "Provenance", "NamespaceTemplate", "validate_namespace", "MemoryStore",
           "Embedder", "get_embedder", "embed_texts", "normalize_metadata", "HybridRanker"]
