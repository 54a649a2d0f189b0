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

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports
from engram.store._namespaces import Namespace, NamespaceTemplate, validate_namespace
from engram.store._record import MemoryRecord, Provenance

_LAZY = {
    "MemoryStore": "engram.store._store",
    "Embedder": "engram.store._embeddings",
    "get_embedder": "engram.store._embeddings",
    "embed_texts": "engram.store._embeddings",
    "OnnxMiniLMEmbedder": "engram.store._embeddings",
    "MiniLMEmbedder": "engram.store._embeddings",
    "export_onnx_model": "engram.store._onnx",
    "normalize_metadata": "engram.store._filters",
    "HybridRanker": "engram.store._archive._ranking",
    "Ledger": "engram.store._ledger",
    "MicroBatcher": "engram.store._microbatch",
}


__all__ = [
    "Embedder",
    "HybridRanker",
    "Ledger",
    "MemoryRecord",
    "MemoryStore",
    "MicroBatcher",
    "MiniLMEmbedder",
    "Namespace",
    "NamespaceTemplate",
    "OnnxMiniLMEmbedder",
    "Provenance",
    "embed_texts",
    "export_onnx_model",
    "get_embedder",
    "normalize_metadata",
    "validate_namespace",
]

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.store._archive._ranking import HybridRanker as HybridRanker
    from engram.store._embeddings import (
        Embedder as Embedder,
        MiniLMEmbedder as MiniLMEmbedder,
        OnnxMiniLMEmbedder as OnnxMiniLMEmbedder,
        embed_texts as embed_texts,
        get_embedder as get_embedder,
    )
    from engram.store._filters import normalize_metadata as normalize_metadata
    from engram.store._ledger import Ledger as Ledger
    from engram.store._microbatch import MicroBatcher as MicroBatcher
    from engram.store._onnx import export_onnx_model as export_onnx_model
    from engram.store._store import MemoryStore as MemoryStore
