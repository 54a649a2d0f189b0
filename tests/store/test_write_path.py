"""What a write reads and embeds: a remote embedder is spared unchanged texts (one read before
the lock), a local one embeds them instead of that read; either way an unchanged text keeps
its stored vector. Concurrent callers of a local embedder share model calls of at most
``MERGE_LIMIT`` texts."""

from __future__ import annotations

import math
import threading
import time

import pytest

from engram.store import Embedder, MemoryStore
from engram.store._embeddings import MERGE_LIMIT

NS = ("memories", "u1")


class Drifting(Embedder):
    """Each model call returns different vectors, so the test can see which call a stored vector came from."""

    spec = "test:drifting"

    def __init__(self, local: bool) -> None:
        self.local = local
        self.calls: list[list[str]] = []

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(self.calls)), 1.0, float(len(t))] for t in texts]


def _stored_vector(store: MemoryStore, key: str) -> list[float]:
    col = store._cols.get(NS)
    got = col.get(ids=[key], include=["embeddings"])
    return [round(float(x), 4) for x in got["embeddings"][0]]


def _reads(store: MemoryStore) -> list[list[str]]:
    seen: list[list[str]] = []
    read = store._read

    def spy(col, ns, keys):
        seen.append(list(keys))
        return read(col, ns, keys)

    store._read = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("local, reads_before_and_under_the_lock, model_calls", [
    (False, [["a"], ["a"]], 1),  # remote: read first, so the unchanged text is never sent again
    (True, [["a"]], 2),          # local: only the read under the lock (Chroma serves one call at a time)
])
def test_a_rewrite_keeps_an_unchanged_texts_vector(local, reads_before_and_under_the_lock, model_calls):
    embedder = Drifting(local=local)
    with MemoryStore.in_memory(embedder=embedder) as store:
        store.put(NS, "a", "prefers tea")
        first = _stored_vector(store, "a")
        reads = _reads(store)
        record = store.put(NS, "a", "prefers tea", metadata={"source": "chat"})
        assert reads == reads_before_and_under_the_lock
        assert len(embedder.calls) == model_calls
        assert record.version == 2 and record.metadata == {"source": "chat"}
        assert _stored_vector(store, "a") == first  # (embedded again if local, but the stored vector is kept)
        store.put(NS, "a", "prefers green tea")
        assert embedder.calls[-1] == ["prefers green tea"]
        raw = [float(len(embedder.calls)), 1.0, float(len("prefers green tea"))]  # the last call's vector
        norm = math.sqrt(sum(x * x for x in raw))
        assert _stored_vector(store, "a") == [round(x / norm, 4) for x in raw] != first


def test_the_default_embedders_are_local_and_litellm_is_not():
    from engram.store._embeddings import MiniLMEmbedder, OnnxMiniLMEmbedder, get_embedder

    assert OnnxMiniLMEmbedder.local and MiniLMEmbedder.local
    assert not get_embedder("litellm:text-embedding-3-small").local


class Slow(Embedder):
    spec = "test:slow"
    microbatch = True
    local = True

    def __init__(self) -> None:
        self.batches: list[int] = []

    def _embed_all(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        time.sleep(0.05)  # while it runs, the other callers queue
        return [[float(len(t)), 1.0] for t in texts]


def test_concurrent_callers_share_model_calls_of_at_most_the_merge_limit():
    embedder, callers = Slow(), 3 * MERGE_LIMIT
    start = threading.Barrier(callers)
    results: dict[int, list[list[float]]] = {}

    def call(i: int) -> None:
        start.wait()
        results[i] = embedder.embed([f"text number {i}"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(embedder.batches) == callers                          # every text embedded once
    assert max(embedder.batches) <= MERGE_LIMIT < callers              # never one batch for everyone
    assert len(embedder.batches) < callers                           # but merged: fewer calls than callers
    assert all(results[i][0][0] == float(len(f"text number {i}")) for i in range(callers))


class Axis(Embedder):
    """A text's vector points along the axis its first word names (a stand-in)."""

    spec = "test:axis"
    local = True

    def _embed(self, texts: list[str]) -> list[list[float]]:
        axes = {"tea": 0, "coffee": 1, "cats": 2}
        return [[1.0 if i == axes.get(t.split()[0], 2) else 0.01 for i in range(3)] for t in texts]


def test_a_search_asks_chroma_once_and_never_counts_first(monkeypatch):
    from chromadb.api.models.Collection import Collection

    calls: list[str] = []
    for name in ("count", "query"):
        method = getattr(Collection, name)

        def spy(self, *args, _method=method, _name=name, **kwargs):
            calls.append(_name)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, spy)
    with MemoryStore.in_memory(embedder=Axis()) as store:
        store.put_many(NS, [{"key": k, "content": f"{k} lover"} for k in ("tea", "coffee", "cats")])
        calls.clear()
        hits = store.search(NS, "coffee please", limit=5, ranking="dense")  # asks for more rows than there are
        assert [h.id for h in hits][:1] == ["coffee"] and len(hits) == 3
        assert calls == ["query"]
        for key in ("tea", "coffee", "cats"):
            store.purge(NS, key)
        calls.clear()
        assert store.search(NS, "coffee please", limit=5, ranking="dense") == []  # emptied: no error
        assert "count" not in calls


def test_mutate_runs_fn_again_when_another_writer_moved_the_version(mem_store):
    """A writer on another machine is stood in for by a write made from inside ``fn`` (the
    namespace lock is re-entrant): the version moves between mutate's read and its write."""
    import engram

    ns = ("counter",)
    mem_store.put(ns, "c", {"n": 0})
    seen: list[int] = []

    def add_one(record):
        seen.append(record.version)
        if len(seen) == 1:
            mem_store.put(ns, "c", {"n": 100})
        return {"content": {"n": record.content["n"] + 1}}

    result = mem_store.mutate(ns, "c", add_one)
    assert seen == [1, 2] and result.content == {"n": 101} and result.version == 3

    seen.clear()
    with pytest.raises(engram.ConflictError):  # an explicit expected_version is never retried
        mem_store.mutate(ns, "c", add_one, expected_version=3)
    assert seen == [3]

    def always_raced(record):
        seen.append(record.version)
        mem_store.put(ns, "c", {"n": 0})
        return {"content": {"n": -1}}

    seen.clear()
    with pytest.raises(engram.ConflictError):
        mem_store.mutate(ns, "c", always_raced)
    assert len(seen) == 8  # then it gives up
