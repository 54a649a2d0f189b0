"""The Python-side filter agrees with Chroma's where, so fast reads return the same rows."""

from __future__ import annotations

import random

import pytest

from engram.store._filters import Undecided, matches, to_where

FILTERS = [
    {"topic": "food"}, {"n": {"$gte": 3}}, {"n": {"$lt": 2}}, {"score": {"$gt": 0.5}},
    {"topic": {"$in": ["food", "work"]}}, {"flag": True}, {"flag": False}, {"tags": {"$contains": "x"}},
    {"$or": [{"topic": "work"}, {"n": {"$lte": 1}}]}, {"$and": [{"topic": "food"}, {"n": {"$gt": 2}}]},
    {"missing": "x"}, {"n": 3}, {"n": 3.0},
]


@pytest.fixture
def filled(mem_store):
    rng = random.Random(0)
    ns = ("f",)
    items = []
    for i in range(40):
        meta = {"topic": rng.choice(["food", "work", "travel"]), "n": i % 6, "score": rng.random(),
                "flag": i % 3 == 0}
        if i % 4 == 0:
            meta["tags"] = rng.sample(["x", "y", "z"], 2)
        items.append({"key": f"k{i}", "content": f"memory number {i} about {meta['topic']}", "metadata": meta})
    mem_store.put_many(ns, items)
    return mem_store, ns


@pytest.mark.parametrize("flt", FILTERS)
def test_python_filter_matches_chroma(filled, flt):
    store, ns = filled
    col = store._cols.get(ns)
    where = to_where(flt)
    chroma_ids = col.get(where=where, include=[])["ids"]
    rows = col.get(include=["metadatas"])
    python_ids = [i for i, m in zip(rows["ids"], rows["metadatas"]) if matches(where, m)]
    assert sorted(python_ids) == sorted(chroma_ids)
    # and through the store: the same rows as Chroma's own filtered query
    via_store = [r.id for r in store.search(ns, "memory about food", filter=flt, limit=5)]
    vec = store.embedder.embed(["memory about food"])[0]
    chroma_top = col.query(query_embeddings=[vec], n_results=5, where=to_where(flt) and
                           {"$and": [{"_deleted": False}, where]}, include=[])["ids"][0]
    assert via_store == chroma_top


def test_uncertain_operators_defer_to_chroma(filled):
    with pytest.raises(Undecided):
        matches(to_where({"n": {"$ne": 1}}), {"topic": "food"})
    store, ns = filled
    assert all(r.metadata["topic"] != "food" for r in store.search(ns, "food", filter={"topic": {"$ne": "food"}}))
    assert store.count(ns) == 40


def test_selective_filter_falls_back_and_still_finds(filled):
    store, ns = filled
    store.put(ns, "needle", "completely unrelated text about quantum chromodynamics", metadata={"rare": 1})
    hits = store.search(ns, "memory about food", filter={"rare": 1}, limit=1)
    assert [h.id for h in hits] == ["needle"]
    deleted = [f"k{i}" for i in range(0, 40, 2)]
    for key in deleted:
        store.delete(ns, key)
    results = store.search(ns, "memory", limit=15)
    assert len(results) == 15 and not set(r.id for r in results) & set(deleted)
    assert store.count(ns) == 21 and len(store.list(ns, limit=100)) == 21


@pytest.mark.parametrize(("limit", "offset"), [(5, 0), (5, 3), (11, 0), (40, 10), (100, 0)])
def test_listing_pages_equal_chromas_where_whatever_the_prefix_holds(mem_store, limit, offset):
    """A filtered listing reads a prefix of the collection first; its pages must be Chroma's own,
    also when the prefix is mostly rows the filter drops (here: 70 of the first 80 deleted)."""
    ns = ("paged",)
    mem_store.put_many(ns, [{"key": f"k{i:03d}", "content": f"row {i}", "metadata": {"n": i % 3}}
                            for i in range(120)])
    for i in range(80):
        if i % 8:
            mem_store.delete(ns, f"k{i:03d}")
    col = mem_store._cols.get(ns)
    for flt in (None, {"n": 1}):
        where = {"$and": [{"_deleted": False}, to_where(flt)]} if flt else {"_deleted": False}
        expected = col.get(where=where, limit=limit, offset=offset, include=[])["ids"]
        got = [r.id for r in mem_store.list(ns, filter=flt, limit=limit, offset=offset)]
        assert got == expected


def test_a_small_filtered_listing_is_one_read(mem_store):
    ns = ("one-read",)
    mem_store.put_many(ns, [{"key": f"k{i}", "content": f"row {i}"} for i in range(12)])
    col = mem_store._cols.get(ns)
    calls = []
    real_get, real_count = col.get, col.count
    col.get = lambda *a, **k: calls.append("get") or real_get(*a, **k)
    col.count = lambda *a, **k: calls.append("count") or real_count(*a, **k)
    assert [r.id for r in mem_store.list(ns, limit=5)] == [f"k{i}" for i in range(5)]
    assert calls == ["get"]  # no count() first: a server would answer two round trips
