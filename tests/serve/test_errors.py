"""Refusals and error bodies of the HTTP API, in process (FastAPI's TestClient, an in-memory store).

Each test sends what a client got wrong and checks the status, that the body says what to
do in the client's terms (``{"error": {"code", "message", "field"}}``), and that nothing
was stored.
"""

from __future__ import annotations

import pytest

NS = ["memories", "u1"]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from engram.serve import FeedbackDatasets, JobStore, KeyStore, ServeSettings, Service, create_app
    from engram.store import MemoryStore

    home = tmp_path_factory.mktemp("serve-errors")
    settings = ServeSettings(run_jobs=False)
    service = Service(MemoryStore.in_memory(), KeyStore(home / "keys.db"), JobStore(f"sqlite:///{home}/jobs.db"),
                      FeedbackDatasets(home), settings, home)
    key = service.keys.create("acme", "read,write,optimize").key
    app = create_app(settings, service=service, mcp=False)
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, service


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message", "field"}
    return response.json()["error"]


def stored(service, namespace) -> list:
    return service.store.list(("tenants", "acme", *namespace))


def nested(levels: int) -> dict:
    content: dict = {"leaf": "x"}
    for _ in range(levels - 1):
        content = {"a": content}
    return content


@pytest.mark.parametrize("name", ["$where", "#tag", "chroma:document"])
def test_metadata_keys_the_store_reserves_are_refused(app_client, name):
    c, service = app_client
    ns = ["memories", f"meta-{len(name)}"]
    err = error(c.post("/v1/memories", json={"namespace": ns, "key": "m", "content": "x",
                                             "metadata": {name: 1}}), 422)
    assert err["code"] == "invalid" and err["field"] == f"metadata.{name}" and repr(name) in err["message"]
    assert stored(service, ns) == []
    assert c.post("/v1/memories", json={"namespace": ns, "key": "p", "content": "x"}).status_code == 201
    err = error(c.patch("/v1/memories/p", params={"namespace": ns}, json={"metadata": {name: "v"}}), 422)
    assert err["field"] == f"metadata.{name}"
    assert c.get("/v1/memories/p", params={"namespace": ns}).json()["version"] == 1


def test_store_errors_name_the_relative_namespace_and_http_advice(app_client):
    c, _ = app_client
    params = {"namespace": NS}
    assert c.post("/v1/memories", json={"namespace": NS, "key": "lang", "content": "Python"}).status_code == 201
    assert c.patch("/v1/memories/lang", params=params, json={"content": "Rust"}).status_code == 200
    answers = [
        (c.patch("/v1/memories/lang", params=params, json={"content": "Go", "expected_version": 1}), 409,
         "expected_version", "is at version 2"),
        (c.post("/v1/memories", json={"namespace": NS, "key": "lang", "content": "Go", "expected_version": 0}),
         409, "expected_version", "GET /v1/memories/lang"),
        (c.patch("/v1/memories/nope", params=params, json={"content": "x"}), 404, None, "POST /v1/memories"),
        (c.delete("/v1/memories/nope", params=params), 404, None, "to delete"),
        (c.post("/v1/memories/nope/restore", params=params, json={"version": 1}), 404, None, "never stored"),
        (c.post("/v1/memories/lang/restore", params=params, json={"version": 9}), 404, "version", "[1, 2]"),
    ]
    for response, status, field, hint in answers:
        err = error(response, status)
        assert err["field"] == field and hint in err["message"], err
        assert "['memories', 'u1']" in err["message"], err
        for leak in ("tenants", "acme", "get()", "put()"):
            assert leak not in err["message"], err