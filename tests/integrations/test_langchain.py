"""engram's memory tools in LangGraph agents: LangMem's README example ported, namespaces from
``config["configurable"]``, stores, errors, and the import without the extra.

The chat model is langchain-core's ``FakeMessagesListChatModel`` replaying scripted turns
(tool calls, then an answer); it is told about the tools through ``bind_tools`` as a real
chat model is. The tools, the ToolNode, the graph and engram's store are all real.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph")

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from engram.errors import ConfigurationError, EngramError, NamespaceError, ValidationError
from engram.store import MemoryStore

# LangGraph 1.x deprecates create_react_agent for langchain.agents.create_agent (a DeprecationWarning,
# which pyproject's filterwarnings ignores); LangMem's README uses it, so these tests do.
pytestmark = pytest.mark.filterwarnings("ignore:create_react_agent has been moved")


class ScriptedChatModel(FakeMessagesListChatModel):
    """langchain-core's fake chat model; ``bind_tools`` attaches the tools' OpenAI schemas as a
    real model's does, and ``prompts`` keeps what the model was shown."""

    prompts: list = Field(default_factory=list)

    def bind_tools(self, tools, **kwargs):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages, *args, **kwargs):
        self.prompts.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def call(name: str, n: int = 1, **args) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{name}_{n}"}])


def tool_messages(result: dict) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def texts(store: MemoryStore, namespace: tuple[str, ...]) -> list[str]:
    return sorted(r.text for r in store.search(namespace, limit=50))


def react_agent(*args, **kwargs):
    from langgraph.prebuilt import create_react_agent

    return create_react_agent(*args, **kwargs)


# -- LangMem's README ("Creating an Agent"), ported --------------------------------------------------
def test_the_langmem_readme_agent_runs_with_only_the_import_store_and_model_changed(capsys) -> None:
    # The scripted turns a real model would choose: save, answer; then search, answer.
    model = ScriptedChatModel(responses=[
        call("manage_memory", content="The user prefers dark mode."),
        AIMessage(content="Got it, I'll remember that you prefer dark mode."),
        call("search_memory", query="lighting preferences"),
        AIMessage(content="You've told me that you prefer dark mode."),
    ])

    # ---- LangMem's README example from here; the lines marked "engram:" are the only changes ----
    # Import core components (1)
    from langgraph.prebuilt import create_react_agent

    from engram.integrations.langchain import (  # engram: was `from langmem import ...`
        create_manage_memory_tool,
        create_search_memory_tool,
    )
    from engram.store import MemoryStore  # engram: was langgraph.store.memory's InMemoryStore

    # Set up storage (2)
    store = MemoryStore.in_memory()  # engram: was InMemoryStore(index={"dims": 1536, "embed": "openai:..."})

    # Create an agent with memory capabilities (3)
    agent = create_react_agent(
        model,  # engram: was "anthropic:claude-3-5-sonnet-latest"
        tools=[
            # Memory tools use LangGraph's BaseStore for persistence (4)  [engram: the agent's store]
            create_manage_memory_tool(namespace=("memories",)),
            create_search_memory_tool(namespace=("memories",)),
        ],
        store=store,
    )

    # Store a new memory (1)
    agent.invoke(
        {"messages": [{"role": "user", "content": "Remember that I prefer dark mode."}]}
    )

    # Retrieve the stored memory (2)
    response = agent.invoke(
        {"messages": [{"role": "user", "content": "What are my lighting preferences?"}]}
    )
    print(response["messages"][-1].content)
    # ---- end of the example ----

    assert capsys.readouterr().out == "You've told me that you prefer dark mode.\n"
    # The memory is in engram's store, the one passed to the agent, versioned like any write.
    [record] = store.search(("memories",), "dark mode")
    assert record.text == "The user prefers dark mode." and record.kind == "Memory" and record.version == 1
    # The second run's search found it: the tool's answer (what the model read) holds it.
    [found] = tool_messages(response)
    assert found.status == "success" and found.name == "search_memory"
    assert [(hit["id"], hit["memory"]) for hit in json.loads(found.content)] == [
        (record.id, "The user prefers dark mode.")]


