"""LangMem-style constructors, for code moving from LangMem to engram.

Each returns the engram module that does the same job; ``model`` becomes the module's LM
(a LiteLLM name such as ``"openai/gpt-4o-mini"`` or a ``dspy.LM``)::

    manager = create_memory_manager("openai/gpt-4o-mini", instructions="Remember food preferences")
    pred = manager(conversation=messages)                       # LangMem: manager.invoke({...})

    store_manager = create_memory_store_manager("openai/gpt-4o-mini", namespace=("memories", "{user_id}"),
                                                store=MemoryStore.persistent())
    store_manager.update(messages, {"user_id": "u1"})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

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

    return None if model is None else resolve("task", model)


def create_memory_manager(model: LMSpec = None, *, schemas: Sequence[type[BaseModel]] | None = None,
                          instructions: str = "", enable_inserts: bool = True, enable_updates: bool = True,
                          enable_deletes: bool = True, max_steps: int = 1) -> MemoryExtractor:
    """LangMem's ``create_memory_manager``: a stateless :class:`MemoryExtractor`."""
    extractor = MemoryExtractor(schemas, instructions=instructions, enable_inserts=enable_inserts,
                                enable_updates=enable_updates, enable_deletes=enable_deletes, max_steps=max_steps)
    lm = _lm(model)
    if lm is not None:
        extractor.set_lm(lm)
    return extractor


def create_memory_store_manager(model: LMSpec = None, *, schemas: Sequence[type[BaseModel]] | None = None,
                                instructions: str = "", default: ProfileStart = None,
                                default_factory: Callable[[], ProfileStart] | None = None,
                                enable_inserts: bool = True, enable_deletes: bool = True,
                                query_model: LMSpec = None, query_limit: int = 5,
                                namespace: Namespace | NamespaceTemplate = ("memories", "{user_id}"),
                                store: MemoryStore | None = None,
                                phases: Sequence[Phase] = ()) -> MemoryManager:
    """LangMem's ``create_memory_store_manager``: a :class:`MemoryManager`. A ``default`` or
    ``default_factory`` with a single schema means profile mode, as in LangMem."""
    profile = (default is not None or default_factory is not None) and schemas is not None and len(schemas) == 1
    return MemoryManager(store, namespace, schemas=schemas, instructions=instructions, default=default,
                         default_factory=default_factory, enable_inserts=enable_inserts,
                         enable_deletes=enable_deletes, query_model=query_model, query_limit=query_limit,
                         profile=profile, phases=phases, lm=model)


def create_thread_extractor(model: LMSpec = None, *, schema: type[BaseModel] | None = None,
                            instructions: str = "") -> ThreadSummarizer:
    """LangMem's ``create_thread_extractor``: a :class:`ThreadSummarizer`."""
    return ThreadSummarizer(schema, instructions=instructions, lm=model)


def create_memory_searcher(model: LMSpec = None, *,
                           namespace: Namespace | NamespaceTemplate = ("memories", "{user_id}"),
                           store: MemoryStore | None = None, query_limit: int = 3, limit: int = 10) -> MemorySearcher:
    """LangMem's ``create_memory_searcher``: a :class:`MemorySearcher`."""
    if store is None:
        from engram.store import MemoryStore

        store = MemoryStore.from_settings()
    return MemorySearcher(store, namespace, query_limit=query_limit, limit=limit, lm=model)


__all__ = [
    "create_memory_manager",
    "create_memory_searcher",
    "create_memory_store_manager",
    "create_thread_extractor",
]
