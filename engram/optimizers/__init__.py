"""Prompt optimizers, feedback judges and compiling from feedback.

Names load lazily (DSPy is imported only when an optimizer is used)::

    from engram.optimizers import create_prompt_optimizer, GradientOptimizer, FeedbackJudge
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_EXPORTS = {
    "OptimizationResult": "engram.optimizers.result",
    "Candidate": "engram.optimizers.result",
    "PromptOptimizerBase": "engram.optimizers.base",
    "GradientOptimizer": "engram.optimizers.gradient",
    "MetapromptOptimizer": "engram.optimizers.metaprompt",
    "PromptMemoryOptimizer": "engram.optimizers.prompt_memory",
    "MultiPromptOptimizer": "engram.optimizers.multi_prompt",
    "MultiPromptResult": "engram.optimizers.multi_prompt",
    "FeedbackJudge": "engram.optimizers.judge",
    "JudgeReport": "engram.optimizers.judge",
    "compile_judge": "engram.optimizers.judge",
    "agreement": "engram.optimizers.judge",
    "CandidateGate": "engram.optimizers.gate",
    "GateDecision": "engram.optimizers.gate",
    "FeedbackTeleprompter": "engram.optimizers.feedback_teleprompter",
    "FeedbackMetric": "engram.optimizers.feedback_teleprompter",
    "OptimizerProposer": "engram.optimizers.feedback_teleprompter",
    "create_prompt_optimizer": "engram.optimizers.factory",
    "create_multi_prompt_optimizer": "engram.optimizers.factory",
    "format_trajectories": "engram.optimizers.formatting",
    "coerce_trajectories": "engram.optimizers.formatting",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
