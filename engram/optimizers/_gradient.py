"""GradientOptimizer: critique the prompt against feedback, then make the smallest edit.

The "textual gradient" is a critique (``dspy.ChainOfThought`` over a minibatch of
trajectories): failure modes, hypotheses, recommendations and whether an edit is
warranted. The apply step (``dspy.Predict``) rewrites the prompt along the
recommendations, through the template guard.

Unlike LangMem, which always spends ``max_reflection_steps`` calls, the loop stops as soon
as the critique is settled: after ``min_reflection_steps``, a critique is settled when it is
self-consistent (an edit is warranted exactly when it recommends something) or when a
refinement pass returns the same recommendations. No edit warranted -> the prompt comes
back unchanged after one call.

Called round after round on production logs, with a gate (issue 10; each setting chosen on the
hard world's seeds 100-139, ``benchmarks/optimization_quality.py --seed-offset 100``):

- ``val_fraction=0``: the gate replays the trajectories the critique read, since a judge that
  never reads the logged feedback gains nothing from a held-out split and the critique keeps
  all its evidence (gap closed 0.28 -> 0.36 with 8 replays).
- ``rollback=True``: the users' own scores of each version decide which one to edit next; a
  version that did worse live than an earlier one is dropped for it (0.36 -> 0.42), because the
  judge's taste is not the users' and only live feedback can say an accepted edit hurt.
- ``CandidateGate(reuse_logged=True)``: the logged replies are the incumbent's replays, so only the
  candidate is replayed (same decisions, 48k -> 42k tokens a run).
- ``CandidateGate(confidence=0.8)``: with the rollback as a second check, a looser gate lets
  more real improvements through (0.42 -> 0.48; 0.95, 0.9, 0.7 and 0.6 did worse).
- ``CandidateGate(learn_scorer=True, scorer_role="second_opinion")`` (HO, 1 Dec): a FeedbackScorer
  fitted on every log seen so far vetoes candidates it finds reliably worse before the judge runs
  and can lift the judge's veto (0.48 -> 0.53 on seeds 100-139; on seeds 0-39 0.51-0.56 vs 0.566, not better,
  at 19 % fewer tokens: :mod:`engram.optimizers._learned`).

Tried on the same seeds and not kept: a beam (each recommendation alone and all together, the
best gated one kept: 0.31 vs 0.33, at 1.7x the tokens; the judge ranks edits by its own taste),
one edit per round (0.21), a gate that only vetoes reliably worse candidates (0.22),
critiquing every log of the version being edited across rounds (0.21), and letting
pure deletions skip the judge for the rollback to police (0.475 vs 0.48). Nor (HQ): several critiques
over subsamples of the logs keeping the recommendations most agree on (0.31-0.38 at 1.2-1.8x the tokens),
critiquing every log seen so far (0.42), or trusting a recommendation repeated across rounds over the
gate's veto (0.41); figures in ``benchmarks/optimization_quality.py``. On the benchmark's
seeds 0-39 all four settings together close 0.57 of the gap (gradient+gate 0.47, GEPA 0.55): the
development seeds' gain over gradient+gate (+0.20) shrinks to +0.09, not significant there.

Example::

    optimizer = GradientOptimizer(lm="openai/gpt-4o-mini")
    result = optimizer(trajectories, Prompt(name="support", template="You help {company} customers."))
    print(result.diff, result.critiques, result.usage.calls)
"""

from __future__ import annotations

from typing import Any

import dspy

from engram.errors import ValidationError
from engram.optimizers._base import PromptOptimizerBase, Proposal, check_number
from engram.optimizers._formatting import Rendered, output_items, prompt_context, worst_first
from engram.optimizers._signatures import ApplyRecommendations, CritiquePrompt
from engram.optimizers._template_guard import propose_guarded
from engram.prompts import Prompt
from engram.trajectories import Trajectory


def render_critique(step: int, failure_modes: list[str], hypotheses: list[str], recommendations: list[str],
                    edit_warranted: bool) -> str:
    """One critique as stable text (stored in ``result.critiques`` and fed to refinement passes)."""
    def block(title: str, items: list[str]) -> str:
        return f"{title}:\n" + ("\n".join(f"- {i}" for i in items) if items else "- none")

    return "\n".join([f"critique {step} (edit warranted: {'yes' if edit_warranted else 'no'})",
                      block("failure modes", failure_modes), block("hypotheses", hypotheses),
                      block("recommendations", recommendations)])


