"""What a prompt optimizer returns: the new prompt, why, what it tried, and what it spent."""

from __future__ import annotations

import html
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engram.lm import OFFLINE_PREFIX, Usage
from engram.prompts import Prompt, diff_templates


class Candidate(BaseModel):
    """One proposed prompt and how it fared."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompt: Prompt
    score: float | None = None
    accepted: bool = False
    reason: str = ""
    round: int = 0


class OptimizationResult(BaseModel):
    """The outcome of an optimization. ``prompt`` is never empty: on any failure it is ``original``.

    ``print(result)`` (and a notebook cell that ends with ``result``) shows :meth:`summary`:
    what was decided and why, the scores, what it spent and the diff; ``repr`` keeps every field.

    Example::

        result = optimizer(trajectories, prompt)
        result.prompt.template, result.improved, result.score_before, result.score_after
        print(result.diff)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompt: Prompt
    original: Prompt
    optimizer: str
    rationale: str = ""
    critiques: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    score_before: float | None = None
    score_after: float | None = None
    accepted: bool = False
    usage: Usage = Field(default_factory=Usage)
    steps: int = 0
    errors: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def improved(self) -> bool:
        """True when the returned prompt differs from the original."""
        return self.prompt.template != self.original.template

    @property
    def diff(self) -> str:
        """Unified diff from the original template to the returned one."""
        return diff_templates(self.original.template, self.prompt.template,
                              old_label=f"{self.original.name} (before)", new_label=f"{self.prompt.name} (after)")

    def summary(self) -> str:
        """What was decided and why, the scores, what it spent, errors, and the diff, as text.

        >>> from engram.prompts import Prompt
        >>> seed = Prompt(name="support", template="Answer the question.")
        >>> print(OptimizationResult(prompt=seed, original=seed, optimizer="gradient",
        ...                          rationale="No trajectory carries feedback; prompt unchanged."))
        gradient on 'support': unchanged
        why: No trajectory carries feedback; prompt unchanged.
        spent: 0 LM calls, 0 tokens
        """
        verdict = "accepted" if self.accepted and self.improved else "unchanged"
        lines = [f"{self.optimizer} on {self.original.name!r}: {verdict}"]
        if self.score_before is not None or self.score_after is not None:
            lines.append(f"score: {_number(self.score_before)} -> {_number(self.score_after)}")
        gate = next((c.reason for c in reversed(self.candidates) if c.score is not None), "")
        for label, text in (("why", self.rationale), ("gate", gate)):
            if text:
                lines.append(f"{label}: {text}")
        # a figure engram's offline LMs produced is labeled as theirs
        models = ", ".join(f"{name}, an offline stand-in, not a model" if name.startswith(OFFLINE_PREFIX) else name
                           for name in self.usage.by_model)
        lines.append(f"spent: {self.usage.calls} LM calls, {self.usage.total_tokens} tokens"
                     + (f" ({models})" if models else ""))
        lines.extend(f"error: {e}" for e in self.errors)
        if self.improved:
            lines.extend(["", self.diff.rstrip()])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # a notebook shows the summary, not every field
        return f"<pre>{html.escape(self.summary())}</pre>"

    def candidates_frame(self):
        """The candidates as a pandas DataFrame (round, score, accepted, reason, template)."""
        import pandas as pd

        return pd.DataFrame([
            {"round": c.round, "score": c.score, "accepted": c.accepted, "reason": c.reason,
             "template": c.prompt.text}
            for c in self.candidates
        ])


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