def test_the_hot_path_prompt_reads_engram_memories_through_langgraph_s_get_store() -> None:
    # LangMem's hot-path quickstart: a `prompt` function puts the user's memories in the system
    # message, fetching the graph's store with LangGraph's get_store(); engram's store answers
    # the same call, store.search(namespace=..., query=...).
    from langgraph.config import get_store

    from engram.integrations.langchain import create_manage_memory_tool, create_search_memory_tool

    def prompt(state):
        store = get_store()
        memories = store.search(namespace=("memories",), query=state["messages"][-1].content)
        system = "You are a helpful assistant.\n\n## Memories\n" + "\n".join(m.text for m in memories)
        return [{"role": "system", "content": system}, *state["messages"]]

    store = MemoryStore.in_memory()
    create_manage_memory_tool(("memories",), store=store).invoke({"content": "Prefers dark mode"})
    model = ScriptedChatModel(responses=[AIMessage(content="Dark, as you like it.")])
    agent = react_agent(model, tools=[create_manage_memory_tool(namespace=("memories",)),
                                      create_search_memory_tool(namespace=("memories",))],
                        prompt=prompt, store=store)
    agent.invoke({"messages": [{"role": "user", "content": "Which display theme do I like?"}]})
    [shown] = model.prompts
    assert shown[0].type == "system" and shown[0].content.endswith("## Memories\nPrefers dark mode")


# -- configurable namespace values ------------------------------------------------------------------
def user_agent(store: MemoryStore, turns: list[AIMessage]):
    from engram.integrations.langchain import create_manage_memory_tool, create_search_memory_tool

    tools = [create_manage_memory_tool(("memories", "{user_id}")),
             create_search_memory_tool(("memories", "{user_id}"))]
    return react_agent(ScriptedChatModel(responses=turns), tools=tools, store=store)


def ask(agent, text: str, user: str) -> dict:
    return agent.invoke({"messages": [{"role": "user", "content": text}]},
                        config={"configurable": {"user_id": user}})


def test_each_user_s_memories_land_in_their_namespace_and_stay_there() -> None:
    store = MemoryStore.in_memory()
    agent = user_agent(store, [
        call("manage_memory", 1, content="Prefers dark mode"), AIMessage(content="Noted."),
        call("manage_memory", 2, content="Prefers light mode"), AIMessage(content="Noted."),
        call("search_memory", 3, query="display theme"), AIMessage(content="Dark mode."),
        call("search_memory", 4, query="display theme"), AIMessage(content="Light mode."),
    ])
    ask(agent, "I like dark mode", "u1")
    ask(agent, "I like light mode", "u2")
    assert texts(store, ("memories", "u1")) == ["Prefers dark mode"]
    assert texts(store, ("memories", "u2")) == ["Prefers light mode"]

    [u1_hits] = tool_messages(ask(agent, "which theme?", "u1"))
    [u2_hits] = tool_messages(ask(agent, "which theme?", "u2"))
    assert [h["memory"] for h in json.loads(u1_hits.content)] == ["Prefers dark mode"]
    assert [h["memory"] for h in json.loads(u2_hits.content)] == ["Prefers light mode"]


def test_an_async_agent_fills_the_namespace_the_same_way() -> None:
    store = MemoryStore.in_memory()
    agent = user_agent(store, [call("manage_memory", content="Works nights"), AIMessage(content="Noted.")])
    result = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": "I work nights"}]},
                                       config={"configurable": {"user_id": "u9"}}))
    assert tool_messages(result)[0].content.startswith("created memory ")
    assert texts(store, ("memories", "u9")) == ["Works nights"]


