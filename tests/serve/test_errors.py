"""Refusals and error bodies of the HTTP API, in process (FastAPI's TestClient, an in-memory store).

Each test sends what a client got wrong and checks the status, that the body says what to
do in the client's terms (``{"error": {"code", "message", "field"}}``), and that nothing
was stored.
"""

from __future__ import annotations

import pytest

from tests.serve.conftest import in_process_app

NS = ["memories", "u1"]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    app, service = in_process_app(tmp_path_factory.mktemp("serve-errors"))
    key = service.keys.create("acme", "read,write,optimize").key
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


def test_deeply_nested_content_is_refused_before_it_is_stored(app_client):
    c, service = app_client
    ns = ["memories", "deep"]
    err = error(c.post("/v1/memories", json={"namespace": ns, "key": "d", "content": nested(300)}), 422)
    assert err["field"] == "body.content" and "32 levels" in err["message"]
    assert stored(service, ns) == []
    assert c.post("/v1/memories/search", json={"namespace": ns}).status_code == 200
    ok = c.post("/v1/memories", json={"namespace": ns, "key": "d", "content": nested(32)})
    assert ok.status_code == 201, ok.text
    assert c.get("/v1/memories/d", params={"namespace": ns}).status_code == 200
    err = error(c.patch("/v1/memories/d", params={"namespace": ns}, json={"content": nested(40)}), 422)
    assert err["field"] == "body.content" and "32 levels" in err["message"]
    assert c.get("/v1/memories/d", params={"namespace": ns}).json()["version"] == 1


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


def test_a_json_body_without_a_json_content_type_says_which_header_to_send(app_client):
    c, _ = app_client
    sent = b'{"namespace": ["memories", "u1"], "content": "x"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        err = error(c.post("/v1/memories", content=sent, headers={"Content-Type": content_type}), 422)
        assert err["field"] == "body" and "Content-Type: application/json" in err["message"]
        assert content_type in err["message"]
    err = error(c.post("/v1/memories", content=b"[1]", headers={"Content-Type": "application/json"}), 422)
    assert "Content-Type" not in err["message"]


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


def test_error_bodies_have_a_field_and_name_only_what_the_client_sent(app_client):
    c, _ = app_client
    err = error(c.post("/v1/memories", json={"namespace": NS, "content": 5}), 422)
    assert err["field"] == "body.content" and "valid string" in err["message"] and "dictionary" in err["message"]
    err = error(c.post("/v1/memories", json={"namespace": NS, "content": "x", "metadata": {"a": [1]}}), 422)
    assert err["field"] == "body.metadata.a"
    err = error(c.post("/v1/memories", json={"namespace": NS, "content": "x", "metadata": {"str": [1]}}), 422)
    assert err["field"] == "body.metadata.str"  # a key of that name is kept
    err = error(c.post("/v1/memories/search", json={"namespace": NS, "filter": {"$and": [{"b": {"x": {}}}]}}), 422)
    assert err["field"] == "body.filter.$and[0].b.x"
    err = error(c.post("/v1/memories", content=b'{"namespace": ["a"], "content": x}',
                       headers={"Content-Type": "application/json"}), 422)
    assert err["field"] == "body" and "character 32" in err["message"] and "not valid JSON" in err["message"]


def test_413_by_content_length_has_the_error_shape(tmp_path):
    import anyio

    from engram.serve._limits import BodyLimit

    async def never(scope, receive, send):  # the app behind the limit is not reached
        raise AssertionError("the body limit let the request through")

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/memories", "headers": [(b"content-length", b"5000")]}
    anyio.run(BodyLimit(never, max_bytes=1024), scope, receive, send)
    import json

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"error": {"code": "payload_too_large", "field": None, "message": (
        "the request body is over 1,024 bytes; split it into smaller requests "
        "(ENGRAM_SERVE_MAX_BODY_BYTES raises the limit).")}}


