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
    "load_oasst": "engram.loaders._oasst",
    "load_locomo": "engram.loaders._locomo",
    # memory storage
    "MemoryStore": "engram.store._store",
    "MemoryRecord": "engram.store._record",
    "Provenance": "engram.store._record",
    "NamespaceTemplate": "engram.store._namespaces",
    "get_embedder": "engram.store._embeddings",
    # memory modules
    "MemoryExtractor": "engram.modules._extractor",
    "MemoryManager": "engram.modules._manager",
    "MemorySearcher": "engram.modules._searcher",
    "Memory": "engram.modules._schemas",
    "Episode": "engram.modules._schemas",
    "UserProfile": "engram.modules._schemas",
    "create_manage_memory_tool": "engram.modules._tools",
    "create_search_memory_tool": "engram.modules._tools",
    "ThreadSummarizer": "engram.modules._summaries",
    "summarize_messages": "engram.modules._summaries",
    "ReflectionExecutor": "engram.modules._reflection",
    "memory_f1": "engram.modules._metrics",
    "compile_extractor": "engram.modules._compile",
    "create_memory_manager": "engram.modules._compat",
    "create_memory_store_manager": "engram.modules._compat",
    "create_thread_extractor": "engram.modules._compat",
    "create_memory_searcher": "engram.modules._compat",
    # prompt optimizers
    "GradientOptimizer": "engram.optimizers._gradient",
    "MetapromptOptimizer": "engram.optimizers._metaprompt",
    "PromptMemoryOptimizer": "engram.optimizers._prompt_memory",
    "MultiPromptOptimizer": "engram.optimizers._multi_prompt",
    "FeedbackJudge": "engram.optimizers._judge",
    "CandidateGate": "engram.optimizers._gate",
    "FeedbackScorer": "engram.optimizers._scorer",
    "FeedbackTeleprompter": "engram.optimizers._feedback_teleprompter",
    "OptimizationResult": "engram.optimizers._result",
    "create_prompt_optimizer": "engram.optimizers._factory",
    "create_multi_prompt_optimizer": "engram.optimizers._factory",
    # tracking and shipping
    "load_prompt": "engram.tracking._loader",
    "PromptRegistry": "engram.tracking._registry",
    "register_result": "engram.tracking._registry",
    "track_run": "engram.tracking._runs",
    "log_optimization": "engram.tracking._runs",
    "autolog": "engram.tracking._autolog",
    "export_prompt": "engram.tracking._export",
    "export_program": "engram.tracking._program_export",
    "traces_to_dataset": "engram.tracking._traces",
    # experiments
    "load_config": "engram.runner._config",
    "run_experiment": "engram.runner._run",
    "run_sweep": "engram.runner._sweep",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def _autolog_from_environment() -> None:
    # ENGRAM_AUTOLOG=1 does engram.autolog() for the whole process (batch jobs, CI). The
    # listener is light: MLflow loads at the first tracked operation, not here.
    if os.environ.get("ENGRAM_AUTOLOG", "").strip().lower() in ("1", "true", "yes", "on"):
        from engram.tracking import autolog

        autolog()


_autolog_from_environment()

__all__ = ["__version__", "Settings", "configure", "get_settings", *_error_names, *_LAZY]
