"""Tenants never see each other; concurrent writers lose no update."""

from __future__ import annotations

import threading

import pytest

import engram

A, AB, ABC = ("a",), ("a", "b"), ("a", "bc")


def test_prefix_edge_case_is_isolated(store):  # all three backends
    store.put(AB, "k", "secret of a/b")
    store.put(ABC, "k", "secret of a/bc")
    store.put(A, "k", "secret of a")
    assert store.get(AB, "k").content == "secret of a/b"
    assert [r.content for r in store.search(AB, "secret")] == ["secret of a/b"]
    assert store.list_namespaces(AB) == [AB]            # not ("a", "bc")
    assert store.list_namespaces(A) == [A, AB, ABC]
    store.delete(AB, "k")
    store.purge(AB)
    assert store.get(ABC, "k").content == "secret of a/bc"
    assert store.get(A, "k").content == "secret of a"
    assert store.history(ABC, "k")[0].content == "secret of a/bc"
    assert store.count(AB) == 0 and store.count(ABC) == 1


def test_filters_cannot_escape_the_namespace(mem_store):
    mem_store.put(("t", "u1"), "k", "u1 data", metadata={"owner": "u1"})
    mem_store.put(("t", "u2"), "k", "u2 data", metadata={"owner": "u2"})
    hits = mem_store.search(("t", "u1"), "data", filter={"owner": "u2"})
    assert hits == []
    with pytest.raises(engram.ValidationError, match="reserved"):
        mem_store.search(("t", "u1"), "data", filter={"_deleted": True})


def test_two_in_memory_stores_are_separate(embedder):
    from engram.store import MemoryStore

    one, two = MemoryStore.in_memory(embedder=embedder), MemoryStore.in_memory(embedder=embedder)
    one.put(("n",), "k", "only in one")
    assert two.get(("n",), "k") is None and two.list_namespaces() == []


@pytest.mark.parametrize("backend", ["mem_store", "disk_store", "http_store"])
def test_eight_threads_lose_no_update(request, backend):
    store = request.getfixturevalue(backend)
    ns, rounds = ("counters",), 6
    store.put(ns, "c", {"n": 0})
    store.put(ns, "d", {"n": 0})
    errors: list[BaseException] = []

    def optimistic():
        # read, then write conditionally; retry on conflict (what an agent tool does)
        for _ in range(rounds):
            while True:
                cur = store.get(ns, "c")
                try:
                    store.put(ns, "c", {"n": cur.content["n"] + 1}, expected_version=cur.version)
                    break
                except engram.ConflictError:
                    continue

    def atomic():
        for _ in range(rounds):
            store.mutate(ns, "d", lambda r: {"content": {"n": r.content["n"] + 1}})

    def run(fn):
        def wrapped():
            try:
                fn()
            except BaseException as err:  # surfaced below
                errors.append(err)
        return wrapped

    threads = [threading.Thread(target=run(optimistic if i % 2 else atomic)) for i in range(8)]
    threads += [threading.Thread(target=run(optimistic if i % 2 == 0 else atomic)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for key in ("c", "d"):
        rec = store.get(ns, key)
        assert rec.content == {"n": 8 * rounds}
        assert rec.version == 8 * rounds + 1
        assert [h.version for h in store.history(ns, key)] == list(range(1, 8 * rounds + 2))


def test_two_store_objects_on_one_directory_share_locks_and_see_purges(tmp_path, embedder):
    from engram.store import MemoryStore

    one = MemoryStore.persistent(tmp_path, embedder=embedder)
    two = MemoryStore.persistent(tmp_path)            # e.g. a tool built its own store
    ns = ("shared",)
    one.put(ns, "c", {"n": 0})
    stores = [one, two] * 4

    def bump(store):
        for _ in range(5):
            store.mutate(ns, "c", lambda r: {"content": {"n": r.content["n"] + 1}})

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert two.get(ns, "c").content == {"n": 40} and one.get(ns, "c").version == 41
    one.purge(ns)
    assert two.get(ns, "c") is None                   # not served from a stale collection
    two.put(ns, "c", "fresh")
    assert one.get(ns, "c").content == "fresh"
