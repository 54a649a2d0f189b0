"""One owner process per store directory, and a missing database is an error (issue 11 items 8, 9a).

Two real processes: the test and a child that holds the store open.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

import engram
from engram.store import Embedder, MemoryStore

NS = ("memories", "u1")


class Tiny(Embedder):
    """A two-number embedder: these tests are about files and processes, not meaning."""

    spec = "test:tiny"

    def _embed(self, texts):
        return [[float(len(t)), 1.0] for t in texts]


CHILD = textwrap.dedent("""
    import sys
    from engram.store import Embedder, MemoryStore

    class Tiny(Embedder):
        spec = "test:tiny"
        def _embed(self, texts):
            return [[float(len(t)), 1.0] for t in texts]

    store = MemoryStore.persistent(sys.argv[1], embedder=Tiny())
    store.put(("memories", "u1"), "city", "Lyon")
    print("ready", flush=True)
    sys.stdin.readline()          # hold the store open until told (or killed)
""")


def _child(path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()[-3000:] if proc.poll() is not None else line
    return proc


def test_second_process_gets_a_clear_error_naming_the_owner(tmp_path):
    path = tmp_path / "db"
    child = _child(path)
    try:
        with pytest.raises(engram.StoreInUseError) as info:
            MemoryStore.persistent(path, embedder=Tiny())
        message = str(info.value)
        assert isinstance(info.value, engram.StoreError) and info.value.holder["pid"] == child.pid
        assert info.value.holder["argv"] == [os.path.basename(sys.executable), "-c", str(path)]
        assert f"process {child.pid} (`{os.path.basename(sys.executable)} -c {path}`)" in message
        assert socket.gethostname() in message
        assert "since 20" in message and "chroma run" in message and "ENGRAM_CHROMA_URL" in message
    finally:
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    # the owner exited: the directory is free, and its write is there
    with MemoryStore.persistent(path, embedder=Tiny()) as store:
        assert store.get(NS, "city").content == "Lyon"


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "db"
    child = _child(path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    assert json.loads((path / "engram.lock").read_text())["pid"] == child.pid   # stale file left behind
    with MemoryStore.persistent(path, embedder=Tiny()) as store:
        assert store.get(NS, "city").content == "Lyon"
        assert json.loads((path / "engram.lock").read_text())["pid"] == os.getpid()


def test_stale_lock_file_naming_a_dead_pid_is_taken_over(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (path / "engram.lock").write_text(json.dumps({"pid": dead.pid, "host": "h", "since": "2020-01-01"}))
    with MemoryStore.persistent(path, embedder=Tiny()) as store:
        store.put(NS, "k", "v")
        assert json.loads((path / "engram.lock").read_text())["pid"] == os.getpid()


def test_store_objects_of_one_process_share_the_directory_and_free_it_when_closed(tmp_path):
    path = tmp_path / "db"
    one = MemoryStore.persistent(path, embedder=Tiny())
    two = MemoryStore.persistent(path, embedder=Tiny())
    two.put(NS, "k", "from two")
    assert one.get(NS, "k").content == "from two"
    one.close()
    del two   # garbage collection releases too
    child = _child(path)
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.wait(timeout=60) == 0


def test_missing_database_is_an_error_not_an_empty_store(tmp_path):
    path = tmp_path / "db"
    with MemoryStore.persistent(path, embedder=Tiny()) as store:
        store.put_many(NS, [{"key": str(i), "content": f"fact {i}"} for i in range(5)])
    assert json.loads((path / "engram-store.json").read_text())["writes"] == 5
    (path / "chroma.sqlite3").unlink()
    with pytest.raises(engram.StoreError, match=r"chroma.sqlite3 is missing.*5 writes.*Restore"):
        MemoryStore.persistent(path, embedder=Tiny())
    assert not (path / "chroma.sqlite3").exists()   # nothing was created in its place
    # starting over is a deliberate act: delete the marker
    (path / "engram-store.json").unlink()
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()   # Chroma keeps the unlinked file open in this process
    with MemoryStore.persistent(path, embedder=Tiny()) as store:
        assert store.list_namespaces() == []


def test_a_store_that_never_held_data_reopens_after_its_database_is_removed(tmp_path):
    path = tmp_path / "db"
    MemoryStore.persistent(path, embedder=Tiny()).close()
    assert not (path / "engram-store.json").exists()
    (path / "chroma.sqlite3").unlink()
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    MemoryStore.persistent(path, embedder=Tiny()).close()


def test_marker_counts_writes_across_sessions(tmp_path):
    path = tmp_path / "db"
    for n in (2, 3):
        with MemoryStore.persistent(path, embedder=Tiny()) as store:
            store.put_many(NS, [{"content": f"fact {n}-{i}"} for i in range(n)])
    assert json.loads((path / "engram-store.json").read_text())["writes"] == 5
