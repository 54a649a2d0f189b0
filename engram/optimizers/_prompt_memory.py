"""PromptMemoryOptimizer: one call that folds the feedback's lessons into the prompt.

The cheapest optimizer: a single ``dspy.Predict`` call reads the prompt and the
trajectories with feedback and returns the updated prompt. It never returns an empty
prompt: an empty or template-breaking answer is retried once (a second call, only then),
and if that fails too the original is returned with the reason.

Example::

    optimizer = PromptMemoryOptimizer(lm="openai/gpt-4o-mini")
    optimizer([(messages, "Always answer in French")], "You are a helpful assistant.").prompt
"""

from __future__ import annotations

from typing import Any

import dspy

from engram.optimizers._base import PromptOptimizerBase, Proposal
from engram.optimizers._formatting import Rendered, prompt_context
from engram.optimizers._signatures import FoldFeedback
from engram.optimizers._template_guard import propose_guarded
from engram.prompts import Prompt
from engram.trajectories import Trajectory


class PromptMemoryOptimizer(PromptOptimizerBase):
    """Single-call prompt update (see the module docstring)."""

    kind = "prompt_memory"

    def __init__(self, lm: Any = None, **kwargs: Any):
        super().__init__(lm, **kwargs)
        self.fold = dspy.Predict(FoldFeedback)

    def propose(self, trajectories: list[Trajectory], prompt: Prompt, rendered: Rendered) -> Proposal:
        def write(note: str) -> str:
            return self.fold(prompt=prompt.text, guidance=note, trajectories=rendered.text).updated_prompt

        outcome = propose_guarded(prompt, write, guidance=prompt_context(prompt))
        rejected = list(zip(outcome.raw, outcome.reasons))
        if outcome.rejected:
            return Proposal(None, rationale="Every draft broke the template; the original prompt is kept. "
                            + " ".join(outcome.reasons), steps=outcome.attempts, rejected=rejected)
        return Proposal(outcome.prompt, rationale="Folded the feedback into the prompt.", steps=outcome.attempts,
                        rejected=rejected)
