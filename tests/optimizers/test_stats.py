import doctest
import math

import numpy as np
import pytest

from engram.errors import ValidationError
from engram.optimizers import PairedComparison, _stats, paired_comparison


def _simulate(rng, n, gain, noise=0.25):
    quality = rng.random(n)
    before = quality + rng.normal(0, noise, n)
    after = quality + gain + rng.normal(0, noise, n)
    return before, after


@pytest.mark.parametrize("method", ["bootstrap", "t", "sign"])
def test_interval_covers_the_true_gain_in_a_seeded_simulation(method):
    rng = np.random.default_rng(7)
    true_gain, runs, covered = 0.1, 200, 0
    for i in range(runs):
        before, after = _simulate(rng, 12, true_gain)  # symmetric noise: mean gain = median gain
        lo, hi = paired_comparison(before, after, method=method, n_resamples=2000, seed=i).ci
        covered += lo <= true_gain <= hi
    assert covered / runs >= 0.90


def test_plain_percentile_would_undercover_so_the_interval_is_expanded():
    # With 5 items the expanded bootstrap interval is wider than the raw bootstrap's 2.5-97.5 % range.
    rng = np.random.default_rng(3)
    diffs = rng.normal(0, 1, 5)
    lo, hi = paired_comparison(np.zeros(5), diffs, n_resamples=5000).ci
    draws = diffs[rng.integers(0, 5, (5000, 5))].mean(axis=1)
    raw_lo, raw_hi = np.quantile(draws, [0.025, 0.975])
    assert lo < raw_lo and hi > raw_hi


def test_counts_and_degenerate_cases():
    r = paired_comparison([0.5, 0.2, 0.9, 0.4], [0.5, 0.6, 0.1, 0.8], method="t")
    assert (r.wins, r.losses, r.ties, r.n) == (2, 1, 1, 4)
    same = paired_comparison([0.3] * 8, [0.3] * 8)
    assert same.ci == (0.0, 0.0) and not same.above(0.0)
    lone = paired_comparison([0.1], [0.9])
    assert lone.ci == (-math.inf, math.inf) and not lone.above(0.0)
    # The sign test cannot reach 95 % with 5 items, even when all 5 win; with 6 it can.
    assert paired_comparison([0] * 5, [1] * 5, method="sign").lower == -math.inf
    assert paired_comparison([0] * 6, [1] * 6, method="sign").above(0.0)


def test_the_same_scores_give_the_same_interval():
    rng = np.random.default_rng(0)
    before, after = _simulate(rng, 30, 0.05)
    assert paired_comparison(before, after, seed=4) == paired_comparison(before, after, seed=4)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValidationError, match="same length"):
        paired_comparison([0.1, 0.2], [0.3])
    with pytest.raises(ValidationError, match="method must be one of"):
        paired_comparison([0.1], [0.2], method="mean")
    with pytest.raises(ValidationError, match="confidence"):
        paired_comparison([0.1], [0.2], confidence=95)
    with pytest.raises(ValidationError, match="NaN"):
        paired_comparison([0.1, float("nan")], [0.2, 0.3])


def test_summary_names_interval_n_and_test():
    r = paired_comparison([0.2, 0.4, 0.3], [0.5, 0.6, 0.6])
    assert isinstance(r, PairedComparison)
    assert "n=3" in r.summary() and "bootstrap test" in r.summary() and "95% CI" in r.summary()


def test_docstring_examples_run():
    assert doctest.testmod(_stats).failed == 0
