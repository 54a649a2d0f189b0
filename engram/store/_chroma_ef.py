"""engram's embedders as a Chroma embedding function, registered under the name ``"engram"``.

Chroma stores an embedding function's name and config with each collection and
rebuilds it on ``get_collection`` from its registry. Registering this class
(done when this module is imported, which the store does before opening
collections) means a collection written by engram reopens, in a new process or
from plain ``chromadb`` code, with the same embedder::

    import engram.store._chroma_ef                        # registers "engram"
    col = chromadb.PersistentClient(".engram/chroma").get_collection("engram-m-...")
    col._embedding_function.get_config()                  # {'embedder': 'all-MiniLM-L6-v2'}

This module imports chromadb; import it lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from engram.store._embeddings import ChromaFunctionEmbedder, Embedder, _chroma_name, get_embedder


@register_embedding_function
class EngramEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma adapter for an engram :class:`~engram.store._embeddings.Embedder` spec."""

    def __init__(self, spec: str = "all-MiniLM-L6-v2", embedder: Any = None) -> None:
        self.spec = spec
        self._embedder = embedder  # resolved lazily: building from config must not load a model

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = get_embedder(self.spec)
        return self._embedder

    def __call__(self, input: Documents) -> Embeddings:
        return [np.asarray(v, dtype=np.float32) for v in self.embedder.embed(list(input))]

    @staticmethod
    def name() -> str:
        return "engram"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> EngramEmbeddingFunction:
        return EngramEmbeddingFunction(config.get("embedder", "all-MiniLM-L6-v2"))

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.spec}

    def default_space(self) -> Space:  # vectors are unit length: cosine is the natural metric
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]


def chroma_function(embedder: Embedder) -> EmbeddingFunction:
    """``embedder`` as the Chroma ``EmbeddingFunction`` a collection stores (registered as ``"engram"``).

    A wrapped Chroma function is handed back as itself, so Chroma records its own name.
    """
    if isinstance(embedder, ChromaFunctionEmbedder) and _chroma_name(embedder.function) is not None:
        return embedder.function
    # anything else, a plain texts -> vectors callable included: Chroma needs name() / get_config()
    return EngramEmbeddingFunction(embedder.spec, embedder=embedder)