class GradientOptimizer(PromptOptimizerBase):
    """Critique, then minimal edit (see the module docstring).

    Args:
        min_reflection_steps: critiques always run before the apply step (default 1).
        max_reflection_steps: the most critiques run (default 3); the loop usually stops at 1.
        minibatch_size: critique only the worst ``n`` trajectories (default: all that fit the budget).
        Other arguments: see :class:`~engram.optimizers._base.PromptOptimizerBase`.
    """

    kind = "gradient"

    def __init__(self, lm: Any = None, *, min_reflection_steps: int = 1, max_reflection_steps: int = 3,
                 minibatch_size: int | None = None, **kwargs: Any):
        super().__init__(lm, **kwargs)
        check_number(min_reflection_steps, "min_reflection_steps", integer=True, example=1)
        check_number(max_reflection_steps, "max_reflection_steps", integer=True, example=3)
        if minibatch_size is not None:
            check_number(minibatch_size, "minibatch_size", integer=True, example=8)
        if not 1 <= min_reflection_steps <= max_reflection_steps:
            raise ValidationError(
                f"Need 1 <= min_reflection_steps <= max_reflection_steps, got {min_reflection_steps} and "
                f"{max_reflection_steps}.")
        if minibatch_size is not None and minibatch_size < 1:
            raise ValidationError(f"minibatch_size must be at least 1, got {minibatch_size}.")
        self.min_reflection_steps = min_reflection_steps
        self.max_reflection_steps = max_reflection_steps
        self.minibatch_size = minibatch_size
        self.critique = dspy.ChainOfThought(CritiquePrompt)
        self.apply = dspy.Predict(ApplyRecommendations)

    def propose(self, trajectories: list[Trajectory], prompt: Prompt, rendered: Rendered) -> Proposal:
        if self.minibatch_size and len(trajectories) > self.minibatch_size:
            rendered = self.render(worst_first(trajectories)[: self.minibatch_size])
        guidance = prompt_context(prompt)
        critiques: list[str] = []
        previous: list[str] | None = None
        recommendations: list[str] = []
        hypotheses: list[str] = []
        warranted = False
        step = 0
        for step in range(1, self.max_reflection_steps + 1):
            pred = self.critique(prompt=prompt.text, guidance=guidance, trajectories=rendered.text,
                                 previous_critique=critiques[-1] if critiques else "none")
            failure_modes, hypotheses = output_items(pred.failure_modes), output_items(pred.hypotheses)
            recommendations, warranted = output_items(pred.recommendations), bool(pred.edit_warranted)
            critiques.append(render_critique(step, failure_modes, hypotheses, recommendations, warranted))
            consistent = warranted == bool(recommendations)
            unchanged = previous is not None and set(recommendations) <= set(previous)
            if step >= self.min_reflection_steps and (consistent or unchanged):
                break
            previous = recommendations

        if not warranted or not recommendations:
            return Proposal(None, rationale="The critique found no failure the prompt should fix; prompt unchanged.",
                            critiques=critiques, steps=step)

        text = "\n".join(f"- {r}" for r in recommendations)

        def write(note: str) -> str:
            return self.apply(prompt=prompt.text, guidance=note, recommendations=text).improved_prompt

        outcome = propose_guarded(prompt, write, guidance=guidance)
        rejected = list(zip(outcome.raw, outcome.reasons))
        if outcome.prompt is None:  # every draft rejected
            return Proposal(None, rationale="Every draft broke the template; the original prompt is kept. "
                            + " ".join(outcome.reasons), critiques=critiques, steps=step, rejected=rejected)
        if outcome.prompt.template == prompt.template:
            return Proposal(None, rationale="The writer returned the prompt unchanged; nothing applied.",
                            critiques=critiques, steps=step, rejected=rejected)
        rationale = "Applied the critique's recommendations:\n" + text
        if hypotheses:
            rationale += "\nBecause:\n" + "\n".join(f"- {h}" for h in hypotheses)
        return Proposal(outcome.prompt, rationale=rationale, critiques=critiques, steps=step, rejected=rejected,
                        metadata={"recommendations": recommendations})