def test_range_filters_combine_with_and_or(app_client):
    c, _ = app_client
    ns = ["memories", "range"]
    for key, b in (("one", 1), ("three", 3), ("seven", 7)):
        assert c.post("/v1/memories", json={"namespace": ns, "key": key, "content": key,
                                            "metadata": {"b": b}}).status_code == 201

    def ids(filter: dict) -> set[str]:
        found = c.post("/v1/memories/search", json={"namespace": ns, "filter": filter})
        assert found.status_code == 200, found.text
        return {r["id"] for r in found.json()["results"]}

    assert ids({"$and": [{"b": {"$gt": 1}}, {"b": {"$lt": 5}}]}) == {"three"}
    assert ids({"$or": [{"b": 1}, {"b": {"$gte": 7}}]}) == {"one", "seven"}
    assert ids({"$or": [{"$and": [{"b": {"$gt": 1}}, {"b": {"$lt": 5}}]}, {"b": 7}]}) == {"three", "seven"}
    advice = error(c.post("/v1/memories/search", json={"namespace": ns, "filter": {"b": {"$gt": 1, "$lt": 5}}}),
                   422)
    assert "combine with $and" in advice["message"]
    deep: dict = {"b": 1}
    for _ in range(8):
        deep = {"$and": [deep]}
    assert error(c.post("/v1/memories/search", json={"namespace": ns, "filter": deep}), 422)["field"] == "body.filter"


def test_optimize_refuses_what_the_job_would_fail_on(app_client):
    c, service = app_client
    data = [{"messages": [{"role": "user", "content": "hi"}], "feedback": {"score": 0.5}}]
    before = service.jobs.counts()
    err = error(c.post("/v1/optimize", json={"prompt": "p", "trajectories": data, "optimizer": {
        "min_reflection_steps": 5, "max_reflection_steps": 2}}), 422)
    assert err["field"] == "body.optimizer" and "min_reflection_steps" in err["message"]
    err = error(c.post("/v1/optimize", json={"prompt": "p", "trajectories": data, "optimizer": {
        "min_reflection_steps": 4}}), 422)  # over the default maximum (3)
    assert err["field"] == "body.optimizer"
    err = error(c.post("/v1/optimize", json={"prompt_name": "nosuch", "trajectories": data}), 404)
    assert err["field"] == "prompt_name" and "'nosuch'" in err["message"]
    assert service.jobs.counts() == before
    queued = c.post("/v1/optimize", json={"prompt": "p", "trajectories": data, "optimizer": {
        "kind": "metaprompt", "min_reflection_steps": 5, "max_reflection_steps": 2}})
    assert queued.status_code == 202, queued.text  # only the gradient optimizer has a minimum


@pytest.mark.parametrize(("path", "body", "field", "shape"), [
    ("/v1/memories/search", {"namespace": "memories/u1", "query": "tea"}, "body.namespace", '["memories", "u1"]'),
    ("/v1/extract", {"namespace": ["lists", "u1"], "messages": "hi"}, "body.messages",
     '[{"role": "user", "content": "hi"}]'),
])
def test_a_string_where_a_list_goes_shows_the_list(app_client, path, body, field, shape):
    client, service = app_client
    err = error(client.post(path, json=body), 422)
    assert err["field"] == field and err["message"].startswith(f"{field}: Input should be a valid list")
    assert shape in err["message"]
    assert stored(service, ["lists", "u1"]) == []


def test_an_unknown_path_or_method_names_the_route_and_where_the_api_is_listed(app_client):
    client, _ = app_client
    err = error(client.get("/v1/memory"), 404)
    assert err["code"] == "not_found" and err["message"].startswith("no such path: GET /v1/memory;")
    assert "/docs" in err["message"]
    err = error(client.put("/v1/memories"), 405)
    assert err["code"] == "method_not_allowed" and err["message"] == "PUT /v1/memories is not allowed; this path takes POST."
    # GET on the search path is routed as GET /v1/memories/{key} with the key "search"
    for send in (client.get, client.delete):
        err = error(send("/v1/memories/search"), 422)
        assert err["field"] == "query.namespace" and "to search, POST /v1/memories/search" in err["message"]
    # a 404 the API raises on purpose keeps its own words
    err = error(client.get("/v1/memories/nokey", params=[("namespace", "memories"), ("namespace", "u1")]), 404)
    assert "no such path" not in err["message"] and "nokey" in err["message"]
