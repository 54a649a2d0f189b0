"""A purged namespace's list-valued metadata never comes back on memories written afterwards.

Chroma (1.5.9, https://github.com/chroma-core/chroma/issues/7594) leaves the list values of a
deleted collection's rows behind in SQLite, keyed by row numbers that the next rows written reuse:
after ``purge(("u1",))``, a memory stored for another user could read back with u1's
``{"tags": [...]}``. These tests write exactly that sequence on every backend.
"""

from __future__ import annotations

import sqlite3

import pytest

TAGS = ["allergy", "private"]


def _tagged(n: int) -> list[dict]:
    return [{"key": f"t{i}", "content": f"tagged memory {i}", "metadata": {"topic": "health", "tags": TAGS}}
            for i in range(n)]


def _plain(n: int) -> list[dict]:
    return [{"key": f"p{i}", "content": f"plain memory {i}", "metadata": {"topic": "food"}} for i in range(n)]


def _assert_clean(store, namespace) -> None:
    records = store.list(namespace)
    assert [r.metadata for r in records] == [{"topic": "food"}] * len(records)
    assert store.search(namespace, "memory", filter={"tags": {"$contains": "private"}}) == []


def test_a_purged_namespaces_lists_do_not_reappear_on_later_memories(store):
    store.put_many(("purged-user",), _tagged(4))
    assert store.purge(("purged-user",)) == 4
    store.put_many(("next-user",), _plain(4))
    _assert_clean(store, ("next-user",))


def test_purging_one_key_and_then_writing_leaves_no_lists_behind(store):
    store.put_many(("one-key",), _tagged(1))
    assert store.purge(("one-key",), "t0") == 1
    store.put_many(("one-key",), _plain(2))
    _assert_clean(store, ("one-key",))


def test_a_closed_in_memory_store_leaves_nothing_for_the_next_one(embedder):
    from engram.store import MemoryStore

    with MemoryStore.in_memory(embedder=embedder) as first:
        first.put_many(("u",), _tagged(3))
    with MemoryStore.in_memory(embedder=embedder) as second:
        second.put_many(("u",), _plain(3))
        _assert_clean(second, ("u",))


def _orphans(directory) -> int:
    with sqlite3.connect(directory / "chroma.sqlite3") as con:
        return con.execute("SELECT COUNT(*) FROM embedding_metadata_array "
                           "WHERE id NOT IN (SELECT id FROM embeddings)").fetchone()[0]


def test_opening_a_store_removes_lists_an_earlier_delete_left_behind(tmp_path, embedder):
    """A directory where Chroma's own delete_collection already left list values (an older engram's
    purge did) is repaired when engram opens it, before anything new can inherit them."""
    import chromadb
    from chromadb.config import Settings

    from engram.store import MemoryStore

    directory = tmp_path / "chroma"
    client = chromadb.PersistentClient(path=str(directory), settings=Settings(anonymized_telemetry=False))
    old = client.get_or_create_collection("left-behind")
    old.add(ids=["a", "b"], embeddings=[[0.0, 1.0], [1.0, 0.0]], metadatas=[{"tags": TAGS}] * 2)
    client.delete_collection("left-behind")
    assert _orphans(directory) == 4  # the bug this works around is still in the installed Chroma
    del client, old
    chromadb.api.client.SharedSystemClient.clear_system_cache()

    with pytest.warns(UserWarning, match="removed 4 list values"):
        store = MemoryStore.persistent(directory, embedder=embedder)
    with store:
        assert _orphans(directory) == 0
        store.put_many(("u",), _plain(2))
        _assert_clean(store, ("u",))
