"""PATCH /v1/memories/{key} is idempotent, in process (FastAPI's TestClient, an in-memory store):
a patch that changes nothing answers the current version and adds none."""

from __future__ import annotations

import pytest

from tests.serve.conftest import in_process_app

NS = ["memories", "patch"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    app, service = in_process_app(tmp_path_factory.mktemp("serve-patch"))
    key = service.keys.create("acme", "read,write").key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def patch(c, key: str, body: dict) -> dict:
    response = c.patch(f"/v1/memories/{key}", params={"namespace": NS}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_patch_with_the_current_content_adds_no_version(client):
    created = client.post("/v1/memories", json={"namespace": NS, "key": "diet", "content": {"fact": "vegan"},
                                                "metadata": {"topic": "food"}}).json()
    for body in ({"content": {"fact": "vegan"}}, {"content": {"fact": "vegan"}, "kind": "memory"},
                 {"metadata": {"topic": "food"}}, {"metadata": {"absent": None}},
                 {"content": {"fact": "vegan"}, "expected_version": 1}):
        assert patch(client, "diet", body) == created, body
    history = client.get("/v1/memories/diet/history", params={"namespace": NS}).json()["versions"]
    assert [v["version"] for v in history] == [1]
    changed = patch(client, "diet", {"content": {"fact": "vegetarian"}})
    assert changed["version"] == 2 and changed["content"] == {"fact": "vegetarian"}
    again = patch(client, "diet", {"content": {"fact": "vegetarian"}})
    assert again == changed


def test_a_no_op_patch_at_a_stale_version_is_still_a_conflict(client):
    client.post("/v1/memories", json={"namespace": NS, "key": "city", "content": "Lisbon"})
    patch(client, "city", {"content": "Porto"})
    response = client.patch("/v1/memories/city", params={"namespace": NS},
                            json={"content": "Porto", "expected_version": 1})
    assert response.status_code == 409 and response.json()["error"]["field"] == "expected_version"


def test_the_openapi_description_says_so(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/memories/{key}"]["patch"]
    assert "adds no version" in operation["description"]
