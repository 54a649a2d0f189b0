"""engram: long-term memory and feedback-optimized prompts for LLM agents, on DSPy.

The public API is below; heavy dependencies (dspy, chromadb, mlflow, optuna, torch)
load on first use, so ``import engram`` stays fast::

    import engram
    engram.configure(lm="openai/gpt-4o-mini")
    ds = engram.TrajectoryDataset.load("datasets/support.jsonl")
"""

from __future__ import annotations

import importlib
import os

# LiteLLM fetches its cost map from the internet at import unless told otherwise, and an
# MLflow server can hang at start-up waiting for it. Set before anything imports LiteLLM.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from engram.config import Settings, configure, get_settings  # noqa: E402  (light)
from engram.errors import *  # noqa: E402,F403  (light)
from engram.errors import __all__ as _error_names  # noqa: E402

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "Message": "engram.trajectories",
    "Feedback": "engram.trajectories",
    "Trajectory": "engram.trajectories",
    "TrajectoryDataset": "engram.trajectories",
    "get_lm": "engram.lm",
    "build_lm": "engram.lm",
    "track_usage": "engram.lm",
    "Usage": "engram.lm",
    "load_oasst": "engram.loaders.oasst",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engram' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", "Settings", "configure", "get_settings", *_error_names, *_LAZY]
