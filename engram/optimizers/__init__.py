"""Prompt optimizers, feedback judges and compiling from feedback.

Names load lazily (DSPy is imported only when an optimizer is used)::

    from engram.optimizers import create_prompt_optimizer, GradientOptimizer, FeedbackJudge
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_EXPORTS = {
    "OptimizationResult": "engram.optimizers._result",
    "Candidate": "engram.optimizers._result",
    "PromptOptimizerBase": "engram.optimizers._base",
    "GradientOptimizer": "engram.optimizers._gradient",
    "MetapromptOptimizer": "engram.optimizers._metaprompt",
    "PromptMemoryOptimizer": "engram.optimizers._prompt_memory",
    "MultiPromptOptimizer": "engram.optimizers._multi_prompt",
    "MultiPromptResult": "engram.optimizers._multi_prompt",
    "FeedbackJudge": "engram.optimizers._judge",
    "JudgeReport": "engram.optimizers._judge",
    "compile_judge": "engram.optimizers._judge",
    "agreement": "engram.optimizers._judge",
    "CandidateGate": "engram.optimizers._gate",
    "GateDecision": "engram.optimizers._gate",
    "FeedbackTeleprompter": "engram.optimizers._feedback_teleprompter",
    "FeedbackMetric": "engram.optimizers._feedback_teleprompter",
    "OptimizerProposer": "engram.optimizers._feedback_teleprompter",
    "create_prompt_optimizer": "engram.optimizers._factory",
    "OptimizerKind": "engram.optimizers._factory",
    "create_multi_prompt_optimizer": "engram.optimizers._factory",
    "format_trajectories": "engram.optimizers._formatting",
    "coerce_trajectories": "engram.optimizers._formatting",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
