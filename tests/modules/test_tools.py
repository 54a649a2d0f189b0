"""Memory tools: dspy.Tool behaviour, namespace scoping, strict OpenAI schemas, and a ReAct agent."""

from __future__ import annotations

import json

import dspy
import pytest
from pydantic import BaseModel

from engram.errors import NotFoundError, ValidationError
from engram.modules._schemas import Episode, UserProfile
from engram.modules._strict import strict_problems, to_strict
from engram.modules._tools import create_manage_memory_tool, create_search_memory_tool
from engram.testing._scripted import scripted_lm

NS = ("memories", "{user_id}")


def tools(store, user="u1", **kwargs):
    values = {"user_id": user}
    return (create_manage_memory_tool(store, NS, values=values, **kwargs),
            create_search_memory_tool(store, NS, values=values))


def test_create_update_delete_and_search_in_one_namespace(store):
    manage, search = tools(store)
    created = manage(action="create", content="Prefers window seats")
    key = created.split()[-1]
    [hit] = search(query="window seat")
    assert hit["id"] == key and hit["memory"] == "Prefers window seats"
    assert manage(action="update", content="Prefers aisle seats", id=key) == f"updated memory {key}"
    assert store.get(("memories", "u1"), key).version == 2
    other_manage, other_search = tools(store, user="u2")
    with pytest.raises(NotFoundError):  # another tenant's id is not visible
        other_manage(action="delete", id=key)
    assert other_search(query="aisle seats") == []
    assert manage(action="delete", id=key) == f"deleted memory {key}"
    assert search(query="aisle seats") == []


def test_actions_permitted_limits_the_tool(store):
    manage, _ = tools(store, actions_permitted=("create",))
    with pytest.raises(ValueError, match="not one of"):  # DSPy checks the enum first
        manage(action="delete", id="x")
    with pytest.raises(ValidationError, match="not permitted"):
        manage.func(action="delete", id="x")
    assert manage.args["action"]["enum"] == ["create"]
    with pytest.raises(ValidationError):
        create_manage_memory_tool(store, NS, actions_permitted=("drop",))


def test_structured_schema_is_validated(store):
    manage, _ = tools(store, schema=Episode)
    with pytest.raises(ValidationError, match="observation"):
        manage(action="create", content={"thoughts": "no observation"})
    key = manage(action="create", content={"observation": "refund asked twice"}).split()[-1]
    manage(action="update", id=key, content={"result": "refunded"})
    assert store.get(("memories", "u1"), key).content == {
        "observation": "refund asked twice", "thoughts": "", "action": "", "result": "refunded"}


@pytest.mark.parametrize("schema", [str, Episode, UserProfile])
def test_openai_schemas_are_valid_in_strict_mode(store, schema):
    manage, search = tools(store, schema=schema)
    for tool in (manage, search):
        spec = tool.openai_schema()
        function = spec["function"]
        assert spec["type"] == "function" and function["strict"] is True
        assert strict_problems(function["parameters"]) == []
        json.dumps(spec)  # serializable
    params = manage.openai_schema()["function"]["parameters"]
    assert params["required"] == ["action", "content", "id"]
    assert "null" in params["properties"]["id"]["type"]


def test_to_strict_makes_optionals_nullable_and_closes_objects():
    class Inner(BaseModel):
        x: int
        y: str | None = None

    class Outer(BaseModel):
        inner: Inner
        tags: list[str] = []

    strict = to_strict(Outer.model_json_schema())
    assert strict_problems(strict) == []
    assert strict["properties"]["inner"]["additionalProperties"] is False
    assert strict["properties"]["tags"]["type"] == ["array", "null"]
    assert strict_problems(Outer.model_json_schema())  # the raw pydantic schema is not strict


def _agent_lm():
    """Drives ReAct's fields: remember a preference when told, recall it when booking."""

    def answer(call):
        if "next_tool_name" in call.output_fields:
            trajectory, request = call.inputs.get("trajectory", ""), call.inputs["request"]
            if "observation_0" in trajectory:
                return {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": {}}
            if "book" in request.lower():
                return {"next_thought": "Check the user's seat preference.", "next_tool_name": "search_memory",
                        "next_tool_args": {"query": "seat preference"}}
            return {"next_thought": "Remember this.", "next_tool_name": "manage_memory",
                    "next_tool_args": {"action": "create", "content": "Prefers window seats", "id": None}}
        trajectory = call.inputs.get("trajectory", "")
        if "book" in call.inputs["request"].lower():
            seat = "window" if "Prefers window seats" in trajectory else "any"
            return {"reasoning": "From memory.", "response": f"Booked a {seat} seat to Paris."}
        return {"reasoning": "Saved.", "response": "Noted, I'll remember that."}

    return scripted_lm(answer)


def test_react_agent_stores_a_preference_and_uses_it_in_the_next_conversation(store):
    manage, search = tools(store)
    agent = dspy.ReAct("request -> response", tools=[manage, search], max_iters=4)
    with dspy.context(lm=_agent_lm()):
        first = agent(request="I always want a window seat when I fly.")
        assert "created memory" in str(first.trajectory["observation_0"])
        second = agent(request="Book me a flight to Paris.")
    assert second.response == "Booked a window seat to Paris."
    assert "Prefers window seats" in str(second.trajectory["observation_0"])
    assert [r.text for r in store.list(("memories", "u1"))] == ["Prefers window seats"]
