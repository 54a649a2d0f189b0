"""The paired comparison ``compare`` uses: the gate's own when it is installed, else a local one.

``engram.optimizers.paired_comparison`` (the gate's statistics) is preferred; until that
lands, this module's :func:`paired_bootstrap` gives the same kind of answer: the paired
bootstrap of the mean gain with the expanded-percentile interval (Hesterberg), so a
decision never rests on a difference of means alone::

    result = paired(before=[0.2, 0.5, 0.4], after=[0.6, 0.7, 0.9])
    result.ci, result.n
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from engram.errors import ValidationError


@dataclass(frozen=True)
class Comparison:
    """A paired comparison: gain ``after - before`` with a two-sided interval."""

    method: str
    confidence: float
    n: int
    mean_before: float
    mean_after: float
    gain: float
    ci: tuple[float, float]
    wins: int
    losses: int
    ties: int

    @property
    def lower(self) -> float:
        return self.ci[0]

    @property
    def upper(self) -> float:
        return self.ci[1]

    def summary(self) -> str:
        lo, hi = self.ci
        return (f"gain {self.gain:+.3f} ({self.mean_before:.3f} -> {self.mean_after:.3f}), "
                f"{self.confidence:.0%} CI [{lo:+.3f}, {hi:+.3f}], n={self.n}, {self.method} test, "
                f"{self.wins} wins / {self.losses} losses / {self.ties} ties")


def _t_quantile(p: float, dof: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion (within 1 % of exact for dof >= 3;
    no SciPy needed)."""
    z = NormalDist().inv_cdf(p)
    v = float(dof)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3))


def paired_bootstrap(before: Sequence[float], after: Sequence[float], *, confidence: float = 0.95,
                     n_resamples: int = 10_000, seed: int = 0) -> Comparison:
    """The expanded-percentile paired bootstrap of the mean gain."""
    import numpy as np

    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if b.shape != a.shape or b.ndim != 1 or len(b) == 0:
        raise ValidationError(f"A paired comparison needs two equal, non-empty lists of scores; got {len(b)} "
                              f"and {len(a)}.")
    diffs = a - b
    n = len(diffs)
    if n < 2:
        lo, hi = -math.inf, math.inf
    elif np.all(diffs == diffs[0]):
        lo = hi = float(diffs[0])
    else:
        alpha = 1.0 - confidence
        tail = NormalDist().cdf(-math.sqrt(n / (n - 1)) * _t_quantile(1 - alpha / 2, n - 1))
        rng = np.random.default_rng(seed)
        draws = diffs[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
        lo, hi = (float(x) for x in np.quantile(draws, [tail, 1 - tail]))
    return Comparison("bootstrap", confidence, n, float(b.mean()), float(a.mean()), float(diffs.mean()),
                      (lo, hi), int((diffs > 0).sum()), int((diffs < 0).sum()), int((diffs == 0).sum()))


def paired(before: Sequence[float], after: Sequence[float], *, confidence: float = 0.95):
    """The gate's ``paired_comparison`` if this engram has it, else :func:`paired_bootstrap`."""
    try:
        from engram.optimizers import paired_comparison
    except ImportError:  # an engram without the gate's statistics yet
        return paired_bootstrap(before, after, confidence=confidence)
    return paired_comparison(before, after, confidence=confidence)
