"""What a prompt optimizer returns: the new prompt, why, what it tried, and what it spent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engram.lm import Usage
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

    def candidates_frame(self):
        """The candidates as a pandas DataFrame (round, score, accepted, reason, template)."""
        import pandas as pd

        return pd.DataFrame([
            {"round": c.round, "score": c.score, "accepted": c.accepted, "reason": c.reason,
             "template": c.prompt.text}
            for c in self.candidates
        ])
