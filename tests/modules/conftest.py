"""Fixtures for the memory-module tests: an in-memory store with a cheap word-hash embedder.

The word-hash embedder is a test stand-in (texts sharing words are close); MiniLM is
used only where embedding quality matters (memory_f1).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from engram.store._embeddings import Embedder

DIM = 128


class WordHashEmbedder(Embedder):
    """Bag of hashed lower-case words: deterministic, instant, no model (a stand-in)."""

    spec = "test:word-hash"

    def _embed(self, texts):
        out = []
        for text in texts:
            vec = [0.0] * DIM
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            vec[0] += 1e-3  # never the zero vector
            out.append(vec)
        return out


@pytest.fixture
def store():
    from engram.store import MemoryStore

    return MemoryStore.in_memory(embedder=WordHashEmbedder())


def ops(*items) -> str:
    """JSON Lines, the extraction answer format."""
    return "\n".join(json.dumps(i) for i in items)
