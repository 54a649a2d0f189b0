"""Bad input gives clear errors and leaves stored data intact."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

import engram
from engram.store._filters import normalize_metadata, to_where

NS = ("memories", "u1")


def test_metadata_is_normalized_or_refused_clearly():
    at = datetime(2024, 1, 2, tzinfo=UTC)
    assert normalize_metadata({"a": None, "b": [], "c": at, "d": {1, 2}, "e": [1, 2.5]}) == {
        "c": at.isoformat(), "d": [1, 2], "e": [1.0, 2.5]}
    with pytest.raises(engram.ValidationError, match="nested dict.*Flatten"):
        normalize_metadata({"user": {"id": 1}})
    with pytest.raises(engram.ValidationError, match="mixes"):
        normalize_metadata({"tags": ["a", 1]})
    with pytest.raises(engram.ValidationError, match="inside a list"):
        normalize_metadata({"tags": [{"x": 1}]})
    with pytest.raises(engram.ValidationError, match="reserved|'_'"):
        normalize_metadata({"_kind": "x"})
    with pytest.raises(engram.ValidationError, match="finite"):
        normalize_metadata({"x": float("nan")})


def test_invalid_filters_are_refused():
    assert to_where({"a": 1, "b": {"$in": [1, 2]}}) == {"$and": [{"a": {"$eq": 1}}, {"b": {"$in": [1, 2]}}]}
    for bad, msg in [({"a": {"$regex": "x"}}, "unknown operator"), ({"a": {"$gt": "x"}}, "numbers"),
                     ({"$or": []}, "non-empty list"), ({"a": {"$in": []}}, "non-empty list"),
                     ({"a": [1, 2]}, "filter values"), ("topic=food", "must be a dict"),
                     ({"$xor": [{"a": 1}]}, "unknown operator"), ({"a": {"$eq": 1, "$ne": 2}}, "one operator")]:
        with pytest.raises(engram.ValidationError, match=msg):
            to_where(bad)


def test_store_refuses_bad_writes_and_keeps_data(mem_store):
    mem_store.put(NS, "k", "original", metadata={"x": 1})
    with pytest.raises(engram.ValidationError, match="nested dict"):
        mem_store.put(NS, "k", "changed", metadata={"x": {"y": 1}})
    with pytest.raises(engram.ValidationError, match="over the store's limit"):
        mem_store.put(NS, "k", "x" * 70_000)
    with pytest.raises(engram.ValidationError, match="no content"):
        mem_store.put(NS, "k2")
    with pytest.raises(engram.ValidationError, match="JSON-serializable"):
        mem_store.put(NS, "k", {"obj": object()})
    with pytest.raises(engram.ValidationError, match="unknown operator"):
        mem_store.search(NS, "x", filter={"x": {"$like": 1}})
    with pytest.raises(engram.ValidationError, match="limit"):
        mem_store.search(NS, "x", limit=0)
    rec = mem_store.get(NS, "k")
    assert rec.content == "original" and rec.version == 1


def test_put_many_is_all_or_nothing(mem_store):
    mem_store.put(NS, "a", "old a")
    items = [{"key": "a", "content": "new a"}, {"key": "b", "content": "b"},
             {"key": "c", "content": "c", "metadata": {"bad": {"nested": 1}}}]
    with pytest.raises(engram.ValidationError, match="item 2"):
        mem_store.put_many(NS, items)
    with pytest.raises(engram.ValidationError, match="unknown keys"):
        mem_store.put_many(NS, [{"key": "b", "content": "b", "colour": "red"}])
    with pytest.raises(engram.ValidationError, match="twice"):
        mem_store.put_many(NS, [{"key": "b", "content": "1"}, {"key": "b", "content": "2"}])
    with pytest.raises(engram.ConflictError):
        mem_store.put_many(NS, [{"key": "b", "content": "b"}, {"key": "a", "content": "x", "expected_version": 7}])
    assert mem_store.get(NS, "a").content == "old a" and mem_store.get(NS, "b") is None
    assert [h.version for h in mem_store.history(NS, "a")] == [1]


def test_put_many_failure_inside_chroma_rolls_back(mem_store, monkeypatch):
    mem_store.put(NS, "a", "old a")
    monkeypatch.setattr(mem_store, "_batch_size", lambda: 1)  # two chunks: first lands, second fails
    col = mem_store._cols.get(NS)
    calls = []

    def flaky(real):
        def write(**kwargs):
            calls.append(kwargs["ids"])
            if len(calls) == 2:
                raise RuntimeError("disk full")
            return real(**kwargs)
        return write

    real_add, real_upsert = col.add, col.upsert
    monkeypatch.setattr(col, "add", flaky(real_add))
    monkeypatch.setattr(col, "upsert", flaky(real_upsert))
    with pytest.raises(engram.StoreError, match="disk full"):
        mem_store.put_many(NS, [{"key": "a", "content": "new a"}, {"key": "b", "content": "b"},
                                {"key": "c", "content": "c"}])
    monkeypatch.setattr(col, "add", real_add)
    monkeypatch.setattr(col, "upsert", real_upsert)
    assert calls[0] == ["a"] or calls[0] == ["b"]   # the first chunk landed before the failure
    assert mem_store.get(NS, "c") is None
    assert mem_store.get(NS, "a").content == "old a" and mem_store.get(NS, "a").version == 1
    assert mem_store.get(NS, "b") is None
    assert [h.version for h in mem_store.history(NS, "a")] == [1]


def test_server_down_is_a_clear_error_within_timeout():
    import socket

    from engram.store import MemoryStore

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(engram.StoreError, match="cannot reach the Chroma server"):
        MemoryStore.http(f"http://127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("url", ["not a url", "ftp://chroma:8000", "", "http://"])
def test_a_malformed_chroma_url_is_a_configuration_error_not_an_unreachable_host(url):
    from engram.store import MemoryStore

    with pytest.raises(engram.ConfigurationError, match=r"is not http\(s\)://host:port, e\.g\. http://127"):
        MemoryStore.http(url)


def test_hanging_server_times_out():
    import socket

    from engram.store import MemoryStore

    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(engram.StoreError, match="did not answer within 1s"):
            MemoryStore.http(f"http://127.0.0.1:{port}", timeout=1)


def test_mismatched_embedder_is_refused(tmp_path, embedder):
    from engram.store import MemoryStore
    from engram.store._embeddings import Embedder

    class Tiny(Embedder):
        spec = "test:tiny"

        def _embed(self, texts):
            return [[float(len(t)), 1.0] for t in texts]

    MemoryStore.persistent(tmp_path, embedder=embedder).put(NS, "k", "x")
    with pytest.raises(engram.ConfigurationError, match="written with embedder"):
        MemoryStore.persistent(tmp_path, embedder=Tiny())


def test_server_dying_mid_session_is_a_store_error(own_server, embedder):
    from engram.store import MemoryStore

    store = MemoryStore.http(own_server.url, embedder=embedder, timeout=2)
    store.put(NS, "k", "before the crash")
    own_server.stop()
    start = time.monotonic()
    with pytest.raises(engram.StoreError, match="Chroma failed to"):
        store.get(NS, "k")
    with pytest.raises(engram.StoreError):
        store.put(NS, "k2", "after the crash")
    assert time.monotonic() - start < 30
