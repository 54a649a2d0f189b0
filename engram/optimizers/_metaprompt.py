"""MetapromptOptimizer: one meta-prompt reflection that writes the improved prompt.

The reflection LM reads the prompt, the developer's guidance and the trajectories with
their feedback, reasons (``dspy.ChainOfThought``) and writes the improved prompt. It stops
as soon as it has a valid one: the usual cost is one call. A draft that breaks the template
(empty, a lost or invented variable) is retried once with the problem spelled out;
``max_reflection_steps`` caps the calls (default 2, against LangMem's fixed 5).

Example::

    optimizer = MetapromptOptimizer(lm="openai/gpt-4o-mini")
    result = optimizer(trajectories, "You are a helpful assistant.")
    result.prompt.template
"""

from __future__ import annotations

from typing import Any

import dspy

from engram.errors import ValidationError
from engram.optimizers._base import PromptOptimizerBase, Proposal, check_number
from engram.optimizers._formatting import Rendered, prompt_context
from engram.optimizers._signatures import MetapromptRewrite
from engram.optimizers._template_guard import propose_guarded
from engram.prompts import Prompt
from engram.trajectories import Trajectory


class MetapromptOptimizer(PromptOptimizerBase):
    """Meta-prompt rewrite (see the module docstring).

    Args:
        max_reflection_steps: the most LM calls, retries included (default 2; at least 1).
        Other arguments: see :class:`~engram.optimizers._base.PromptOptimizerBase`.
    """

    kind = "metaprompt"

    def __init__(self, lm: Any = None, *, max_reflection_steps: int = 2, **kwargs: Any):
        super().__init__(lm, **kwargs)
        check_number(max_reflection_steps, "max_reflection_steps", integer=True, example=2)
        if max_reflection_steps < 1:
            raise ValidationError(f"max_reflection_steps must be at least 1, got {max_reflection_steps}.")
        self.max_reflection_steps = max_reflection_steps
        self.rewrite = dspy.ChainOfThought(MetapromptRewrite)

    def propose(self, trajectories: list[Trajectory], prompt: Prompt, rendered: Rendered) -> Proposal:
        reasoning: list[str] = []

        def write(note: str) -> str:
            pred = self.rewrite(prompt=prompt.text, guidance=note, trajectories=rendered.text)
            reasoning.append(str(getattr(pred, "reasoning", "") or ""))
            return pred.improved_prompt

        outcome = propose_guarded(prompt, write, guidance=prompt_context(prompt),
                                  attempts=self.max_reflection_steps)
        rejected = list(zip(outcome.raw, outcome.reasons))
        critiques = [r for r in reasoning if r]
        if outcome.rejected:
            return Proposal(None, rationale="Every draft broke the template; the original prompt is kept. "
                            + " ".join(outcome.reasons), critiques=critiques, steps=outcome.attempts,
                            rejected=rejected)
        return Proposal(outcome.prompt, rationale=reasoning[-1] if reasoning else "", critiques=critiques,
                        steps=outcome.attempts, rejected=rejected)
