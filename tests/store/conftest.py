"""Shared fixtures: one MiniLM per test session, fresh stores per test, a Chroma server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def embedder():
    from engram.store import get_embedder

    emb = get_embedder("all-MiniLM-L6-v2")
    emb.embed(["warm up"])  # load once, here, not inside the first timed-out test
    return emb


@pytest.fixture
def mem_store(embedder):
    from engram.store import MemoryStore

    with MemoryStore.in_memory(embedder=embedder) as store:
        yield store


@pytest.fixture
def disk_store(embedder, tmp_path):
    from engram.store import MemoryStore

    return MemoryStore.persistent(tmp_path / "chroma", embedder=embedder)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on a free local port, stopped after the session."""
    server = start_server(tmp_path_factory.mktemp("chroma-server"))
    yield server.url
    server.stop()


@pytest.fixture
def own_server(tmp_path):
    """A private server the test may stop (see test_server_dying_mid_session...)."""
    server = start_server(tmp_path / "own-server")
    yield server
    if server.proc.poll() is None:
        server.stop()


class Server:
    def __init__(self, proc, url, log):
        self.proc, self.url, self.log = proc, url, log

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_server(data: Path) -> Server:
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(chroma).exists():
        pytest.skip("the `chroma` command is not installed")
    port = _free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma server exited: {(data / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("chroma server did not start within 60 s")
    return Server(proc, url, log)


@pytest.fixture
def http_store(embedder, chroma_server):
    from engram.store import MemoryStore

    store = MemoryStore.http(chroma_server, embedder=embedder)
    yield store
    for ns in store.list_namespaces():
        store.purge(ns)


@pytest.fixture(params=["memory", "persistent", "http"])
def store(request):
    """The same tests on all three backends."""
    return request.getfixturevalue({"memory": "mem_store", "persistent": "disk_store",
                                    "http": "http_store"}[request.param])
