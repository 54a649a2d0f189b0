"""Writes by another process on the same Chroma server (a second ``engram serve`` worker):

- a namespace it purged: this store's next call on it works, instead of failing for good on the
  collection it had cached ("another process" is a plain Chroma client there: it deletes the
  collection on the server, and the store learns of it only from Chroma);
- a message it deleted or changed: hybrid search here no longer returns the cached copy;
- a memory both update at once: neither update is lost (processes of one machine take turns).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest

NS = ("tenant", "u1")

CALLS = {
    "get": (lambda s: s.get(NS, "k"), lambda r: r is None),
    "list": (lambda s: s.list(NS), lambda r: r == []),
    "count": (lambda s: s.count(NS), lambda r: r == 0),
    "search": (lambda s: s.search(NS, "anything"), lambda r: r == []),
    "history": (lambda s: s.history(NS, "k"), lambda r: r == []),
    "purge": (lambda s: s.purge(NS), lambda r: r == 0),
    "put": (lambda s: s.put(NS, "k", "written after the purge"), lambda r: r.version == 1),
    # nothing left to change: NotFoundError, as for a key never stored
    "update": (lambda s: s.update(NS, "k", content="x"), None),
    "delete": (lambda s: s.delete(NS, "k"), None),
    # a view of the past reads the namespace's versions itself: the purge took them all
    "as_of.list": (lambda s: s.as_of(datetime.now(UTC)).list(NS), lambda r: r == []),
    "as_of.count": (lambda s: s.as_of(datetime.now(UTC)).count(NS), lambda r: r == 0),
}


@pytest.fixture
def purge_elsewhere(http_store, chroma_server):
    import chromadb
    from chromadb.config import Settings

    url = urlparse(chroma_server)
    other = chromadb.HttpClient(host=url.hostname, port=url.port, settings=Settings(anonymized_telemetry=False))

    def purge() -> None:
        other.delete_collection(http_store._cols.get(NS).name)

    return purge


@pytest.mark.parametrize("call", list(CALLS))
def test_a_call_after_another_process_purged_the_namespace_sees_it_as_it_is_now(http_store, purge_elsewhere, call):
    import engram

    http_store.put(NS, "k", "stored before the purge")
    assert http_store.get(NS, "k") is not None  # the store now has the collection cached
    purge_elsewhere()
    run, expect = CALLS[call]
    if expect is None:
        with pytest.raises(engram.NotFoundError):
            run(http_store)
    else:
        assert expect(run(http_store))
    # and the namespace keeps working afterwards
    http_store.put(NS, "after", "a later memory")
    assert sorted(r.id for r in http_store.list(NS)) == (["after", "k"] if call == "put" else ["after"])


def test_an_error_that_is_not_a_dropped_collection_is_not_retried(http_store, monkeypatch):
    from engram.errors import StoreError

    calls = []
    http_store.put(NS, "k", "x")
    col = http_store._cols.get(NS)

    def failing_get(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("disk full")

    monkeypatch.setattr(col, "get", failing_get)
    with pytest.raises(StoreError, match="disk full"):
        http_store.get(NS, "k")
    assert len(calls) == 1


@pytest.mark.parametrize("ranking", ["message", "hybrid"])
def test_hybrid_search_does_not_return_what_another_process_deleted_or_changed(http_store, chroma_server, ranking):
    from tests.serve.conftest import ROOT

    ns = ("chat", ranking)
    http_store.put_many(ns, [{"key": f"m{i}", "content": text, "kind": "message" if ranking == "message" else "memory"}
                             for i, text in enumerate(["my card number is 4111", "I like tea", "the weather is nice"])])

    def search() -> list[tuple[str, str]]:
        options = {"kind": "message"} if ranking == "message" else {"ranking": "hybrid"}
        return [(r.id, r.content) for r in http_store.search(ns, "card number", limit=3, **options)]

    assert search()[0] == ("m0", "my card number is 4111")  # the ranking index is now cached here
    other = textwrap.dedent(f"""
        from engram.store import MemoryStore
        store = MemoryStore.http({chroma_server!r})
        store.delete({ns!r}, "m0")
        store.update({ns!r}, "m1", content="I like coffee now")
    """)
    done = subprocess.run([sys.executable, "-c", other], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(search()) == [("m1", "I like coffee now"), ("m2", "the weather is nice")]


def test_two_processes_counting_on_one_memory_lose_no_update(http_store, chroma_server):
    """The read-check-write of processes on one machine takes turns (engram.store._host_lock):
    without it, two processes adding 1 forty times each ended at 44, not 80."""
    from tests.serve.conftest import ROOT

    ns = ("counter", "shared")
    http_store.put(ns, "c", {"n": 0})
    count = textwrap.dedent(f"""
        import sys, time
        from engram.store import MemoryStore
        store = MemoryStore.http({chroma_server!r})
        store.get({ns!r}, "c")
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # both start together
        for _ in range(25):
            store.mutate({ns!r}, "c", lambda r: {{"content": {{"n": r.content["n"] + 1}}}})
    """)
    start = str(time.time() + 8)
    workers = [subprocess.Popen([sys.executable, "-c", count, start], cwd=ROOT, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-2000:]
    final = http_store.get(ns, "c")
    assert final.content == {"n": 50} and final.version == 51
    assert [r.version for r in http_store.history(ns, "c")] == list(range(1, 52))


def test_the_host_lock_is_reentrant_here_and_exclusive_for_another_process(tmp_path):
    from engram.store._host_lock import HostLock

    path = tmp_path / "ns.lock"
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n"
             "except BlockingIOError:\n    print('held')\n")

    def seen_by_another_process() -> str:
        return subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True).stdout.strip()

    lock = HostLock(path)
    with lock:
        with lock:  # the same thread again: no deadlock
            assert seen_by_another_process() == "held"
        assert seen_by_another_process() == "held"
    assert seen_by_another_process() == "free"
