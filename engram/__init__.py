"""engram: long-term memory and feedback-optimized prompts for LLM agents, on DSPy.

The public API is below; heavy dependencies (dspy, chromadb, mlflow, optuna, torch)
load on first use, so ``import engram`` stays fast::

    import engram
    engram.configure(lm="openai/gpt-4o-mini")
    ds = engram.TrajectoryDataset.load("datasets/support.jsonl")
"""

from __future__ import annotations

import os

# LiteLLM fetches its cost map from the internet at import unless told otherwise, and an
# MLflow server can hang at start-up waiting for it. Set before anything imports LiteLLM.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from engram._lazy import lazy_exports  # noqa: E402
from engram.config import Settings, configure, get_settings  # noqa: E402
from engram.errors import *  # noqa: E402, F403
from engram.errors import __all__ as _error_names  # noqa: E402

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    # trajectories, prompts, LMs
    "Message": "engram.trajectories",
    "Feedback": "engram.trajectories",
    "Trajectory": "engram.trajectories",
    "TrajectoryDataset": "engram.trajectories",
    "Prompt": "engram.prompts",
    "get_lm": "engram.lm",
    "build_lm": "engram.lm",
    "track_usage": "engram.lm",
    "Usage": "engram.lm",
    "load_oasst": "engram.loaders.oasst",
    "load_locomo": "engram.loaders.locomo",
    # memory storage
    "MemoryStore": "engram.memory.store",
    "MemoryRecord": "engram.memory.record",
    "Provenance": "engram.memory.record",
    "NamespaceTemplate": "engram.memory.namespaces",
    "get_embedder": "engram.memory.embeddings",
    # memory modules
    "MemoryExtractor": "engram.modules.extractor",
    "MemoryManager": "engram.modules.manager",
    "MemorySearcher": "engram.modules.searcher",
    "Memory": "engram.modules.schemas",
    "Episode": "engram.modules.schemas",
    "UserProfile": "engram.modules.schemas",
    "create_manage_memory_tool": "engram.modules.tools",
    "create_search_memory_tool": "engram.modules.tools",
    "ThreadSummarizer": "engram.modules.summaries",
    "summarize_messages": "engram.modules.summaries",
    "ReflectionExecutor": "engram.modules.reflection",
    "memory_f1": "engram.modules.metrics",
    "compile_extractor": "engram.modules.compile",
    "create_memory_manager": "engram.modules.compat",
    "create_memory_store_manager": "engram.modules.compat",
    "create_thread_extractor": "engram.modules.compat",
    "create_memory_searcher": "engram.modules.compat",
    # prompt optimizers
    "GradientOptimizer": "engram.optimizers.gradient",
    "MetapromptOptimizer": "engram.optimizers.metaprompt",
    "PromptMemoryOptimizer": "engram.optimizers.prompt_memory",
    "MultiPromptOptimizer": "engram.optimizers.multi_prompt",
    "FeedbackJudge": "engram.optimizers.judge",
    "CandidateGate": "engram.optimizers.gate",
    "FeedbackTeleprompter": "engram.optimizers.feedback_teleprompter",
    "OptimizationResult": "engram.optimizers.result",
    "create_prompt_optimizer": "engram.optimizers.factory",
    "create_multi_prompt_optimizer": "engram.optimizers.factory",
    # tracking and shipping
    "load_prompt": "engram.tracking.loader",
    "PromptRegistry": "engram.tracking.registry",
    "register_result": "engram.tracking.registry",
    "track_run": "engram.tracking.runs",
    "log_optimization": "engram.tracking.runs",
    "autolog": "engram.tracking.autolog",
    "export_prompt": "engram.tracking.export",
    "export_program": "engram.tracking.program_export",
    "traces_to_dataset": "engram.tracking.traces",
    # experiments
    "load_config": "engram.runner.config",
    "run_experiment": "engram.runner.run",
    "run_sweep": "engram.runner.sweep",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def _autolog_from_environment() -> None:
    # ENGRAM_AUTOLOG=1 does engram.autolog() for the whole process (batch jobs, CI). The
    # listener is light: MLflow loads at the first tracked operation, not here.
    if os.environ.get("ENGRAM_AUTOLOG", "").strip().lower() in ("1", "true", "yes", "on"):
        from engram.tracking.autolog import autolog

        autolog()


_autolog_from_environment()

__all__ = ["__version__", "Settings", "configure", "get_settings", *_error_names, *_LAZY]
