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
from engram.store._namespaces import (
    INTERNAL_PREFIX,
    Namespace,
    NamespaceTemplate,
    is_internal,
    validate_namespace,
)
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
    "filter_from_items": "engram.store._filters",
    "FILTER_ITEMS_SCHEMA": "engram.store._filters",
    "MemoryRanker": "engram.store._archive._ranking",
    "HybridRanker": "engram.store._archive._ranking",
    "Ledger": "engram.store._ledger",
    "TTLPolicy": "engram.store._expiry",
    "MemoryDiff": "engram.store._timetravel",
    "MemoryChange": "engram.store._timetravel",
    "StoreView": "engram.store._timetravel",
    "ExportReport": "engram.store._export",
    "ImportReport": "engram.store._export",
    "MicroBatcher": "engram.store._microbatch",
}


__all__ = [
    "FILTER_ITEMS_SCHEMA",
    "INTERNAL_PREFIX",
    "Embedder",
    "ExportReport",
    "HybridRanker",
    "ImportReport",
    "Ledger",
    "MemoryChange",
    "MemoryDiff",
    "MemoryRanker",
    "MemoryRecord",
    "MemoryStore",
    "MicroBatcher",
    "MiniLMEmbedder",
    "Namespace",
    "NamespaceTemplate",
    "OnnxMiniLMEmbedder",
    "Provenance",
    "StoreView",
    "TTLPolicy",
    "embed_texts",
    "export_onnx_model",
    "filter_from_items",
    "get_embedder",
    "is_internal",
    "normalize_metadata",
    "validate_namespace",
]

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.store._archive._ranking import (
        HybridRanker as HybridRanker,
        MemoryRanker as MemoryRanker,
    )
    from engram.store._embeddings import (
        Embedder as Embedder,
        MiniLMEmbedder as MiniLMEmbedder,
        OnnxMiniLMEmbedder as OnnxMiniLMEmbedder,
        embed_texts as embed_texts,
        get_embedder as get_embedder,
    )
    from engram.store._expiry import TTLPolicy as TTLPolicy
    from engram.store._export import ExportReport as ExportReport, ImportReport as ImportReport
    from engram.store._filters import (
        FILTER_ITEMS_SCHEMA as FILTER_ITEMS_SCHEMA,
        filter_from_items as filter_from_items,
        normalize_metadata as normalize_metadata,
    )
    from engram.store._ledger import Ledger as Ledger
    from engram.store._microbatch import MicroBatcher as MicroBatcher
    from engram.store._onnx import export_onnx_model as export_onnx_model
    from engram.store._store import MemoryStore as MemoryStore
    from engram.store._timetravel import (
        MemoryChange as MemoryChange,
        MemoryDiff as MemoryDiff,
        StoreView as StoreView,
    )
