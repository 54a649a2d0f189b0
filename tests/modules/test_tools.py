"""Memory tools: dspy.Tool behaviour, namespace scoping, strict OpenAI schemas, and a ReAct agent."""

from __future__ import annotations

import json

import dspy
import pytest
from pydantic import BaseModel

from engram.errors import EngramError, NotFoundError, ValidationError
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


def test_a_templated_tool_without_values_says_to_create_it_with_them(store):
    from engram.errors import NamespaceError

    manage, search = create_manage_memory_tool(store, NS), create_search_memory_tool(store, NS)
    for call in (lambda: manage(action="create", content="Prefers window seats"), lambda: search(query="seats")):
        with pytest.raises(NamespaceError, match=r"create it with values=\{'user_id': \.\.\.\}") as info:
            call()
        assert "config=" not in str(info.value)  # a tool takes no config at call time
    assert store.list_namespaces() == []  # nothing written


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


# -- bad calls: a corpus per tool (issue 11 item 13) ---------------------------------------------------
MANAGE_BAD = [
    ("positional", lambda m, key: m("create", "x"), "named arguments only"),
    ("extra user_id", lambda m, key: m(action="create", content="x", user_id="u9"), r"unknown argument.*user_id"),
    ("extra namespace", lambda m, key: m(action="create", content="x", namespace="team"), r"unknown argument.*namespace"),
    ("extra typo", lambda m, key: m(acton="create", content="x"), r"unknown argument.*acton"),
    ("extra query", lambda m, key: m(query="tea"), r"unknown argument.*query"),
    ("action unknown", lambda m, key: m(action="destroy", content="x"), r"'action' is invalid.*not one of"),
    ("action int", lambda m, key: m(action=5, content="x"), r"'action' is invalid"),
    ("action None", lambda m, key: m(action=None, content="x"), r"'action' is invalid"),
    ("action list", lambda m, key: m(action=["create"], content="x"), r"'action' is invalid"),
    ("content int", lambda m, key: m(action="create", content=5), r"'content' is invalid"),
    ("content list", lambda m, key: m(action="create", content=["x"]), r"'content' is invalid"),
    ("content dict", lambda m, key: m(action="create", content={"fact": "x"}), r"'content' is invalid"),
    ("content bool", lambda m, key: m(action="create", content=True), r"'content' is invalid"),
    ("create without content", lambda m, key: m(action="create"), "create needs content"),
    ("create with empty content", lambda m, key: m(action="create", content="   "), "content"),
    ("update without id", lambda m, key: m(action="update", content="y"), "needs id"),
    ("update with empty id", lambda m, key: m(action="update", content="y", id=""), "needs id"),
    ("update without content", lambda m, key: m(action="update", id=key), "update needs content"),
    ("update unknown id", lambda m, key: m(action="update", content="y", id="nope"), "no memory 'nope'"),
    ("delete without id", lambda m, key: m(action="delete"), "needs id"),
    ("delete unknown id", lambda m, key: m(action="delete", id="nope"), "no memory 'nope'"),
    ("id int", lambda m, key: m(action="delete", id=5), r"'id' is invalid"),
    ("id list", lambda m, key: m(action="delete", id=[key]), r"'id' is invalid"),
    ("too long", lambda m, key: m(action="create", content="x" * 70_000), "over the store's limit"),
]
SEARCH_BAD = [
    ("no arguments", lambda s: s(), r"missing required argument.*query"),
    ("only limit", lambda s: s(limit=3), r"missing required argument.*query"),
    ("positional", lambda s: s("tea"), "named arguments only"),
    ("filter open dict", lambda s: s(query="tea", filter={"a": 1}), r"'filter' is invalid"),
    ("filter item missing op", lambda s: s(query="tea", filter=[{"field": "a", "value": 1}]), r"'filter' is invalid"),
    ("filter unknown op", lambda s: s(query="tea", filter=[{"field": "a", "op": "like", "value": 1}]),
     r"'filter' is invalid"),
    ("filter extra key", lambda s: s(query="tea", filter=[{"field": "a", "op": "eq", "value": 1, "x": 2}]),
     r"'filter' is invalid"),
    ("filter reserved field", lambda s: s(query="tea", filter=[{"field": "_kind", "op": "eq", "value": "x"}]),
     "reserved"),
    ("filter in without list", lambda s: s(query="tea", filter=[{"field": "a", "op": "in", "value": "x"}]),
     "needs a non-empty list"),
    ("filter gt on a string", lambda s: s(query="tea", filter=[{"field": "a", "op": "gt", "value": "x"}]),
     "compares numbers only"),
    ("offset negative", lambda s: s(query="tea", offset=-1), r"'offset' is invalid"),
    ("offset str", lambda s: s(query="tea", offset="2"), r"'offset' is invalid"),
    ("offset too big", lambda s: s(query="tea", offset=10_000), r"'offset' is invalid"),
    ("extra user_id", lambda s: s(query="tea", user_id="u2"), r"unknown argument.*user_id"),
    ("extra typo", lambda s: s(qeury="tea"), r"unknown argument.*qeury"),
    ("extra content", lambda s: s(query="tea", content="x"), r"unknown argument.*content"),
    ("query None", lambda s: s(query=None), r"'query' is invalid"),
    ("query int", lambda s: s(query=5), r"'query' is invalid"),
    ("query list", lambda s: s(query=["tea"]), r"'query' is invalid"),
    ("query dict", lambda s: s(query={"q": "tea"}), r"'query' is invalid"),
    ("query empty", lambda s: s(query=""), "query must be a non-empty string"),
    ("query blank", lambda s: s(query="   "), "query must be a non-empty string"),
    ("limit str", lambda s: s(query="tea", limit="3"), r"'limit' is invalid"),
    ("limit float", lambda s: s(query="tea", limit=2.5), r"'limit' is invalid"),
    ("limit bool", lambda s: s(query="tea", limit=True), r"'limit' is invalid"),
    ("limit zero", lambda s: s(query="tea", limit=0), r"'limit' is invalid"),
    ("limit negative", lambda s: s(query="tea", limit=-3), r"'limit' is invalid"),
    ("limit too big", lambda s: s(query="tea", limit=1000), r"'limit' is invalid"),
    ("limit list", lambda s: s(query="tea", limit=[3]), r"'limit' is invalid"),
    ("query bytes", lambda s: s(query=b"tea"), r"'query' is invalid"),
]


