"""Messages with OpenAI-style content parts, in process (FastAPI's TestClient, no job runner): every
route that takes messages (/v1/extract, /v1/feedback, /v1/optimize) concatenates the text parts as
``engram.Message`` does and refuses any other part with a 422 that names it."""

from __future__ import annotations

import pytest

from tests.serve.conftest import in_process_app

NS = ["memories", "parts"]
PARTS = [{"type": "text", "text": "I moved to Lisbon."}, {"type": "text", "text": "I am vegetarian."}]
JOINED = "I moved to Lisbon.I am vegetarian."  # what engram.Message makes of PARTS (tested below)
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    app, service = in_process_app(tmp_path_factory.mktemp("serve-parts"))
    key = service.keys.create("acme", "read,write,optimize").key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, service


def conversation(content) -> list[dict]:
    return [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]}]


def test_extract_joins_text_parts(app_client):
    client, service = app_client
    queued = client.post("/v1/extract", json={"namespace": NS, "messages": conversation(PARTS)})
    assert queued.status_code == 202, queued.text
    job = service.jobs.get(queued.json()["job_id"], tenant="acme")
    assert job.payload["messages"] == [{"role": "user", "content": JOINED}, {"role": "assistant", "content": "Noted."}]


def test_feedback_and_optimize_take_the_same_shape(app_client):
    client, service = app_client
    trajectory = {"messages": conversation(PARTS), "feedback": {"score": 1.0}}
    appended = client.post("/v1/feedback", json={"dataset": "parts", "trajectories": [trajectory]})
    assert appended.status_code == 201, appended.text
    [stored] = list(service.datasets.load("acme", "parts"))
    assert stored.messages[0].content == JOINED and stored.messages[1].content == "Noted."
    queued = client.post("/v1/optimize", json={"prompt": "You help customers.", "trajectories": [trajectory]})
    assert queued.status_code == 202, queued.text
    job = service.jobs.get(queued.json()["id"], tenant="acme")
    assert job.payload["trajectories"][0]["messages"][0]["content"] == JOINED


@pytest.mark.parametrize("route", ["extract", "feedback", "optimize"])
def test_a_non_text_part_is_refused_by_name(app_client, route):
    client, _ = app_client
    messages = conversation([PARTS[0], IMAGE])
    body = {"extract": {"namespace": NS, "messages": messages},
            "feedback": {"dataset": "refused", "trajectories": [{"messages": messages}]},
            "optimize": {"prompt": "You help.", "trajectories": [{"messages": messages}]}}[route]
    response = client.post(f"/v1/{route}", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"].endswith("messages[0].content")
    assert "content[1] has type 'image_url'; only text parts" in error["message"]


@pytest.mark.parametrize(("content", "words"), [([], "list of 0 parts"), (["hi"], "content[0] is not an object"),
                                                ([{"type": "text"}], "without a 'text' string")])
def test_malformed_parts_say_what_is_wrong(app_client, content, words):
    client, _ = app_client
    response = client.post("/v1/extract", json={"namespace": NS, "messages": conversation(content)})
    assert response.status_code == 422 and words in response.json()["error"]["message"], response.text


def test_the_openapi_schema_shows_both_shapes(app_client):
    client, _ = app_client
    spec = client.get("/openapi.json").json()
    content = spec["components"]["schemas"]["MessageIn"]["properties"]["content"]
    shapes = {option["type"] for option in content["anyOf"]}
    assert shapes == {"string", "array"} and "only text parts" in content["description"]


def test_rest_and_python_store_the_same_text_for_the_same_parts():
    from engram.trajectories import Message

    assert Message.coerce({"role": "user", "content": PARTS}).content == JOINED
