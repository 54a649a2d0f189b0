"""LangMem-style constructors, for code moving from LangMem to engram.

Each returns the engram module that does the same job; ``model`` becomes the module's LM
(a LiteLLM name such as ``"openai/gpt-4o-mini"`` or a ``dspy.LM``). Defaults are LangMem's
(deletes off); the objects take LangMem's calls as well as engram's::

    manager = create_memory_manager("openai/gpt-4o-mini", instructions="Remember food preferences")
    memories = manager.invoke({"messages": messages})           # [(id, content), ...]
    pred = manager(conversation=messages)                       # engram: ops, refusals, memories

    store_manager = create_memory_store_manager("openai/gpt-4o-mini", namespace=("memories", "{user_id}"),
                                                store=MemoryStore.persistent())
    store_manager.invoke({"messages": messages}, config={"configurable": {"user_id": "u1"}})
    store_manager.update(messages, {"user_id": "u1"})           # engram: an UpdateResult

Deliberate differences, each an error rather than a silent change: ``store`` must be an
engram :class:`~engram.store.MemoryStore` (a LangGraph store is refused), and a LangChain
chat model is refused as ``model`` (pass its name, e.g. ``"openai/gpt-4o-mini"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engram.errors import ConfigurationError
from engram.modules._extractor import MemoryExtractor
from engram.modules._manager import MemoryManager
from engram.modules._searcher import MemorySearcher
from engram.modules._settings import LMSpec, Phase, ProfileStart
from engram.modules._summaries import ThreadSummarizer
from engram.store import Namespace, NamespaceTemplate

if TYPE_CHECKING:
    from engram.store import MemoryStore


def _lm(model: Any) -> Any:
    from engram.lm import resolve

    model = _model(model)
    return None if model is None else resolve("task", model)


def _model(model: Any) -> Any:
    """``model`` as engram takes it; a LangChain chat model is refused with what to pass instead."""
    if model is not None and not isinstance(model, str) and callable(getattr(model, "bind_tools", None)):
        name = getattr(model, "model_name", None) or getattr(model, "model", None) or "provider/model"
        raise ConfigurationError(
            f"engram calls LMs through DSPy, not LangChain chat models; pass the model's name "
            f"(e.g. model={str(name)!r} with its provider prefix, such as 'openai/{name}') or a dspy.LM.")
    if isinstance(model, str) and ":" in model and "/" not in model:
        provider, _, name = model.partition(":")  # LangChain's "provider:model" is LiteLLM's "provider/model"
        return f"{provider}/{name}"
    return model


def _no_config_argument(factory: Any) -> None:
    """LangMem calls ``default_factory(config)``; engram calls it with no argument, so a factory
    that needs one is refused here instead of failing (or guessing a config) at the first update."""
    if factory is None:
        return
    try:
        required = [p for p in inspect.signature(factory).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    if required:
        raise ConfigurationError(
            "default_factory is called with no arguments in engram (LangMem passed the RunnableConfig); "
            "pass e.g. `default_factory=lambda: UserProfile()`, or `default=` a fixed starting profile.")


def _store(store: Any) -> Any:
    if store is not None and not hasattr(store, "put_many"):
        raise ConfigurationError(
            f"store must be an engram MemoryStore, got {type(store).__name__}; use "
            "engram.store.MemoryStore.in_memory() or .persistent() (LangGraph stores are not read).")
    return store


def create_memory_manager(model: LMSpec = None, *, schemas: Sequence[type[BaseModel]] | None = None,
                          instructions: str = "", enable_inserts: bool = True, enable_updates: bool = True,
                          enable_deletes: bool = False, max_steps: int = 1) -> MemoryExtractor:
    """LangMem's ``create_memory_manager``: a stateless :class:`MemoryExtractor` (deletes off, as in LangMem).

    >>> create_memory_manager("openai/gpt-4o-mini").enable_deletes
    False
    """
    extractor = MemoryExtractor(schemas, instructions=instructions, enable_inserts=enable_inserts,
                                enable_updates=enable_updates, enable_deletes=enable_deletes, max_steps=max_steps)
    lm = _lm(model)
    if lm is not None:
        extractor.set_lm(lm)
    return extractor


def create_memory_store_manager(model: LMSpec = None, *, schemas: Sequence[type[BaseModel]] | None = None,
                                instructions: str = "", default: ProfileStart = None,
                                default_factory: Callable[[], ProfileStart] | None = None,
                                enable_inserts: bool = True, enable_deletes: bool = False,
                                query_model: LMSpec = None, query_limit: int = 5,
                                namespace: Namespace | NamespaceTemplate = ("memories", "{user_id}"),
                                store: MemoryStore | None = None,
                                phases: Sequence[Phase] = ()) -> MemoryManager:
    """LangMem's ``create_memory_store_manager``: a :class:`MemoryManager` (deletes off, as in
    LangMem). A ``default`` or ``default_factory`` with a single schema means profile mode, as
    in LangMem. ``namespace`` templates fill from ``config={"configurable": {...}}`` in
    ``invoke``; ``user_id`` and LangMem's ``langgraph_user_id`` stand in for each other.

    >>> create_memory_store_manager("openai/gpt-4o-mini").extraction.enable_deletes
    False
    """
    _no_config_argument(default_factory)
    profile = (default is not None or default_factory is not None) and schemas is not None and len(schemas) == 1
    return MemoryManager(_store(store), namespace, schemas=schemas, instructions=instructions, default=default,
                         default_factory=default_factory, enable_inserts=enable_inserts,
                         enable_deletes=enable_deletes, query_model=_model(query_model), query_limit=query_limit,
                         profile=profile, phases=phases, lm=_model(model))


def create_thread_extractor(model: LMSpec = None, *, schema: type[BaseModel] | None = None,
                            instructions: str = "") -> ThreadSummarizer:
    """LangMem's ``create_thread_extractor``: a :class:`ThreadSummarizer`."""
    return ThreadSummarizer(schema, instructions=instructions, lm=_model(model))


def create_memory_searcher(model: LMSpec = None, prompt: str | None = None, *,
                           namespace: Namespace | NamespaceTemplate = ("memories", "{user_id}"),
                           store: MemoryStore | None = None, query_limit: int = 3, limit: int = 10) -> MemorySearcher:
    """LangMem's ``create_memory_searcher``: a :class:`MemorySearcher`. A ``prompt`` is added to
    the instructions of its query-writing step (a DSPy signature)."""
    if store is None:
        from engram.store import MemoryStore

        store = MemoryStore.from_settings()
    searcher = MemorySearcher(_store(store), namespace, query_limit=query_limit, limit=limit, lm=_model(model))
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError(f"prompt must be non-empty text, got {prompt!r}.")
        step = searcher.write_queries
        step.signature = step.signature.with_instructions(f"{step.signature.instructions}\n{prompt.strip()}")
    return searcher


__all__ = [
    "create_memory_manager",
    "create_memory_searcher",
    "create_memory_store_manager",
    "create_thread_extractor",
]
