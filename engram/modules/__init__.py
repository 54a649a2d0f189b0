"""Memory modules: DSPy modules that turn conversations into memories and keep them current.

- :class:`MemoryExtractor` — conversation + existing memories -> operations (stateless, one LM call);
- :class:`MemoryManager` — the same against a store: retrieval, versioned writes, ``process(dataset)``;
- sharding — ``process(dataset, shard=(i, n), shard_by="hash" | "load")`` over ``n`` processes
  (:func:`namespace_shard`, :class:`ShardPlan`, :func:`shard_plan`);
- :class:`MemorySearcher` — LM-written queries, merged and ranked results;
- tools — ``create_manage_memory_tool`` / ``create_search_memory_tool`` (``dspy.Tool``, strict OpenAI schemas);
- summaries — :class:`ThreadSummarizer`, :func:`summarize_messages`;
- :class:`ReflectionExecutor` — debounced background processing;
- maintenance — ``MemoryManager.compact`` (:class:`CompactionReport`) and ``MemoryManager.rederive``
  (:class:`RederiveReport`);
- :func:`memory_f1`, :func:`compile_extractor` — metric and compilation with DSPy optimizers;
- kinds — :class:`Memory`, :class:`Episode`, :class:`UserProfile`.

Example::

    from engram.modules import MemoryManager
    from engram.store import MemoryStore
    manager = MemoryManager(MemoryStore.in_memory(), namespace=("memories", "{user_id}"))
    manager.update([{"role": "user", "content": "I moved to Lisbon"}], {"user_id": "u1"})

Names load lazily (DSPy is imported on first use, not by ``import engram``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports

_EXPORTS = {
    "Memory": "_schemas", "Episode": "_schemas", "UserProfile": "_schemas",
    "MemoryOp": "_operations", "RejectedOp": "_operations", "ExtractedMemory": "_operations",
    "MemoryExtractor": "_extractor",
    "trajectory_values": "_results",
    "MemoryManager": "_manager", "UpdateResult": "_manager", "Phase": "_manager", "CONSOLIDATE": "_manager",
    "CompactionReport": "_compaction", "CompactionError": "_compaction",
    "RederiveReport": "_rederive", "RederiveError": "_rederive",
    "compact_command": "_compaction_cli",
    "ProcessReport": "_batch",
    "namespace_shard": "_shard", "ShardPlan": "_shard", "shard_plan": "_shard", "ShardBy": "_shard",
    "DEFAULT_SHARD_BY": "_shard",
    "MemorySearcher": "_searcher",
    "MemoryTool": "_tools", "create_manage_memory_tool": "_tools", "create_search_memory_tool": "_tools",
    "openai_function_schema": "_tools", "to_strict": "_strict", "strict_problems": "_strict",
    "ThreadSummarizer": "_summaries", "summarize_messages": "_summaries", "RunningSummary": "_summaries",
    "asummarize_messages": "_summaries", "RemoveDoc": "_langmem", "config_values": "_langmem",
    "SummarizationResult": "_summaries",
    "ReflectionExecutor": "_reflection",
    "memory_f1": "_metrics", "MemoryF1": "_metrics",
    "compile_extractor": "_compile", "memory_examples": "_compile",
    "ExtractionSettings": "_settings", "RetrievalSettings": "_settings", "ProfileSettings": "_settings",
    "create_memory_manager": "_compat", "create_memory_store_manager": "_compat",
    "create_thread_extractor": "_compat", "create_memory_searcher": "_compat",
    "memory_app": "_memory_cli",
}


__all__ = [
    "CONSOLIDATE",
    "CompactionError",
    "CompactionReport",
    "Episode",
    "ExtractedMemory",
    "ExtractionSettings",
    "Memory",
    "MemoryExtractor",
    "MemoryF1",
    "MemoryManager",
    "MemoryOp",
    "MemorySearcher",
    "MemoryTool",
    "Phase",
    "ProcessReport",
    "ProfileSettings",
    "RederiveError",
    "RederiveReport",
    "ReflectionExecutor",
    "RejectedOp",
    "RemoveDoc",
    "RetrievalSettings",
    "RunningSummary",
    "ShardBy",
    "DEFAULT_SHARD_BY",
    "ShardPlan",
    "SummarizationResult",
    "ThreadSummarizer",
    "UpdateResult",
    "trajectory_values",
    "UserProfile",
    "compact_command",
    "asummarize_messages",
    "compile_extractor",
    "config_values",
    "create_manage_memory_tool",
    "create_memory_manager",
    "create_memory_searcher",
    "create_memory_store_manager",
    "create_search_memory_tool",
    "create_thread_extractor",
    "memory_examples",
    "memory_app",
    "memory_f1",
    "namespace_shard",
    "openai_function_schema",
    "shard_plan",
    "strict_problems",
    "summarize_messages",
    "to_strict",
]

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.modules._batch import ProcessReport as ProcessReport
    from engram.modules._compaction import (
        CompactionError as CompactionError,
        CompactionReport as CompactionReport,
    )
    from engram.modules._compaction_cli import compact_command as compact_command
    from engram.modules._compat import (
        create_memory_manager as create_memory_manager,
        create_memory_searcher as create_memory_searcher,
        create_memory_store_manager as create_memory_store_manager,
        create_thread_extractor as create_thread_extractor,
    )
    from engram.modules._compile import (
        compile_extractor as compile_extractor,
        memory_examples as memory_examples,
    )
    from engram.modules._extractor import MemoryExtractor as MemoryExtractor
    from engram.modules._langmem import RemoveDoc as RemoveDoc, config_values as config_values
    from engram.modules._manager import (
        CONSOLIDATE as CONSOLIDATE,
        MemoryManager as MemoryManager,
        Phase as Phase,
        UpdateResult as UpdateResult,
    )
    from engram.modules._memory_cli import memory_app as memory_app
    from engram.modules._metrics import MemoryF1 as MemoryF1, memory_f1 as memory_f1
    from engram.modules._operations import (
        ExtractedMemory as ExtractedMemory,
        MemoryOp as MemoryOp,
        RejectedOp as RejectedOp,
    )
    from engram.modules._rederive import (
        RederiveError as RederiveError,
        RederiveReport as RederiveReport,
    )
    from engram.modules._reflection import ReflectionExecutor as ReflectionExecutor
    from engram.modules._results import trajectory_values as trajectory_values
    from engram.modules._schemas import (
        Episode as Episode,
        Memory as Memory,
        UserProfile as UserProfile,
    )
    from engram.modules._searcher import MemorySearcher as MemorySearcher
    from engram.modules._settings import (
        ExtractionSettings as ExtractionSettings,
        ProfileSettings as ProfileSettings,
        RetrievalSettings as RetrievalSettings,
    )
    from engram.modules._shard import (
        DEFAULT_SHARD_BY as DEFAULT_SHARD_BY,
        ShardBy as ShardBy,
        ShardPlan as ShardPlan,
        namespace_shard as namespace_shard,
        shard_plan as shard_plan,
    )
    from engram.modules._strict import strict_problems as strict_problems, to_strict as to_strict
    from engram.modules._summaries import (
        RunningSummary as RunningSummary,
        SummarizationResult as SummarizationResult,
        ThreadSummarizer as ThreadSummarizer,
        asummarize_messages as asummarize_messages,
        summarize_messages as summarize_messages,
    )
    from engram.modules._tools import (
        MemoryTool as MemoryTool,
        create_manage_memory_tool as create_manage_memory_tool,
        create_search_memory_tool as create_search_memory_tool,
        openai_function_schema as openai_function_schema,
    )
