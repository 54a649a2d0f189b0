"""Prompt optimizers, feedback judges and compiling from feedback.

Names load lazily (DSPy is imported only when an optimizer is used)::

    from engram.optimizers import create_prompt_optimizer, GradientOptimizer, FeedbackJudge
    from engram.optimizers import CandidateGate, paired_comparison, FeedbackScorer
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports

_EXPORTS = {
    "OptimizationResult": "engram.optimizers._result",
    "Candidate": "engram.optimizers._result",
    "PromptOptimizerBase": "engram.optimizers._base",
    "GradientOptimizer": "engram.optimizers._gradient",
    "MetapromptOptimizer": "engram.optimizers._metaprompt",
    "PromptMemoryOptimizer": "engram.optimizers._prompt_memory",
    "TallyOptimizer": "engram.optimizers._tally",
    "MultiPromptOptimizer": "engram.optimizers._multi_prompt",
    "MultiPromptResult": "engram.optimizers._multi_prompt",
    "FeedbackJudge": "engram.optimizers._judge",
    "JudgeReport": "engram.optimizers._judge",
    "compile_judge": "engram.optimizers._judge",
    "agreement": "engram.optimizers._judge",
    "CandidateGate": "engram.optimizers._gate",
    "GateDecision": "engram.optimizers._gate",
    "FeedbackScorer": "engram.optimizers._scorer",
    "ScorerReport": "engram.optimizers._scorer",
    "pairwise_accuracy": "engram.optimizers._scorer",
    "paired_comparison": "engram.optimizers._stats",
    "PairedComparison": "engram.optimizers._stats",
    "FeedbackTeleprompter": "engram.optimizers._feedback_teleprompter",
    "FeedbackMetric": "engram.optimizers._feedback_teleprompter",
    "OptimizerProposer": "engram.optimizers._feedback_teleprompter",
    "create_prompt_optimizer": "engram.optimizers._factory",
    "OptimizerKind": "engram.optimizers._factory",
    "create_multi_prompt_optimizer": "engram.optimizers._multi_prompt",
    "format_trajectories": "engram.optimizers._formatting",
    "coerce_trajectories": "engram.optimizers._formatting",
}

__all__ = list(_EXPORTS)

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.optimizers._base import PromptOptimizerBase as PromptOptimizerBase
    from engram.optimizers._factory import (
        OptimizerKind as OptimizerKind,
        create_prompt_optimizer as create_prompt_optimizer,
    )
    from engram.optimizers._feedback_teleprompter import (
        FeedbackMetric as FeedbackMetric,
        FeedbackTeleprompter as FeedbackTeleprompter,
        OptimizerProposer as OptimizerProposer,
    )
    from engram.optimizers._formatting import (
        coerce_trajectories as coerce_trajectories,
        format_trajectories as format_trajectories,
    )
    from engram.optimizers._gate import CandidateGate as CandidateGate, GateDecision as GateDecision
    from engram.optimizers._gradient import GradientOptimizer as GradientOptimizer
    from engram.optimizers._judge import (
        FeedbackJudge as FeedbackJudge,
        JudgeReport as JudgeReport,
        agreement as agreement,
        compile_judge as compile_judge,
    )
    from engram.optimizers._metaprompt import MetapromptOptimizer as MetapromptOptimizer
    from engram.optimizers._multi_prompt import (
        MultiPromptOptimizer as MultiPromptOptimizer,
        MultiPromptResult as MultiPromptResult,
        create_multi_prompt_optimizer as create_multi_prompt_optimizer,
    )
    from engram.optimizers._prompt_memory import PromptMemoryOptimizer as PromptMemoryOptimizer
    from engram.optimizers._result import (
        Candidate as Candidate,
        OptimizationResult as OptimizationResult,
    )
    from engram.optimizers._scorer import (
        FeedbackScorer as FeedbackScorer,
        ScorerReport as ScorerReport,
        pairwise_accuracy as pairwise_accuracy,
    )
    from engram.optimizers._stats import (
        PairedComparison as PairedComparison,
        paired_comparison as paired_comparison,
    )
    from engram.optimizers._tally import TallyOptimizer as TallyOptimizer
