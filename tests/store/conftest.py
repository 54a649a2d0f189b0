"""Shared fixtures: one MiniLM per test session, fresh stores per test, a Chroma server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from engram.testing import ChromaServer


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


def start_server(data: Path) -> ChromaServer:
    """A ``chroma run`` server over ``data``: skipped without the command, failed if it won't start."""
    from engram.testing import ChromaServer, ChromaServerError, chroma_command

    if chroma_command() is None:
        pytest.skip("the `chroma` command is not installed")
    try:
        return ChromaServer(data)
    except ChromaServerError as err:
        pytest.fail(str(err))


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
