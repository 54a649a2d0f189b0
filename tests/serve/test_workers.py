"""``engram serve --workers 2`` over one Chroma server: every acknowledged write is kept.

Before the namespace lock was shared by the processes of a machine, 60 concurrent PATCHes of
one memory through two workers were answered 57 x 200 and 3 x 409, and only 34 of the 60 new
contents reached the memory's history: 23 acknowledged writes were lost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serve.conftest import make_server


@pytest.fixture
def chroma(tmp_path):
    from engram.testing import ChromaServer, chroma_command

    if chroma_command() is None:
        pytest.skip("the `chroma` command is not installed")
    server = ChromaServer(tmp_path / "chroma")
    yield server
    server.stop()


def test_two_workers_keep_every_acknowledged_patch_of_one_memory(tmp_path, chroma):
    server = make_server(tmp_path, ENGRAM_CHROMA_URL=chroma.url).start(120.0, "--workers", "2")
    try:
        key = server.key("acme")
        ns = ["memories", "shared"]
        with server.client(key) as client:
            created = client.post("/v1/memories", json={"namespace": ns, "key": "k", "content": "v0"})
            assert created.status_code in (200, 201), created.text

        def patch(i: int) -> int:
            with server.client(key) as client:
                return client.patch("/v1/memories/k", params={"namespace": ns}, json={"content": f"v{i}"}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(patch, range(1, 41)))
        with server.client(key) as client:
            versions = client.get("/v1/memories/k/history", params={"namespace": ns}).json()["versions"]
    finally:
        server.stop()
    assert codes == [200] * 40
    assert sorted(v["content"] for v in versions) == sorted(f"v{i}" for i in range(41))
    assert [v["version"] for v in versions] == list(range(1, 42))
