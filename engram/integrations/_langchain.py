"""engram's ``dspy.Tool`` memory tools as LangChain ``StructuredTool``s (the face is
:mod:`engram.integrations.langchain`; this module needs langchain-core).

Each LangChain call builds the engram tool afresh for that call: with the store of the run
and the run's ``configurable`` values as the namespace values. So concurrent runs for
different users never share a namespace, and the engram tool stays the one implementation
of checks, versioning and provenance.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel

from engram.errors import ConfigurationError, ConflictError, NotFoundError, ValidationError
from engram.store import NamespaceTemplate

ResponseFormat = Literal["content", "content_and_artifact"]
ACTIONS = ("create", "update", "delete")
# Errors the agent caused and can fix (a bad argument, an unknown id, a write that raced):
# LangChain hands their message back to the model as the tool's answer. Any other error
# (a namespace value missing from ``configurable``, no store) is the developer's and propagates.
AGENT_ERRORS = (ValidationError, NotFoundError, ConflictError)


def configurable_values(config: RunnableConfig | None = None) -> dict[str, Any]:
    """The ``configurable`` values of ``config``, or of the LangChain run this is called in.

    LangGraph's own entries (``__pregel_*``) are left out. Outside any run, and with no
    ``config``, the result is empty.

    Example::

        configurable_values({"configurable": {"user_id": "u1"}})   # {'user_id': 'u1'}
    """
    configurable = ensure_config(config).get("configurable") or {}
    return {k: v for k, v in configurable.items() if not k.startswith("__")}


def _graph_store() -> Any:
    """The store of the LangGraph run this is called in, or None."""
    try:
        from langgraph.config import get_store
    except ImportError:  # langgraph is optional: without it no graph can hold a store
        return None
    try:
        return get_store()
    except (RuntimeError, KeyError, AttributeError):  # not inside a LangGraph run, or no runtime
        return None


def _run_store(store: Any) -> Any:
    """The store one call uses: the tool's own, else the LangGraph run's, else None (configured)."""
    if store is not None:
        return store
    found = _graph_store()
    if found is None:
        return None
    from engram.store import MemoryStore

    if isinstance(found, MemoryStore):
        return found
    raise ConfigurationError(
        f"The LangGraph run's store is a {type(found).__name__}, but engram's memory tools keep "
        f"memories in an engram MemoryStore. Pass one to the agent, e.g. "
        f"create_react_agent(model, tools, store=MemoryStore.in_memory()) (or "
        f"MemoryStore.persistent(path)), or to the tool: create_manage_memory_tool(namespace, store=...).")


def _check_namespace(namespace: Any, factory: str) -> None:
    if callable(getattr(namespace, "search", None)) and callable(getattr(namespace, "put", None)):
        raise ValidationError(
            f"{factory}() got a store where the namespace goes: engram.integrations.langchain takes "
            f"LangMem's order, (namespace, *, store=...). Call {factory}(('memories', '{{user_id}}'), "
            f"store=store).")
    NamespaceTemplate(namespace)  # a malformed template fails here, not at the agent's first call


def _content(result: Any, response_format: ResponseFormat) -> Any:
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    return (text, result) if response_format == "content_and_artifact" else text


def _call(tool: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return tool(**kwargs)
    except AGENT_ERRORS as err:
        raise ToolException(str(err)) from err


async def _acall(tool: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return await tool.acall(**kwargs)
    except AGENT_ERRORS as err:
        raise ToolException(str(err)) from err


def _structured(prototype: Any, build: Callable[[RunnableConfig], Any], response_format: ResponseFormat,
                instructions: str = "") -> StructuredTool:
    """A ``StructuredTool`` with ``prototype``'s name, description and JSON schema; each call
    runs the tool that ``build(config)`` returns for that call's config."""
    from engram.modules import openai_function_schema

    if response_format not in ("content", "content_and_artifact"):
        raise ValidationError(f"response_format must be 'content' or 'content_and_artifact', "
                              f"got {response_format!r}.")
    function = openai_function_schema(prototype, strict=False)["function"]

    def run(config: RunnableConfig, **kwargs: Any) -> Any:
        return _content(_call(build(config), kwargs), response_format)

    async def arun(config: RunnableConfig, **kwargs: Any) -> Any:
        return _content(await _acall(build(config), kwargs), response_format)

    # A sync engram tool runs in LangChain's thread pool under ainvoke (the store calls block);
    # an async dspy tool gets the coroutine path only.
    is_async = inspect.iscoroutinefunction(getattr(prototype, "func", None))
    description = " ".join(p for p in (function["description"], instructions) if p)
    return StructuredTool(name=function["name"], description=description,
                          args_schema=function["parameters"], func=None if is_async else run,
                          coroutine=arun if is_async else None, handle_tool_error=True,
                          response_format=response_format)


