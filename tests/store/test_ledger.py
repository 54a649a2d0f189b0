"""Ledgers (bookkeeping without embeddings), internal namespaces hidden, archive through public methods."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import engram
from engram.store import Embedder, MemoryStore
from engram.store._ledger_tables import LEDGER, SQLITE_NAME

NS = ("memories", "u1")


class Counting(Embedder):
    spec = "test:counting"

    def __init__(self):
        self.texts = 0

    def _embed(self, texts):
        self.texts += len(texts)
        return [[float(len(t)), 1.0, 0.5] for t in texts]


def test_ledger_marks_checks_and_removes_without_embedding(store):
    ledger = store.ledger(NS)
    embedded_before = _embedded(store)
    ledger.mark(["t1", "t2"], {"written": 2})
    ledger.mark("t3", [{"written": 0}])
    assert ledger.has(["t1", "t3", "t9"]) == {"t1", "t3"} and "t2" in ledger and "t9" not in ledger
    assert ledger.get("t1")["written"] == 2 and ledger.get("t1")["at"].year >= 2024
    assert ledger.get("nope") is None and sorted(ledger.ids()) == ["t1", "t2", "t3"]
    assert ledger.remove(["t2", "t9"]) == 1 and ledger.has(["t2"]) == set()
    assert _embedded(store) == embedded_before       # bookkeeping costs no embedding
    assert store.list_namespaces() == [] and store.count(NS) == 0   # and is no memory
    assert store.ledger(("memories", "u2")).has(["t1"]) == set()   # scoped to its namespace
    assert store.ledger(NS).count() == 2


def _embedded(store):
    return getattr(store.embedder, "texts", None)


def test_ledger_on_a_counting_embedder_embeds_nothing():
    emb = Counting()
    with MemoryStore.in_memory(embedder=emb) as store:
        store.ledger(NS).mark([f"t{i}" for i in range(50)], {"written": 1})
        assert emb.texts == 0 and store.ledger(NS).count() == 50


def test_ledger_refuses_bad_input_and_writes_nothing():
    with MemoryStore.in_memory(embedder=Counting()) as store:
        ledger = store.ledger(NS)
        for ids, meta, msg in [(None, None, "ledger ids"), (5, None, "ledger ids"), ([""], None, "ledger id"),
                               ([5], None, "ledger id"), (["t1"], {"_x": 1}, "reserves"),
                               (["t1"], {"n": 2**64}, "64-bit"), (["t1", "t2"], [{}], "one per id"),
                               (["t1"], {"x": {"y": 1}}, "nested")]:
            with pytest.raises(engram.ValidationError, match=msg):
                ledger.mark(ids, meta)
        assert ledger.ids() == []


def test_ledger_survives_reopen_and_purge_clears_it(tmp_path):
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        store.put(NS, "k", "fact")
        store.ledger(NS).mark(["t1"])
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        assert "t1" in store.ledger(NS)
        store.purge(NS)
        assert store.ledger(NS).ids() == []


def test_internal_namespaces_are_not_listed(mem_store):
    mem_store.put(NS, "k", "a memory")
    mem_store.put((*NS, "engram.processed"), "t1", {"written": 1}, kind="engram.processed")  # an old-style ledger
    assert mem_store.list_namespaces() == [NS]
    assert mem_store.list_namespaces(("memories",), max_depth=2) == [NS]
    assert mem_store.list_namespaces(include_internal=True) == [NS, (*NS, "engram.processed")]


def test_archive_search_uses_only_public_store_methods():
    source = (Path(engram.__file__).parent / "store" / "_archive" / "_search.py").read_text()
    assert not re.search(r"(?<![\w.])store\._\w+|__dict__", source)


def test_vectors_and_generation_are_public(mem_store):
    g0 = mem_store.generation(NS)
    mem_store.put(NS, "k", "likes tea", kind="note")
    mem_store.put(NS, "m", "turn one", kind="message")
    assert mem_store.generation(NS) > g0
    [(rec, vec)] = mem_store.vectors(NS, kind="message")
    assert rec.id == "m" and len(vec) == len(mem_store.embedder.embed(["x"])[0])
    assert [r.id for r, _ in mem_store.vectors(NS)] == ["k", "m"]


def test_a_persistent_store_keeps_its_ledger_in_sqlite_beside_it(tmp_path):
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        store.ledger(NS).mark(["t1"], {"written": 3})
        assert store._cols.existing(LEDGER) is None          # nothing of it in Chroma
    assert (tmp_path / SQLITE_NAME).is_file()
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        assert store.ledger(NS).get("t1")["written"] == 3 and store.ledger(NS).has(["t1", "t2"]) == {"t1"}
        closed = store.ledger(NS)
    with pytest.raises(engram.StoreError, match="closed"):
        closed.mark(["t2"])


def test_an_earlier_releases_chroma_ledger_moves_to_sqlite_on_open(tmp_path, monkeypatch):
    from engram.store import _ledger_tables

    def chroma_ledger(cols):  # what earlier releases did on every backend
        return _ledger_tables.ChromaTable(cols.client.get_or_create_collection(LEDGER, embedding_function=None))

    with monkeypatch.context() as patch:
        patch.setattr(_ledger_tables, "_open", chroma_ledger)
        with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
            store.ledger(NS).mark(["t1", "t2"], {"written": 1})
            store.ledger(("memories", "u2")).mark(["t9"])
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        store.ledger(NS).mark(["t2"], {"written": 5})  # the first open moved the rows; this one is newer
        assert store._cols.existing(LEDGER) is None
        assert sorted(store.ledger(NS).ids()) == ["t1", "t2"] and store.ledger(("memories", "u2")).ids() == ["t9"]
    # a crash between copying and dropping leaves both; the next open keeps the newer SQLite row
    with monkeypatch.context() as patch:
        patch.setattr(_ledger_tables, "_open", chroma_ledger)
        with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
            store.ledger(NS).mark(["t2", "t3"], {"written": 0})
    with MemoryStore.persistent(tmp_path, embedder=Counting()) as store:
        assert store.ledger(NS).get("t2")["written"] == 5 and store.ledger(NS).has(["t3"]) == {"t3"}
