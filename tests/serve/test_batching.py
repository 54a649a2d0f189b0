"""Embeddings of concurrent requests are batched: same vectors, fewer model calls, errors reach everyone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from engram.serve._batching import BatchingEmbedder
from engram.store import Embedder


class Gate(Embedder):
    """A deterministic stand-in embedder whose first call blocks until released."""

    spec = "test:gate"

    def __init__(self, fail: bool = False):
        self.calls: list[list[str]] = []
        self.release, self.entered, self.fail = threading.Event(), threading.Event(), fail

    def _embed(self, texts):
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.entered.set()
            self.release.wait(10)
        if self.fail:
            raise RuntimeError("model crashed")
        return [vector(t) for t in texts]


def vector(text: str) -> list[float]:
    values = [float(len(text)), float(sum(map(ord, text)) % 97), 1.0]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def test_concurrent_queries_share_one_model_call_and_get_their_own_vectors():
    inner = Gate()
    batched = BatchingEmbedder(inner)
    assert batched.spec == "test:gate"
    texts = [f"query number {i}" * (i + 1) for i in range(9)]
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batched.embed, [texts[0]])
        assert inner.entered.wait(10)                    # the first call holds the model
        rest = [pool.submit(batched.embed, [t]) for t in texts[1:]]
        while sum(len(t.texts) for t in batched._queue) < 8:
            threading.Event().wait(0.01)
        inner.release.set()
        results = [first.result(), *(f.result() for f in rest)]
    assert [len(c) for c in inner.calls] == [1, 8]      # the 8 waiting queries went in one call
    assert results == [[pytest.approx(vector(t))] for t in texts]


def test_a_model_error_reaches_every_waiter():
    inner = Gate(fail=True)
    batched = BatchingEmbedder(inner)
    with ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(batched.embed, ["a"])]
        assert inner.entered.wait(10)
        calls += [pool.submit(batched.embed, ["b"]), pool.submit(batched.embed, ["c"])]
        inner.release.set()
        for call in calls:
            with pytest.raises(RuntimeError, match="model crashed"):
                call.result(timeout=10)
    assert batched.embed([]) == []
