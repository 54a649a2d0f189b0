"""Embedders and reopening a persistent store in a new process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

import engram


def test_minilm_is_normalized_batched_and_cached(embedder):
    from engram.store import embed_texts, get_embedder

    vecs = embedder.embed([f"text number {i}" for i in range(70)])  # more than one batch
    assert len(vecs) == 70 and len(vecs[0]) == 384
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in vecs)
    assert get_embedder("all-MiniLM-L6-v2") is embedder           # loaded once per process
    tea, tea2, car = embed_texts(["likes tea", "enjoys drinking tea", "repairs cars"], embedder)
    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    assert dot(tea, tea2) > dot(tea, car)
    with pytest.raises(TypeError, match="list of texts"):
        embedder.embed("not a list")


def test_unknown_embedder_spec_is_a_configuration_error():
    from engram.store import get_embedder

    with pytest.raises(engram.ConfigurationError, match="Unknown embedder"):
        get_embedder("word2vec")
    with pytest.raises(engram.ConfigurationError, match="needs a model"):
        get_embedder("litellm:")


def test_litellm_spec_builds_a_litellm_embedder():
    from engram.store._embeddings import LiteLLMEmbedder, get_embedder

    emb = get_embedder("litellm:text-embedding-3-small")
    assert isinstance(emb, LiteLLMEmbedder) and emb.model == "text-embedding-3-small"


def test_any_chroma_embedding_function_can_be_used(embedder):
    from chromadb.api.types import EmbeddingFunction

    from engram.store import MemoryStore

    class Lengths(EmbeddingFunction):  # a user's own Chroma function
        def __init__(self):
            pass

        def __call__(self, input):
            return [[float(len(t)), 1.0, 0.5] for t in input]

    store = MemoryStore.in_memory(embedder=Lengths())
    store.put(("n",), "short", "ab")
    store.put(("n",), "long", "a much longer text")
    assert store.search(("n",), "x" * 18)[0].id == "long"


def test_chroma_rebuilds_engram_function_from_config():
    from chromadb.utils.embedding_functions import config_to_embedding_function

    from engram.store._chroma_ef import EngramEmbeddingFunction

    ef = config_to_embedding_function({"name": "engram", "config": {"embedder": "all-MiniLM-L6-v2"}})
    assert isinstance(ef, EngramEmbeddingFunction) and ef.get_config() == {"embedder": "all-MiniLM-L6-v2"}


def test_persistent_store_reopens_in_a_new_process(tmp_path, embedder):
    from engram.store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "db", embedder=embedder)
    store.put(("memories", "u1"), "city", "The user lives in Lyon", metadata={"topic": "place"})
    store.put(("memories", "u1"), "city", "The user lives in Paris", metadata={"topic": "place"})
    del store
    script = textwrap.dedent(f"""
        import json, chromadb
        from engram.store import MemoryStore
        store = MemoryStore.persistent({str(tmp_path / 'db')!r})   # no embedder given
        hit = store.search(("memories", "u1"), "which city?")[0]
        # plain chromadb rebuilds the collection's function from its stored config
        from chromadb.config import Settings
        raw = chromadb.PersistentClient({str(tmp_path / 'db')!r}, settings=Settings(anonymized_telemetry=False))
        name = [c.name for c in raw.list_collections() if c.name.startswith("engram-m-")][0]
        col = raw.get_collection(name)
        print(json.dumps({{"spec": store.embedder.spec, "content": hit.content, "version": hit.version,
                          "history": [h.content for h in store.history(("memories", "u1"), "city")],
                          "ef": type(col.configuration["embedding_function"]).__name__,
                          "ef_config": col.configuration["embedding_function"].get_config(),
                          "raw_query": col.query(query_texts=["which city?"], n_results=1)["documents"][0],
                          "namespaces": store.list_namespaces()}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["spec"] == "all-MiniLM-L6-v2" and data["content"] == "The user lives in Paris"
    assert data["version"] == 2 and data["history"] == ["The user lives in Lyon", "The user lives in Paris"]
    assert data["ef"] == "EngramEmbeddingFunction" and data["ef_config"] == {"embedder": "all-MiniLM-L6-v2"}
    assert data["raw_query"] == ["The user lives in Paris"]  # embedded by engram's function, no download
    assert data["namespaces"] == [["memories", "u1"]]


def test_litellm_embedder_batches_and_normalizes(monkeypatch):
    import litellm

    from engram.store._embeddings import LiteLLMEmbedder

    calls = []

    def fake_embedding(model, input):  # stand-in for a provider: no network here
        calls.append((model, list(input)))
        # answer out of order, as some providers do; the embedder must sort by index
        data = [{"index": i, "embedding": [float(len(t)), 0.0, 3.0]} for i, t in enumerate(input)]
        return type("Response", (), {"data": list(reversed(data))})()

    monkeypatch.setattr(litellm, "embedding", fake_embedding)
    emb = LiteLLMEmbedder("text-embedding-3-small")
    emb.batch_size = 2
    vecs = emb.embed(["abcd", "a", "abc"])
    assert [c[1] for c in calls] == [["abcd", "a"], ["abc"]] and calls[0][0] == "text-embedding-3-small"
    assert vecs[0] == pytest.approx([0.8, 0.0, 0.6]) and vecs[1] == pytest.approx([1 / math.sqrt(10), 0, 3 / math.sqrt(10)])