def test_an_update_and_a_delete_by_the_agent_are_versioned_engram_writes() -> None:
    store = MemoryStore.in_memory()
    created = store.put(("memories", "u1"), "m1", {"content": "Lives in Lyon"}, kind="Memory",
                        text="Lives in Lyon")
    agent = user_agent(store, [
        call("manage_memory", 1, action="update", id="m1", content="Lives in Lisbon"), AIMessage(content="ok"),
        call("manage_memory", 2, action="delete", id="m1"), AIMessage(content="ok"),
    ])
    ask(agent, "I moved to Lisbon", "u1")
    assert store.get(("memories", "u1"), "m1").version == created.version + 1
    assert texts(store, ("memories", "u1")) == ["Lives in Lisbon"]
    ask(agent, "forget where I live", "u1")
    assert texts(store, ("memories", "u1")) == []
    assert [r.text for r in store.history(("memories", "u1"), "m1")][:2] == ["Lives in Lyon", "Lives in Lisbon"]


# -- errors -----------------------------------------------------------------------------------------
def test_the_agent_reads_its_own_mistake_as_the_tool_s_answer_and_nothing_is_written() -> None:
    store = MemoryStore.in_memory()
    agent = user_agent(store, [
        call("manage_memory", 1, action="update", id="no-such-id", content="x"),
        call("manage_memory", 2, action="create"),
        AIMessage(content="Sorry."),
    ])
    result = ask(agent, "update it", "u1")
    unknown, empty = tool_messages(result)
    assert unknown.status == "error" and "no memory 'no-such-id'" in unknown.content
    assert empty.status == "error" and "create needs content" in empty.content
    assert result["messages"][-1].content == "Sorry."
    assert texts(store, ("memories", "u1")) == []


def test_a_namespace_value_missing_from_configurable_is_the_developer_s_error() -> None:
    store = MemoryStore.in_memory()
    agent = user_agent(store, [call("manage_memory", content="x"), AIMessage(content="ok")])
    with pytest.raises(NamespaceError, match=r"needs \['user_id'\].*configurable"):
        agent.invoke({"messages": [{"role": "user", "content": "hi"}]}, config={"configurable": {"org": "a"}})
    assert store.list_namespaces() == []


def test_a_langgraph_store_on_the_agent_is_refused_with_what_to_pass_instead() -> None:
    from langgraph.store.memory import InMemoryStore

    from engram.integrations.langchain import create_manage_memory_tool

    lg_store = InMemoryStore()
    agent = react_agent(ScriptedChatModel(responses=[call("manage_memory", content="x"), AIMessage(content="ok")]),
                        tools=[create_manage_memory_tool(("memories",))], store=lg_store)
    with pytest.raises(ConfigurationError, match=r"InMemoryStore.*engram MemoryStore.*store=MemoryStore"):
        agent.invoke({"messages": [{"role": "user", "content": "hi"}]})
    assert lg_store.search(("memories",)) == []


def test_langmem_s_argument_order_is_the_one_taken_and_engram_s_is_refused() -> None:
    from engram.integrations.langchain import create_manage_memory_tool, create_search_memory_tool

    store = MemoryStore.in_memory()
    with pytest.raises(ValidationError, match=r"LangMem's order, \(namespace, \*, store=\.\.\.\)"):
        create_manage_memory_tool(store)
    with pytest.raises(TypeError):  # everything after the namespace is by name, as in LangMem
        create_search_memory_tool(("memories",), store)
    with pytest.raises(NamespaceError):  # a malformed template fails at creation, not at the agent's call
        create_search_memory_tool(("memories", ""), store=store)
    with pytest.raises(ValidationError, match="actions_permitted"):
        create_manage_memory_tool(("memories",), store=store, actions_permitted=("merge",))
    with pytest.raises(ValidationError, match="response_format"):
        create_search_memory_tool(("memories",), store=store, response_format="json")


