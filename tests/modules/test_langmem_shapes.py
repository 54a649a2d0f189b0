"""LangMem's call shapes on the memory modules: defaults, invoke/ainvoke with config.configurable,
(id, content) results, RemoveDoc, ReflectionExecutor.submit({"messages"}, config=...), and the
deliberate differences refused with an error."""

from __future__ import annotations

import asyncio

import dspy
import pytest
from pydantic import BaseModel

from engram.errors import ConfigurationError, NamespaceError, ValidationError
from engram.modules import (
    ExtractedMemory,
    MemoryManager,
    ReflectionExecutor,
    RemoveDoc,
    create_memory_manager,
    create_memory_store_manager,
)
from engram.store import MemoryStore
from engram.testing import simulated_lm
from engram.testing._scripted import scripted_lm

HELLO = [{"role": "user", "content": "Hi, I'm Maya from Lisbon."}, {"role": "assistant", "content": "Hi Maya!"}]
MOVED = [{"role": "user", "content": "I moved to Porto last month."}]


def test_deletes_are_off_by_default_as_in_langmem():
    assert create_memory_manager().enable_deletes is False
    manager = create_memory_store_manager(store=MemoryStore.in_memory())
    assert manager.extraction.enable_deletes is False
    assert "delete" not in manager.extractor.extract.signature.instructions.split("Allowed ops:")[1].split(".")[0]
    assert create_memory_manager(enable_deletes=True).enable_deletes is True


def test_extractor_invoke_returns_id_content_pairs_and_takes_them_back():
    with dspy.context(lm=simulated_lm()):
        manager = create_memory_manager()
        memories = manager.invoke({"messages": HELLO})
        texts = {content.content for _, content in memories}
        assert texts == {"The user's name is Maya.", "The user lives in Lisbon."}
        assert all(isinstance(m, ExtractedMemory) and m[0] == m.id for m in memories)
        updated = manager.invoke({"messages": MOVED, "existing": memories})
    by_id = dict(updated)  # (id, content) pairs
    city = next(m.id for m in memories if "Lisbon" in m.content.content)
    assert by_id[city].content == "The user lives in Porto."  # same id: an update, not a new memory
    assert len(by_id) == 2  # the unchanged name memory comes back too, as in LangMem


def test_a_deletion_comes_back_as_remove_doc():
    lm = scripted_lm({"ops": '{"op": "delete", "id": 1, "quote": "forget it"}'})
    manager = create_memory_manager(lm, enable_deletes=True)
    out = manager.invoke({"messages": [{"role": "user", "content": "forget it"}], "existing": [("m-1", "Likes jazz")]})
    assert [(m.id, m.content) for m in out] == [("m-1", RemoveDoc(json_doc_id="m-1"))]
    # an earlier result with its RemoveDoc markers can be passed back as existing
    assert manager.invoke({"messages": [{"role": "user", "content": "hello"}], "existing": out}) == []


def test_store_manager_invoke_fills_the_namespace_from_configurable():
    store = MemoryStore.in_memory()
    with dspy.context(lm=simulated_lm()):
        manager = create_memory_store_manager(namespace=("memories", "{user_id}"), store=store)
        puts = manager.invoke({"messages": HELLO}, config={"configurable": {"user_id": "u1"}})
        # LangMem's default key works for engram's template and the other way round
        langmem_default = create_memory_store_manager(namespace=("memories", "{langgraph_user_id}"), store=store)
        asyncio.run(langmem_default.ainvoke({"messages": MOVED}, config={"configurable": {"user_id": "u2"}}))
    assert {p["namespace"] for p in puts} == {("memories", "u1")}
    assert {p["value"]["content"]["content"] for p in puts} == {"The user's name is Maya.", "The user lives in Lisbon."}
    assert [r.text for r in store.search(("memories", "u2"), None)] == ["The user lives in Porto."]
    with pytest.raises(NamespaceError, match="configurable"):
        manager.invoke({"messages": HELLO})


def test_invoke_refuses_inputs_it_does_not_read():
    manager = MemoryManager(MemoryStore.in_memory())
    with pytest.raises(ValidationError, match="'messages'"):
        manager.invoke({"conversation": HELLO}, config={"configurable": {"user_id": "u1"}})
    with pytest.raises(ValidationError, match="create_memory_manager"):
        manager.invoke({"messages": HELLO, "existing": []}, config={"configurable": {"user_id": "u1"}})


def test_deliberate_differences_are_errors():
    class ChatModel:  # duck-types a LangChain chat model
        model_name = "gpt-4o-mini"

        def bind_tools(self, tools):
            return self

    with pytest.raises(ConfigurationError, match="openai/gpt-4o-mini"):
        create_memory_store_manager(ChatModel(), store=MemoryStore.in_memory())

    class LangGraphStore:
        def put(self, namespace, key, value):
            pass

    with pytest.raises(ConfigurationError, match="MemoryStore"):
        create_memory_store_manager("openai/gpt-4o-mini", store=LangGraphStore())
    # LangChain's "provider:model" names become LiteLLM's "provider/model"
    assert create_memory_store_manager("anthropic:claude-3-5-sonnet-latest").lm == "anthropic/claude-3-5-sonnet-latest"


def test_reflection_executor_takes_langmem_submit():
    store = MemoryStore.in_memory()
    with dspy.context(lm=simulated_lm()):
        manager = create_memory_store_manager(store=store)
        with ReflectionExecutor(manager) as executor:
            future = executor.submit({"messages": HELLO}, config={"configurable": {"langgraph_user_id": "u9"}},
                                     after_seconds=0)
            result = future.result(timeout=60)
    assert result.namespace == ("memories", "u9") and len(result.written) == 2


def test_a_default_factory_that_wants_langmems_config_is_refused():
    from engram.modules import UserProfile

    with pytest.raises(ConfigurationError, match="no arguments"):
        create_memory_store_manager(schemas=[UserProfile], default_factory=lambda config: UserProfile(),
                                    store=MemoryStore.in_memory())
    manager = create_memory_store_manager(schemas=[UserProfile], default_factory=lambda: UserProfile(name="?"),
                                          store=MemoryStore.in_memory())
    assert manager.profile


def test_thread_extractor_and_searcher_take_invoke():
    from engram.modules import create_memory_searcher, create_thread_extractor

    class Notes(BaseModel):
        topic: str

    with dspy.context(lm=scripted_lm({"summary": Notes(topic="moving")})):
        notes = create_thread_extractor(schema=Notes).invoke({"messages": MOVED})
    assert notes == Notes(topic="moving")
    store = MemoryStore.in_memory()
    with dspy.context(lm=simulated_lm()):
        create_memory_store_manager(store=store).invoke({"messages": HELLO}, config={"configurable": {"user_id": "u"}})
        searcher = create_memory_searcher(None, "Prefer queries about places.", store=store)
        found = searcher.invoke({"messages": HELLO}, config={"configurable": {"user_id": "u"}})
    assert "Prefer queries about places." in searcher.write_queries.signature.instructions
    assert {r.text for r in found} >= {"The user lives in Lisbon."}


def test_reflection_executor_takes_langmems_store_argument():
    store = MemoryStore.in_memory()
    manager = create_memory_store_manager()
    with ReflectionExecutor(manager, store=store):
        assert manager.store is store
    with pytest.raises(ValidationError, match="another store"):
        ReflectionExecutor(manager, store=MemoryStore.in_memory())
