"""A learned scorer kept fitted on the production logs an optimizer sees, round after round.

An optimizer called on each new batch of logs hands them to its gate
(``CandidateGate(learn_scorer=True)``); :class:`LogScorer` keeps every scored log it has been
given and refits a :class:`~engram.optimizers._scorer.FeedbackScorer` on all of them, so the
gate can ask a model of *the users'* scores about a candidate's replays, beside the judge,
whose taste is its own. Each refit sees more versions of the prompt, hence more varied replies.

Measured on the hard world (a simulation with stand-in LMs; ``benchmarks/optimization_quality.py``),
gradient+gate+live with the scorer as a second opinion (``scorer_role="second_opinion"``): on the
development seeds 100-139 it closed 0.533 of the gap instead of 0.481 (paired +0.008 [-0.007, +0.023]
in true score, not significant; 0.490 as a pre-screen only,
0.308 with the scorer alone and no judge, 0.441 without the pre-screen's veto); on the report seeds
0-39 the gain did not replicate: 0.558 [0.431, 0.666] against 0.566, a paired difference of
-0.001 [-0.015, +0.012] in true score, and 0.508 [0.371, 0.629] (paired -0.010 [-0.024, +0.004])
once the embedder's export changed in ways invisible at five decimals of cosine (same code,
same seeds): the scorer's fits flip on float rounding near its decision thresholds. Read its
figure as 0.51-0.56, no better than without it. What it does buy is cost: the pre-screen rejects
clear losers before the judge runs, 58 LM calls and 33.8k tokens a run instead of 74 and 41.5k (DSPy's
GEPA: 134 and 44.5k for 0.545). The scorer is fitted on the very logs the gate replays
(``val_fraction=0``), so the incumbent's scores are in-sample; a ridge fit on a few dozen replies
is smooth, and the interval rule still applies to both opinions.

Example::

    >>> from engram.trajectories import Trajectory
    >>> learner = LogScorer(True)
    >>> learner.add([]) is None      # nothing scored yet: no model
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engram.errors import ValidationError
from engram.trajectories import Trajectory


class LogScorer:
    """Every scored log seen so far and a FeedbackScorer fitted on them (see the module docstring).

    Args:
        factory: True (a default ``FeedbackScorer(val_fraction=0)`` with the bundled MiniLM), or a
            function returning an unfitted scorer (e.g. ``lambda: FeedbackScorer(embedder=mine)``).
    """

    def __init__(self, factory: bool | Callable[[], Any] = True):
        if not (factory is True or callable(factory)):
            raise ValidationError(f"learn_scorer must be True or a function returning an unfitted FeedbackScorer, "
                                  f"got {factory!r}.")
        self._factory = factory if callable(factory) else None
        self._logs: dict[str, Trajectory] = {}
        self.scorer: Any = None
        self.fitted_on = 0

    def __len__(self) -> int:
        return len(self._logs)

    def _make(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from engram.optimizers._scorer import FeedbackScorer

        return FeedbackScorer(val_fraction=0.0)  # every log teaches; the gate is the check

    def add(self, trajectories: Iterable[Trajectory]) -> Any:
        """Keep the new scored logs and refit; returns the current scorer (None until one could be fitted)."""
        new = [t for t in trajectories if t.id not in self._logs and t.score is not None]
        if not new:
            return self.scorer
        self._logs.update((t.id, t) for t in new)
        try:
            self.scorer = self._make().fit(list(self._logs.values()))
        except ValidationError:  # too few scored replies so far: keep the previous model (or none)
            return self.scorer
        self.fitted_on = len(self._logs)
        return self.scorer