def to_langchain_tool(tool: Any, *, response_format: ResponseFormat = "content") -> StructuredTool:
    """A LangChain ``StructuredTool`` that runs ``tool`` (an engram memory tool or any ``dspy.Tool``).

    Name, description and argument schema are the tool's own. An engram argument or
    not-found error is returned to the model as the tool's answer (``status="error"``), as
    ReAct shows it; other errors propagate. Results that are not text are sent as JSON;
    ``response_format="content_and_artifact"`` also keeps the raw result as the message's
    ``artifact``. The tool keeps its own namespace values; for values from ``configurable``
    use :func:`create_manage_memory_tool` / :func:`create_search_memory_tool`, or give the
    engram tool ``values=configurable_values``.

    Example::

        from engram.modules import create_manage_memory_tool as engram_manage_tool
        manage = to_langchain_tool(engram_manage_tool(store=store, namespace=("memories", "u1")))
        manage.invoke({"content": "Prefers dark mode"})        # 'created memory 3f2a9c0b1d4e'
        store.search(("memories", "u1"), "display theme")[0].text   # 'Prefers dark mode'
    """
    return _structured(tool, lambda config: tool, response_format)


def _bind(factory: Callable[..., Any], namespace: Any, store: Any, options: dict[str, Any],
          response_format: ResponseFormat, instructions: str = "") -> StructuredTool:
    prototype = factory(store=store, namespace=namespace, **options)  # bad options fail now

    def build(config: RunnableConfig) -> Any:
        return factory(store=_run_store(store), namespace=namespace,
                       values=configurable_values(config), **options)

    return _structured(prototype, build, response_format, instructions)


def create_manage_memory_tool(namespace: tuple[str, ...] | str, *, instructions: str = "",
                              schema: type[BaseModel | str] = str, actions_permitted: Sequence[str] = ACTIONS,
                              store: Any = None, name: str = "manage_memory") -> StructuredTool:
    """LangMem's ``create_manage_memory_tool``: a LangChain tool that creates, updates and deletes memories.

    ``namespace`` may hold ``{placeholders}`` filled from ``config["configurable"]`` on every
    call (``("memories", "{user_id}")``). ``store``: an engram ``MemoryStore``; without it
    the LangGraph run's store is used (``create_react_agent(..., store=...)``), else the
    configured one. ``schema`` (``str`` or a pydantic model) and ``actions_permitted`` are
    as in :func:`engram.modules.create_manage_memory_tool`; ``instructions`` are added to
    the tool's description.

    Example::

        manage = create_manage_memory_tool(("memories", "{user_id}"), store=store,
                                           actions_permitted=("create",))
        manage.invoke({"content": "Lives in Lisbon"}, config={"configurable": {"user_id": "u7"}})
        [r.text for r in store.search(("memories", "u7"), "home town")]   # ['Lives in Lisbon']
        manage.invoke({"content": "Lives in Porto"})                      # NamespaceError: needs ['user_id']
    """
    _check_namespace(namespace, "create_manage_memory_tool")
    from engram.modules import create_manage_memory_tool as engram_manage_tool

    options = {"schema": schema, "actions_permitted": tuple(actions_permitted), "instructions": instructions,
               "name": name}
    return _bind(engram_manage_tool, namespace, store, options, "content")


def create_search_memory_tool(namespace: tuple[str, ...] | str, *, instructions: str = "",
                              schema: type[BaseModel | str] = str, store: Any = None,
                              response_format: ResponseFormat = "content", name: str = "search_memory",
                              default_limit: int = 10) -> StructuredTool:
    """LangMem's ``create_search_memory_tool``: a LangChain tool that searches memories by meaning.

    Namespace, store and ``config["configurable"]`` as in :func:`create_manage_memory_tool`.
    Returns ``[{"id", "memory", "score"}]`` as JSON text; with
    ``response_format="content_and_artifact"`` the list is also the message's ``artifact``.
    ``default_limit`` is LangMem's 10.

    Example::

        config = {"configurable": {"user_id": "u1"}}
        manage = create_manage_memory_tool(("memories", "{user_id}"), store=store)
        manage.invoke({"content": "Prefers dark mode"}, config=config)
        search = create_search_memory_tool(("memories", "{user_id}"), store=store,
                                           response_format="content_and_artifact")
        call = {"name": "search_memory", "args": {"query": "theme"}, "id": "c1", "type": "tool_call"}
        message = search.invoke(call, config=config)   # a ToolMessage: JSON text + the list
        message.artifact[0]["memory"]                   # 'Prefers dark mode'
    """
    _check_namespace(namespace, "create_search_memory_tool")
    from engram.modules import create_search_memory_tool as engram_search_tool

    options = {"schema": schema, "name": name, "default_limit": default_limit}
    return _bind(engram_search_tool, namespace, store, options, response_format, instructions)


__all__ = ["configurable_values", "create_manage_memory_tool", "create_search_memory_tool", "to_langchain_tool"]
