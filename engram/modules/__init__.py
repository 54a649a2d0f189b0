"""Memory modules: DSPy modules that turn conversations into memories and keep them current.

- :class:`MemoryExtractor` — conversation + existing memories -> operations (stateless, one LM call);
- :class:`MemoryManager` — the same against a store: retrieval, versioned writes, ``process(dataset)``;
- :class:`MemorySearcher` — LM-written queries, merged and ranked results;
- tools — ``create_manage_memory_tool`` / ``create_search_memory_tool`` (``dspy.Tool``, strict OpenAI schemas);
- summaries — :class:`ThreadSummarizer`, :func:`summarize_messages`;
- :class:`ReflectionExecutor` — debounced background processing;
- :func:`memory_f1`, :func:`compile_extractor` — metric and compilation with DSPy optimizers;
- kinds — :class:`Memory`, :class:`Episode`, :class:`UserProfile`.

Example::

    from engram.modules import MemoryManager
    from engram.memory import MemoryStore
    manager = MemoryManager(MemoryStore.in_memory(), namespace=("memories", "{user_id}"))
    manager.update([{"role": "user", "content": "I moved to Lisbon"}], {"user_id": "u1"})

Names load lazily (DSPy is imported on first use, not by ``import engram``).
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_EXPORTS = {
    "Memory": "schemas", "Episode": "schemas", "UserProfile": "schemas",
    "MemoryOp": "operations", "RejectedOp": "operations", "ExtractedMemory": "operations",
    "MemoryExtractor": "extractor",
    "MemoryManager": "manager", "UpdateResult": "manager", "Phase": "manager", "CONSOLIDATE": "manager",
    "ProcessReport": "batch",
    "MemorySearcher": "searcher",
    "MemoryTool": "tools", "create_manage_memory_tool": "tools", "create_search_memory_tool": "tools",
    "openai_function_schema": "tools", "to_strict": "strict", "strict_problems": "strict",
    "ThreadSummarizer": "summaries", "summarize_messages": "summaries", "RunningSummary": "summaries",
    "SummarizationResult": "summaries",
    "ReflectionExecutor": "reflection",
    "memory_f1": "metrics", "MemoryF1": "metrics",
    "compile_extractor": "compile", "memory_examples": "compile",
    "create_memory_manager": "compat", "create_memory_store_manager": "compat",
    "create_thread_extractor": "compat", "create_memory_searcher": "compat",
}


__all__ = [
    "CONSOLIDATE",
    "Episode",
    "ExtractedMemory",
    "Memory",
    "MemoryExtractor",
    "MemoryF1",
    "MemoryManager",
    "MemoryOp",
    "MemorySearcher",
    "MemoryTool",
    "Phase",
    "ProcessReport",
    "ReflectionExecutor",
    "RejectedOp",
    "RunningSummary",
    "SummarizationResult",
    "ThreadSummarizer",
    "UpdateResult",
    "UserProfile",
    "compile_extractor",
    "create_manage_memory_tool",
    "create_memory_manager",
    "create_memory_searcher",
    "create_memory_store_manager",
    "create_search_memory_tool",
    "create_thread_extractor",
    "memory_examples",
    "memory_f1",
    "openai_function_schema",
    "strict_problems",
    "summarize_messages",
    "to_strict",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