def _state(store):
    return [(ns, [(r.id, r.version, r.content, r.deleted) for r in store.list(ns, include_deleted=True)])
            for ns in store.list_namespaces()]


@pytest.mark.parametrize("call", ["sync", "async"])
def test_bad_tool_calls_raise_validation_errors_naming_the_argument_and_change_nothing(store, call):
    import asyncio
    import re

    manage, search = tools(store)
    key = manage(action="create", content="Prefers green tea").split()[-1]
    before = _state(store)
    print(f"\nbad calls: manage_memory {len(MANAGE_BAD)}, search_memory {len(SEARCH_BAD)}")
    assert len(MANAGE_BAD) >= 20 and len(SEARCH_BAD) >= 20

    def via(tool):
        if call == "sync":
            return tool

        def run(*args, **kwargs):
            return asyncio.run(tool.acall(*args, **kwargs))
        return run

    wrong = []
    cases = [(f"manage {label}", lambda f=fn: f(via(manage), key), msg) for label, fn, msg in MANAGE_BAD]
    cases += [(f"search {label}", lambda f=fn: f(via(search)), msg) for label, fn, msg in SEARCH_BAD]
    for label, fn, pattern in cases:
        try:
            fn()
        except EngramError as err:
            if not re.search(pattern, str(err)):
                wrong.append(f"{label}: {str(err)[:150]!r} does not match {pattern!r}")
        except Exception as err:  # noqa: BLE001 - anything but an EngramError is the bug
            wrong.append(f"{label}: {type(err).__name__}: {str(err)[:150]}")
        else:
            wrong.append(f"{label}: accepted")
        assert _state(store) == before, f"{label} changed the store"
    assert not wrong, "\n".join(wrong)


def test_tool_limit_is_honoured_up_to_the_cap(store):
    manage, search = tools(store)
    for i in range(7):
        manage(action="create", content=f"Fact number {i} about tea")
    assert len(search(query="tea", limit=50)) == 7 and len(search(query="tea")) == 5
    assert len(search(query="tea", limit=None)) == 5


@pytest.mark.parametrize("factory", [create_manage_memory_tool, create_search_memory_tool])
def test_ambiguous_or_wrong_factory_calls_are_refused_when_the_tool_is_built(factory, store):
    with pytest.raises(ValidationError, match="cannot tell the store from the namespace"):
        factory(("memories", "a"), ("memories", "b"))
    with pytest.raises(ValidationError, match="store twice"):
        factory(store, store=store)
    with pytest.raises(ValidationError, match="namespace twice"):
        factory(("memories", "a"), namespace=("memories", "b"))
    with pytest.raises(ValidationError, match="needs a MemoryStore"):
        factory(42)
    with pytest.raises(ValidationError, match="looks like a namespace"):
        factory(store=("memories", "a"))
