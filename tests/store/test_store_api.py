"""Every store call, on the in-memory, persistent and server backends."""

from __future__ import annotations

import asyncio

import pytest

import engram

NS = ("memories", "u1")


def test_put_get_versions_and_times(store):
    first = store.put(NS, "diet", {"fact": "vegetarian"}, metadata={"topic": "food"},
                      provenance=["t1"])
    assert first.version == 1 and first.id == "diet" and first.namespace == NS
    second = store.put(NS, "diet", {"fact": "vegan"}, metadata={"topic": "food"})
    assert second.version == 2 and second.created_at == first.created_at
    got = store.get(NS, "diet")
    assert got.content == {"fact": "vegan"} and got.version == 2
    assert got.metadata == {"topic": "food"} and got.kind == "memory"
    assert store.get(NS, "missing") is None
    assert store.get(("other",), "diet") is None
    generated = store.put(NS, content="no key given")
    assert len(generated.id) == 32 and store.get(NS, generated.id).content == "no key given"


def test_search_ranks_by_meaning_and_filters(store):
    store.put_many(NS, [
        {"key": "diet", "content": "The user is vegetarian", "metadata": {"topic": "food", "n": 1}},
        {"key": "city", "content": "The user lives in Lyon", "metadata": {"topic": "place", "n": 2}},
        {"key": "pet", "content": "The user has a cat named Miso", "kind": "fact", "metadata": {"n": 3}},
    ])
    hits = store.search(NS, "what does the user eat?")
    assert hits[0].id == "diet" and hits[0].score > hits[-1].score
    assert all(-1.0 <= h.score <= 1.0 for h in hits)
    assert [h.id for h in store.search(NS, "food", filter={"topic": "place"})] == ["city"]
    assert [h.id for h in store.search(NS, "x", filter={"n": {"$gte": 2}}, kind="fact")] == ["pet"]
    assert {h.id for h in store.search(NS, "user", keys=["city", "pet"])} == {"city", "pet"}
    assert len(store.search(NS, "user", limit=2)) == 2
    page2 = store.search(NS, "user", limit=2, offset=2)
    assert len(page2) == 1 and page2[0].id not in {h.id for h in store.search(NS, "user", limit=2)}
    no_query = store.search(NS, filter={"topic": "food"})
    assert [h.id for h in no_query] == ["diet"] and no_query[0].score is None


def test_list_count_and_namespaces(store):
    store.put_many(NS, [{"key": f"k{i}", "content": f"memory {i}"} for i in range(5)])
    store.put(("memories", "u2"), "k", "other user")
    assert store.count(NS) == 5
    assert [r.id for r in store.list(NS, limit=2, offset=1)] == ["k1", "k2"]
    store.delete(NS, "k0")
    assert store.count(NS) == 4 and store.count(NS, include_deleted=True) == 5
    assert "k0" not in {r.id for r in store.list(NS)}
    assert "k0" in {r.id for r in store.list(NS, include_deleted=True)}
    assert store.list_namespaces(("memories",)) == [("memories", "u1"), ("memories", "u2")]
    assert store.list_namespaces(max_depth=1) == [("memories",)]


def test_soft_delete_history_restore_and_purge(store):
    store.put(NS, "diet", "vegetarian")
    store.put(NS, "diet", "vegan")
    tomb = store.delete(NS, "diet")
    assert tomb.deleted and tomb.version == 3
    assert store.get(NS, "diet") is None
    assert store.get(NS, "diet", include_deleted=True).deleted
    assert store.search(NS, "vegan") == []
    history = store.history(NS, "diet")
    assert [(h.version, h.content, h.deleted) for h in history] == [
        (1, "vegetarian", False), (2, "vegan", False), (3, "vegan", True)]
    back = store.restore(NS, "diet", 1)
    assert back.version == 4 and back.content == "vegetarian" and not back.deleted
    assert store.search(NS, "vegetarian")[0].id == "diet"
    with pytest.raises(engram.NotFoundError, match="versions are"):
        store.restore(NS, "diet", 99)
    with pytest.raises(engram.NotFoundError):
        store.delete(NS, "nope")
    assert store.purge(NS, "diet") == 1
    assert store.history(NS, "diet") == [] and store.get(NS, "diet", include_deleted=True) is None
    store.put(NS, "a", "x")
    store.delete(NS, "a", hard=True)
    assert store.history(NS, "a") == []


