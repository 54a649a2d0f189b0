"""engram's memory tools as LangChain tools, for LangGraph agents (``pip install 'engram[langchain]'``).

Same names, argument order and call shapes as LangMem's tools, with the memories in an
engram :class:`~engram.store.MemoryStore` (versioned, with provenance), so a LangMem agent
ports by changing its import line::

    from engram.integrations.langchain import create_manage_memory_tool, create_search_memory_tool

    store = MemoryStore.in_memory()
    manage = create_manage_memory_tool(("memories", "{user_id}"), store=store)
    search = create_search_memory_tool(("memories", "{user_id}"), store=store)
    config = {"configurable": {"user_id": "u1"}}
    manage.invoke({"content": "Prefers dark mode"}, config=config)   # 'created memory 3f2a9c...'
    search.invoke({"query": "display settings"}, config=config)      # '[{"id": "3f2a9c...", "memory": ...}]'
    store.search(("memories", "u1"), "display")[0].text              # 'Prefers dark mode'

With LangGraph, pass the tools and the store as LangMem's README does,
``create_react_agent(model, tools=[manage, search], store=store)``, and invoke the agent with
``config={"configurable": {"user_id": "u1"}}``: ``{user_id}`` is filled on every tool call.

- :func:`create_manage_memory_tool` / :func:`create_search_memory_tool` — LangMem's
  ``(namespace, *, store=..., ...)``, returning ``StructuredTool``s;
- :func:`to_langchain_tool` — any engram (or other ``dspy.Tool``) tool as a ``StructuredTool``;
- :func:`configurable_values` — the ``configurable`` values of the current LangChain run.

Which store a call uses: the ``store=`` given to the tool; else the store of the LangGraph
run (``create_react_agent(..., store=...)``, an engram ``MemoryStore``); else engram's
configured store (``MemoryStore.from_settings()``). A LangGraph store (``InMemoryStore``)
there is refused with an error saying to pass an engram store: engram's tools never write
to a store other than engram's.

Where engram differs from LangMem, on purpose and loudly: a namespace value missing from
``configurable`` is a :class:`engram.NamespaceError` (LangMem writes to a namespace that
still reads ``"{user_id}"``); search results are ``{"id", "memory", "score"}`` dicts.
"""

from __future__ import annotations

from engram.integrations._extras import MissingExtraError

try:
    import langchain_core  # noqa: F401  (the extra's one dependency; checked before anything else)
except ImportError as err:
    raise MissingExtraError("engram.integrations.langchain", "langchain-core", "langchain") from err

from engram.integrations._langchain import (
    configurable_values,
    create_manage_memory_tool,
    create_search_memory_tool,
    to_langchain_tool,
)

__all__ = [
    "configurable_values",
    "create_manage_memory_tool",
    "create_search_memory_tool",
    "to_langchain_tool",
]
