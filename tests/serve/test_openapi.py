"""The OpenAPI document as generated clients read it, in process (FastAPI's TestClient): the bearer
security scheme, the error statuses each route can answer, and HEAD on /healthz."""

from __future__ import annotations

import pytest

from tests.serve.conftest import in_process_app

KEYED = {("post", "/v1/memories"), ("post", "/v1/memories/search"), ("get", "/v1/memories/{key}"),
         ("patch", "/v1/memories/{key}"), ("delete", "/v1/memories/{key}"), ("get", "/v1/memories/{key}/history"),
         ("post", "/v1/memories/{key}/restore"), ("get", "/v1/namespaces"), ("post", "/v1/extract"),
         ("get", "/v1/prompts/{name}"), ("post", "/v1/optimize"), ("get", "/v1/jobs/{job_id}"),
         ("post", "/v1/feedback")}
WITH_BODY = {(m, p) for m, p in KEYED if m in ("post", "patch")}
UNAUTHORIZED = {"error": {"code": "unauthorized", "field": None,
                          "message": "missing or invalid API key: send 'Authorization: Bearer <key>' with a key "
                                     "from `engram keys create`."}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    app, service = in_process_app(tmp_path_factory.mktemp("serve-openapi"))
    with TestClient(app) as c:
        c.read_key = service.keys.create("acme", "read").key
        yield c


@pytest.fixture(scope="module")
def spec(client):
    return client.get("/openapi.json").json()


def test_keyed_routes_declare_the_bearer_scheme(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = {(m, p): op for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert KEYED <= set(operations)
    for name in KEYED:
        assert operations[name].get("security") == [{"bearerAuth": []}], name
    for path in ("/healthz", "/readyz"):
        assert "security" not in spec["paths"][path]["get"], path


def test_auth_answers_are_unchanged_by_the_scheme(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer"}):
        r = client.get("/v1/namespaces", headers=headers)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    ok = client.get("/v1/namespaces", headers={"Authorization": f"bearer {client.read_key}"})
    assert ok.status_code == 200, ok.text
    denied = client.post("/v1/feedback", headers={"Authorization": f"Bearer {client.read_key}"},
                         json={"dataset": "d", "trajectories": []})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


def test_error_statuses_are_declared_with_the_error_model(spec):
    def declared(method: str, path: str) -> dict:
        return spec["paths"][path][method]["responses"]

    error_ref = "#/components/schemas/ErrorOut"
    for method, path in KEYED:
        wanted = {"401", "403", "429"} | ({"413"} if (method, path) in WITH_BODY else set())
        responses = declared(method, path)
        assert wanted <= set(responses), (method, path, sorted(responses))
        for status in wanted:
            assert responses[status]["content"]["application/json"]["schema"]["$ref"] == error_ref
    assert "409" in declared("post", "/v1/memories")
    assert "404" in declared("post", "/v1/optimize")
    for path in ("/healthz", "/readyz"):
        assert not {"401", "422"} & set(declared("get", path)), path


def test_head_healthz(client):
    r = client.head("/healthz")
    assert r.status_code == 200 and r.content == b""
    assert client.get("/healthz").json() == {"status": "ok"}