def test_update_merges_metadata_and_refuses_unknown_fields(store):
    store.put(NS, "k", {"fact": "likes tea"}, metadata={"a": 1, "b": 2})
    rec = store.update(NS, "k", metadata={"b": None, "c": 3})
    assert rec.metadata == {"a": 1, "c": 3} and rec.version == 2 and rec.content == {"fact": "likes tea"}
    assert store.get(NS, "k").metadata == {"a": 1, "c": 3}  # removed in the stored row too, not only in the reply
    assert {h.version: h.metadata for h in store.history(NS, "k")}[1] == {"a": 1, "b": 2}
    rec = store.update(NS, "k", content={"fact": "likes coffee"})
    assert "coffee" in rec.text
    with pytest.raises(engram.ValidationError, match="unknown field"):
        store.update(NS, "k", colour="red")
    with pytest.raises(engram.NotFoundError):
        store.update(NS, "missing", content="x")


def test_an_update_that_changes_nothing_adds_no_version(store):
    store.put(NS, "k", {"fact": "likes tea", "n": 1}, metadata={"a": 1, "topic": "food"}, provenance=["t1"])
    same = store.update(NS, "k", content={"n": 1, "fact": "likes tea"}, metadata={"a": 1, "gone": None})
    assert same.version == 1 and same.content == {"fact": "likes tea", "n": 1}
    assert store.mutate(NS, "k", lambda r: {"content": r.content, "kind": r.kind}).version == 1
    assert [r.version for r in store.history(NS, "k")] == [1] and store.get(NS, "k").version == 1
    with pytest.raises(engram.ConflictError):  # a stale expected_version is still refused
        store.update(NS, "k", content={"fact": "likes tea", "n": 1}, expected_version=2)
    # JSON tells True from 1 (Python's == does not): that is a change
    assert store.update(NS, "k", content={"fact": "likes tea", "n": True}).version == 2
    assert store.update(NS, "k", metadata={"a": True}).version == 3
    # an explicit ttl= restarts the expiry clock, so it writes even when nothing else changes
    assert store.update(NS, "k", ttl=None).version == 4
    assert [r.version for r in store.history(NS, "k")] == [1, 2, 3, 4]


def test_update_that_clears_a_ttl_leaves_no_expiry_behind(store):
    store.put(NS, "otp", "4721", ttl=300)
    store.update(NS, "otp", ttl=None)
    stored = store.get(NS, "otp")
    assert stored.ttl is None and stored.expires_at is None


def test_expected_version_conflict(store):
    store.put(NS, "k", "v1")
    with pytest.raises(engram.ConflictError, match="version 1"):
        store.put(NS, "k", "v2", expected_version=5)
    with pytest.raises(engram.ConflictError):
        store.put(NS, "k", "new", expected_version=0)  # 0 = must not exist yet
    assert store.get(NS, "k").content == "v1"
    assert store.put(NS, "fresh", "new", expected_version=0).version == 1


def test_async_variants(store):
    async def run():
        await store.aput(NS, "k", "lives in Lyon")
        await store.aput_many(NS, [{"key": "j", "content": "likes tea"}])
        got = await store.aget(NS, "k")
        hits = await store.asearch(NS, "where does the user live?")
        n = await store.acount(NS)
        await store.adelete(NS, "j")
        hist = await store.ahistory(NS, "j")
        await store.arestore(NS, "j", 1)
        spaces = await store.alist_namespaces()
        listed = await store.alist(NS)
        return got, hits, n, hist, spaces, listed

    got, hits, n, hist, spaces, listed = asyncio.run(run())
    assert got.content == "lives in Lyon" and hits[0].id == "k" and n == 2
    assert [h.version for h in hist] == [1, 2] and spaces == [NS] and len(listed) == 2


def test_from_settings_uses_home_or_server(tmp_path, embedder, chroma_server):
    from engram.store import MemoryStore

    try:
        engram.configure(home=str(tmp_path / "home"))
        store = MemoryStore.from_settings(embedder=embedder)
        assert store.backend == "persistent"
        store.put(NS, "k", "on disk")
        assert (tmp_path / "home" / "chroma").is_dir()
        engram.configure(chroma_url=chroma_server)
        remote = MemoryStore.from_settings(embedder=embedder)
        assert remote.backend == "http" and remote.get(NS, "k") is None
    finally:
        engram.configure(home=None, chroma_url=None)


def test_server_store_is_shared_between_clients(http_store, chroma_server, embedder):
    from engram.store import MemoryStore

    http_store.put(NS, "shared", "written by client one")
    other = MemoryStore.http(chroma_server)          # embedder comes from the server's record
    assert other.embedder.spec == embedder.spec
    assert other.get(NS, "shared").content == "written by client one"
    assert other.search(NS, "client one")[0].id == "shared"


def test_close_frees_an_in_memory_store(embedder):
    from engram.store import MemoryStore

    store = MemoryStore.in_memory(embedder=embedder)
    store.put(NS, "k", "x")
    with pytest.raises(engram.NotFoundError, match="never stored, or purged"):
        store.restore(NS, "other", 1)
    store.close()
    with pytest.raises(engram.StoreError, match="closed"):
        store.get(NS, "k")