# -- stores and conversions -------------------------------------------------------------------------
def test_the_tool_s_own_store_wins_over_the_agent_s() -> None:
    from engram.integrations.langchain import create_manage_memory_tool

    own, agents = MemoryStore.in_memory(), MemoryStore.in_memory()
    agent = react_agent(ScriptedChatModel(responses=[call("manage_memory", content="Owns a cat"),
                                                     AIMessage(content="ok")]),
                        tools=[create_manage_memory_tool(("memories",), store=own)], store=agents)
    agent.invoke({"messages": [{"role": "user", "content": "I have a cat"}]})
    assert texts(own, ("memories",)) == ["Owns a cat"] and texts(agents, ("memories",)) == []


def test_without_any_store_the_configured_engram_store_is_used() -> None:
    from engram.integrations.langchain import create_manage_memory_tool

    tool = create_manage_memory_tool(("memories", "{user_id}"))
    assert tool.invoke({"content": "Plays chess"}, config={"configurable": {"user_id": "u3"}}).startswith("created")
    configured = MemoryStore.from_settings()  # ENGRAM_HOME is the test's own directory (conftest)
    assert texts(configured, ("memories", "u3")) == ["Plays chess"]


def test_search_results_can_come_back_as_content_and_artifact() -> None:
    from engram.integrations.langchain import create_manage_memory_tool, create_search_memory_tool

    store = MemoryStore.in_memory()
    config = {"configurable": {"user_id": "u1"}}
    create_manage_memory_tool(("memories", "{user_id}"), store=store).invoke({"content": "Likes tea"}, config=config)
    search = create_search_memory_tool(("memories", "{user_id}"), store=store, response_format="content_and_artifact",
                                       instructions="Search before answering.")
    message = search.invoke({"name": "search_memory", "args": {"query": "drinks", "limit": 1}, "id": "c1",
                             "type": "tool_call"}, config=config)
    assert message.artifact == json.loads(message.content)
    assert [hit["memory"] for hit in message.artifact] == ["Likes tea"]
    assert search.description.endswith("Search before answering.")


def test_any_engram_or_dspy_tool_converts_with_its_own_schema() -> None:
    import dspy

    from engram.integrations.langchain import to_langchain_tool
    from engram.modules import create_manage_memory_tool as engram_manage_tool

    store = MemoryStore.in_memory()
    engram_tool = engram_manage_tool(store=store, namespace=("memories", "team"), actions_permitted=("create",))
    lc_tool = to_langchain_tool(engram_tool)
    schema = convert_to_openai_tool(lc_tool)["function"]
    assert schema["name"] == "manage_memory" and schema["description"] == engram_tool.desc
    assert schema["parameters"]["properties"] == engram_tool.args
    assert lc_tool.invoke({"content": "Deploys on Fridays"}).startswith("created memory ")
    assert texts(store, ("memories", "team")) == ["Deploys on Fridays"]

    def add(a: int, b: int) -> dict:
        """Add two numbers."""
        return {"sum": a + b}

    adder = to_langchain_tool(dspy.Tool(add))
    assert json.loads(adder.invoke({"a": 2, "b": 3})) == {"sum": 5}

    async def aadd(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    aadder = to_langchain_tool(dspy.Tool(aadd))
    assert asyncio.run(aadder.ainvoke({"a": 2, "b": 5})) == "7"


def test_configurable_values_leave_langgraph_s_own_keys_out() -> None:
    from engram.integrations.langchain import configurable_values

    assert configurable_values({"configurable": {"user_id": "u1", "__pregel_runtime": object()}}) == {"user_id": "u1"}
    assert configurable_values() == {}


# -- without the extra ------------------------------------------------------------------------------
def test_importing_without_langchain_core_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core", None)  # what an absent package looks like to import
    for name in ("engram.integrations.langchain", "engram.integrations._langchain"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    from engram.integrations import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"pip install 'engram\[langchain\]'") as caught:
        import engram.integrations.langchain  # noqa: F401
    assert isinstance(caught.value, EngramError) and isinstance(caught.value, ImportError)
