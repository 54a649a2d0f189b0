"""engram: long-term memory and feedback-optimized prompts for LLM agents, on DSPy.

The public API is below; heavy dependencies (dspy, chromadb, mlflow, optuna, torch)
load on first use, so ``import engram`` stays fast::

    import engram
    engram.configure(lm="openai/gpt-4o-mini")
    ds = engram.TrajectoryDataset.load("datasets/support.jsonl")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# LiteLLM fetches its cost map from the internet at import unless told otherwise, and an
# MLflow server can hang at start-up waiting for it. Set before anything imports LiteLLM.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from engram._lazy import lazy_exports  # noqa: E402
from engram._version import __version__  # noqa: E402
from engram.config import Settings, configure, get_settings  # noqa: E402
from engram.errors import *  # noqa: E402, F403
from engram.errors import __all__ as _error_names  # noqa: E402

# public name -> the face (package or module) that exports it, imported on first access
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
    "load_oasst": "engram.loaders",
    "load_locomo": "engram.loaders",
    # memory storage
    "MemoryStore": "engram.store",
    "MemoryRecord": "engram.store",
    "Provenance": "engram.store",
    "NamespaceTemplate": "engram.store",
    "get_embedder": "engram.store",
    # memory modules
    "MemoryExtractor": "engram.modules",
    "MemoryManager": "engram.modules",
    "MemorySearcher": "engram.modules",
    "Memory": "engram.modules",
    "Episode": "engram.modules",
    "UserProfile": "engram.modules",
    "create_manage_memory_tool": "engram.modules",
    "create_search_memory_tool": "engram.modules",
    "ThreadSummarizer": "engram.modules",
    "summarize_messages": "engram.modules",
    "asummarize_messages": "engram.modules",
    "RunningSummary": "engram.modules",
    "ReflectionExecutor": "engram.modules",
    "memory_f1": "engram.modules",
    "compile_extractor": "engram.modules",
    "create_memory_manager": "engram.modules",
    "create_memory_store_manager": "engram.modules",
    "create_thread_extractor": "engram.modules",
    "create_memory_searcher": "engram.modules",
    # prompt optimizers
    "GradientOptimizer": "engram.optimizers",
    "MetapromptOptimizer": "engram.optimizers",
    "PromptMemoryOptimizer": "engram.optimizers",
    "TallyOptimizer": "engram.optimizers",
    "MultiPromptOptimizer": "engram.optimizers",
    "FeedbackJudge": "engram.optimizers",
    "CandidateGate": "engram.optimizers",
    "FeedbackTeleprompter": "engram.optimizers",
    "OptimizationResult": "engram.optimizers",
    "create_prompt_optimizer": "engram.optimizers",
    "create_multi_prompt_optimizer": "engram.optimizers",
    "compile_judge": "engram.optimizers",
    "FeedbackScorer": "engram.optimizers",
    # tracking and shipping
    "load_prompt": "engram.tracking",
    "PromptRegistry": "engram.tracking",
    "register_result": "engram.tracking",
    "track_run": "engram.tracking",
    "log_optimization": "engram.tracking",
    "autolog": "engram.tracking",
    "export_prompt": "engram.tracking",
    "export_program": "engram.tracking",
    "traces_to_dataset": "engram.tracking",
    # experiments
    "load_config": "engram.runner",
    "run_experiment": "engram.runner",
    "run_sweep": "engram.runner",
}

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.lm import (
        Usage as Usage,
        build_lm as build_lm,
        get_lm as get_lm,
        track_usage as track_usage,
    )
    from engram.loaders import load_locomo as load_locomo, load_oasst as load_oasst
    from engram.modules import (
        Episode as Episode,
        Memory as Memory,
        MemoryExtractor as MemoryExtractor,
        MemoryManager as MemoryManager,
        MemorySearcher as MemorySearcher,
        ReflectionExecutor as ReflectionExecutor,
        RunningSummary as RunningSummary,
        ThreadSummarizer as ThreadSummarizer,
        UserProfile as UserProfile,
        asummarize_messages as asummarize_messages,
        compile_extractor as compile_extractor,
        create_manage_memory_tool as create_manage_memory_tool,
        create_memory_manager as create_memory_manager,
        create_memory_searcher as create_memory_searcher,
        create_memory_store_manager as create_memory_store_manager,
        create_search_memory_tool as create_search_memory_tool,
        create_thread_extractor as create_thread_extractor,
        memory_f1 as memory_f1,
        summarize_messages as summarize_messages,
    )
    from engram.optimizers import (
        CandidateGate as CandidateGate,
        FeedbackJudge as FeedbackJudge,
        FeedbackTeleprompter as FeedbackTeleprompter,
        GradientOptimizer as GradientOptimizer,
        MetapromptOptimizer as MetapromptOptimizer,
        MultiPromptOptimizer as MultiPromptOptimizer,
        OptimizationResult as OptimizationResult,
        PromptMemoryOptimizer as PromptMemoryOptimizer,
        TallyOptimizer as TallyOptimizer,
        compile_judge as compile_judge,
        FeedbackScorer as FeedbackScorer,
        create_multi_prompt_optimizer as create_multi_prompt_optimizer,
        create_prompt_optimizer as create_prompt_optimizer,
    )
    from engram.prompts import Prompt as Prompt
    from engram.runner import load_config as load_config
    from engram.runner import run_experiment as run_experiment
    from engram.runner import run_sweep as run_sweep
    from engram.store import MemoryRecord as MemoryRecord
    from engram.store import MemoryStore as MemoryStore
    from engram.store import NamespaceTemplate as NamespaceTemplate
    from engram.store import Provenance as Provenance
    from engram.store import get_embedder as get_embedder
    from engram.tracking import PromptRegistry as PromptRegistry
    from engram.tracking import autolog as autolog
    from engram.tracking import export_program as export_program
    from engram.tracking import export_prompt as export_prompt
    from engram.tracking import load_prompt as load_prompt
    from engram.tracking import log_optimization as log_optimization
    from engram.tracking import register_result as register_result
    from engram.tracking import traces_to_dataset as traces_to_dataset
    from engram.tracking import track_run as track_run
    from engram.trajectories import Feedback as Feedback
    from engram.trajectories import Message as Message
    from engram.trajectories import Trajectory as Trajectory
    from engram.trajectories import TrajectoryDataset as TrajectoryDataset


def _autolog_from_environment() -> None:
    # ENGRAM_AUTOLOG=1 does engram.autolog() for the whole process (batch jobs, CI). The
    # listener is light: MLflow loads at the first tracked operation, not here.
    if os.environ.get("ENGRAM_AUTOLOG", "").strip().lower() in ("1", "true", "yes", "on"):
        from engram.tracking import autolog

        autolog()


_autolog_from_environment()

__all__ = ["__version__", "Settings", "configure", "get_settings", *_error_names, *_LAZY]
