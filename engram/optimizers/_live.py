"""Live feedback per prompt version: what real users scored each prompt the optimizer was called with.

An optimizer called round after round on production logs sees, each time, the trajectories
that ran under the prompt it is given. Those scores are the only measure of a prompt that
comes from the users themselves (a judge has its own taste; a replay never reaches a user).
:class:`LiveRecord` keeps them per prompt text, so the optimizer can notice that the version
it deployed last did *worse* with real users than an earlier one, and go back to that one
before editing again (a canary's rollback, done between rounds).

Two versions are compared unpaired (different users saw them): with ``confidence`` set, an
earlier version wins only when Welch's interval on the difference of means is above 0;
with ``confidence=None`` the higher mean wins.

Example::

    >>> from engram.prompts import Prompt
    >>> record = LiveRecord()
    >>> old, new = Prompt(name="p", template="Be brief."), Prompt(name="p", template="Be brief. Use lists.")
    >>> record.add(old, [0.75, 0.75, 0.5, 1.0])
    >>> record.add(new, [0.25, 0.5, 0.25, 0.0])
    >>> record.better_than(new).template
    'Be brief.'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist, fmean, variance

from engram.errors import ValidationError
from engram.prompts import Prompt
from engram.trajectories import Trajectory


class LiveRecord:
    """Live scores per prompt version (see the module docstring)."""

    def __init__(self, confidence: float | None = None):
        if confidence is not None and not 0.0 < confidence < 1.0:
            raise ValidationError(f"confidence must be between 0 and 1 (or None for means), got {confidence!r}.")
        self.confidence = confidence
        self._prompts: dict[str, Prompt] = {}
        self._scores: dict[str, list[float]] = {}
        self._logs: dict[str, dict[str, Trajectory]] = {}

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, prompt: Prompt, scores: Iterable[float]) -> None:
        """Record the users' scores of trajectories that ran under ``prompt``."""
        values = [float(s) for s in scores if s is not None and math.isfinite(float(s))]
        if not values:
            return
        self._prompts.setdefault(prompt.text, prompt)
        self._scores.setdefault(prompt.text, []).extend(values)

    def add_logs(self, prompt: Prompt, trajectories: Iterable[Trajectory]) -> None:
        """Record trajectories that ran under ``prompt``: their scores, and themselves for :meth:`logs`."""
        items = [t for t in trajectories if t.id not in self._logs.get(prompt.text, {})]
        self.add(prompt, [t.score for t in items if t.score is not None])
        self._prompts.setdefault(prompt.text, prompt)
        self._logs.setdefault(prompt.text, {}).update((t.id, t) for t in items)

    def logs(self, prompt: Prompt) -> list[Trajectory]:
        """Every trajectory recorded under ``prompt`` (oldest first)."""
        return list(self._logs.get(prompt.text, {}).values())

    def mean(self, prompt: Prompt) -> float | None:
        values = self._scores.get(prompt.text)
        return fmean(values) if values else None

    def _beats(self, a: list[float], b: list[float]) -> bool:
        diff = fmean(a) - fmean(b)
        if self.confidence is None:
            return diff > 0
        if len(a) < 2 or len(b) < 2:
            return False
        se = math.sqrt(variance(a) / len(a) + variance(b) / len(b))
        if se == 0.0:
            return diff > 0
        return diff - NormalDist().inv_cdf(1 - (1 - self.confidence) / 2) * se > 0

    def better_than(self, prompt: Prompt) -> Prompt | None:
        """The recorded version users liked best, if it beats ``prompt``'s live scores; else None."""
        current = self._scores.get(prompt.text)
        if not current:
            return None
        best: tuple[float, str] | None = None
        for text, values in self._scores.items():
            if text == prompt.text or not self._beats(values, current):
                continue
            mean = fmean(values)
            if best is None or mean > best[0]:
                best = (mean, text)
        return self._prompts[best[1]] if best else None
