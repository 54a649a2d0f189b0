"""The HTTP API end to end: a real ``engram serve`` on 127.0.0.1, httpx clients."""

from __future__ import annotations

import json
import time

import pytest

NS = ["memories", "u1"]


@pytest.fixture(scope="module")
def key(shared_server):
    return shared_server.key("api")


def wait_job(client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_memory_lifecycle(shared_server, key):
    with shared_server.client(key) as c:
        made = c.post("/v1/memories", json={"namespace": NS, "key": "lang", "content": "prefers Python",
                                            "metadata": {"topic": "code"}})
        assert made.status_code == 201, made.text
        assert made.json()["namespace"] == NS and made.json()["version"] == 1
        params = {"namespace": NS}
        assert c.get("/v1/memories/lang", params=params).json()["content"] == "prefers Python"
        patched = c.patch("/v1/memories/lang", params=params, json={"content": "prefers Rust"})
        assert patched.status_code == 200 and patched.json()["version"] == 2
        assert patched.json()["metadata"] == {"topic": "code"}
        found = c.post("/v1/memories/search", json={"namespace": NS, "query": "programming language"}).json()
        assert [r["id"] for r in found["results"]] == ["lang"] and found["results"][0]["score"] is not None
        filtered = c.post("/v1/memories/search", json={"namespace": NS, "filter": {"topic": "food"}}).json()
        assert filtered["results"] == []
        assert c.delete("/v1/memories/lang", params=params).json()["record"]["deleted"] is True
        assert c.get("/v1/memories/lang", params=params).status_code == 404
        history = c.get("/v1/memories/lang/history", params=params).json()["versions"]
        assert [v["version"] for v in history] == [1, 2, 3]
        restored = c.post("/v1/memories/lang/restore", params=params, json={"version": 1})
        assert restored.json()["content"] == "prefers Python" and restored.json()["version"] == 4
        assert NS in c.get("/v1/namespaces").json()["namespaces"]


def test_auth_scopes_and_errors(shared_server, key):
    reader = shared_server.key("api", "read")
    with shared_server.client() as anon, shared_server.client(reader) as c, shared_server.client(key) as w:
        missing = anon.get("/v1/namespaces")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        bad = anon.get("/v1/namespaces", headers={"Authorization": "Bearer egk_nope_nope"})
        assert bad.status_code == 401
        forbidden = c.post("/v1/memories", json={"namespace": NS, "content": "x"})
        assert forbidden.status_code == 403 and "'write'" in forbidden.json()["error"]["message"]
        assert c.post("/v1/optimize", json={"prompt": "p", "dataset": "d"}).status_code == 403
        invalid = w.post("/v1/memories", json={"namespace": NS, "content": "x", "limit": 3})
        assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "body.limit"
        wrong_part = w.post("/v1/memories", json={"namespace": ["memories", "a/b"], "content": "x"})
        assert wrong_part.status_code == 422 and "namespace[1]" in wrong_part.json()["error"]["message"]
        assert w.get("/v1/memories/nothing", params={"namespace": NS}).json()["error"]["code"] == "not_found"


def test_revoked_key_is_refused(shared_server):
    from engram.serve import KeyStore

    store = KeyStore(shared_server.home / "serve-keys.db")
    created = store.create("api", "read")
    with shared_server.client(created.key) as c:
        assert c.get("/v1/namespaces").status_code == 200
        store.revoke(created.id)
        time.sleep(2.1)  # the server caches a verified key for at most 2 s
        assert c.get("/v1/namespaces").status_code == 401
    rows = (shared_server.home / "serve-keys.db").read_bytes()
    assert created.key.encode() not in rows and created.key.split("_", 2)[2].encode() not in rows


def test_openapi_docs_and_health(shared_server):
    with shared_server.client() as c:
        spec = c.get("/openapi.json").json()
        assert {"/v1/memories", "/v1/memories/search", "/v1/extract", "/v1/optimize", "/v1/feedback",
                "/v1/jobs/{job_id}", "/v1/prompts/{name}", "/v1/namespaces"} <= set(spec["paths"])
        assert "swagger" in c.get("/docs").text.lower()
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
        assert ready["checks"] == {"store": "ok", "tracking": "ok", "jobs": "ok"}


def test_extract_now_and_as_debounced_job(shared_server, key):
    talk = [{"role": "user", "content": "I moved to Lisbon last month and I am vegetarian."}]
    with shared_server.client(key) as c:
        now = c.post("/v1/extract", json={"namespace": ["memories", "x1"], "messages": talk, "wait": True})
        assert now.status_code == 200 and now.json()["status"] == "succeeded"
        assert now.json()["result"]["written"], now.json()
        assert now.json()["result"]["usage"]["calls"] >= 1
        first = c.post("/v1/extract", json={"namespace": ["memories", "x2"], "messages": talk[:1],
                                            "thread_id": "t1", "after_seconds": 3}).json()
        more = [*talk, {"role": "user", "content": "Also, I play the cello."}]
        second = c.post("/v1/extract", json={"namespace": ["memories", "x2"], "messages": more,
                                             "thread_id": "t1", "after_seconds": 0.5}).json()
        assert second["job_id"] == first["job_id"] and second["merged"] is True
        job = wait_job(c, first["job_id"])
        assert job["status"] == "succeeded" and job["attempts"] == 1, job
        assert job["result"]["written"] and job["usage"]["calls"] >= 1
        listed = c.post("/v1/memories/search", json={"namespace": ["memories", "x2"], "limit": 50}).json()
        assert len(listed["results"]) == len(job["result"]["written"])
        # a job's memories carry the same RFC 3339 timestamps as the memory endpoints (not str(datetime))
        written = job["result"]["written"][0]
        fetched = c.get(f"/v1/memories/{written['id']}", params={"namespace": ["memories", "x2"]}).json()
        assert written["created_at"] == fetched["created_at"] and "T" in written["created_at"], written
        assert written["updated_at"].endswith("Z"), written


def test_feedback_appends_to_a_named_dataset(shared_server, key):
    item = {"messages": [{"role": "user", "content": "reset my password"},
                         {"role": "assistant", "content": "Click 'Forgot password'."}],
            "feedback": {"score": 0.2, "comment": "too terse"}}
    with shared_server.client(key) as c:
        first = c.post("/v1/feedback", json={"dataset": "support", "trajectories": [item]})
        assert first.status_code == 201 and first.json() == {"dataset": "support", "appended": 1, "total": 1}
        second = c.post("/v1/feedback", json={"dataset": "support", "trajectories": [item, item]}).json()
        assert second["total"] == 3
        bad = c.post("/v1/feedback", json={"dataset": "support", "trajectories": [{"messages": []}]})
        assert bad.status_code == 422
    path = shared_server.home / "serve-datasets" / "api" / "support.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["feedback"]["score"] == 0.2


def test_limits_and_access_log(server_factory):
    server = server_factory("limits", ENGRAM_SERVE_RATE_PER_SECOND="0.5", ENGRAM_SERVE_RATE_BURST="5",
                            ENGRAM_SERVE_MAX_BODY_BYTES="2048").start()
    key = server.key("acme")
    secret = "my-very-private-memory-text"
    with server.client(key) as c:
        big = c.post("/v1/memories", json={"namespace": NS, "content": "x" * 5000})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"

        def chunks():  # no Content-Length: the limit is enforced while the body streams in
            yield b'{"namespace": ["memories", "u1"], "content": "'
            yield from (b"x" * 1000 for _ in range(5))
            yield b'"}'

        chunked = c.post("/v1/memories", content=chunks(), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"
        assert c.post("/v1/memories", json={"namespace": NS, "content": secret}).status_code == 201
        statuses = [c.get("/v1/namespaces").status_code for _ in range(8)]
        assert 429 in statuses and statuses[0] == 200
        limited = c.get("/v1/namespaces")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    server.stop()
    log = server.log.read_text()
    lines = [json.loads(line.split(" INFO ", 1)[1]) for line in log.splitlines() if "engram.serve.access" in line]
    assert any(e["route"] == "/v1/memories" and e["status"] == 201 and e["tenant"] == "acme" for e in lines)
    assert key not in log and key.split("_", 2)[2] not in log and secret not in log
