"""Pruning a multi-objective trial on partial evaluations.

Optuna's ``trial.report`` / ``should_prune`` do not support multi-objective studies, so
the sweep does it itself: after each partial evaluation (a chunk of the held-out set),
the trial's running score is compared with what finished trials scored *at the same
step*. If a finished trial had a strictly better partial score there and cost no more,
this trial is dominated at that point and unlikely to reach the Pareto front: it is
pruned, saving the rest of its evaluation.

    if dominated_at_step(study, step=1, score=0.4, cost=900):
        raise optuna.TrialPruned()
"""

from __future__ import annotations

from typing import Any

PARTIAL_ATTR = "partial_scores"
COST_ATTR = "optimization_cost"
MIN_FINISHED = 2  # never prune before a few trials have finished: nothing to compare with


def dominated_at_step(study: Any, *, step: int, score: float, cost: float, margin: float = 1e-9) -> bool:
    """True if a finished trial scored better at ``step`` with no higher cost."""
    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    comparable = [t for t in finished if len(t.user_attrs.get(PARTIAL_ATTR, [])) > step]
    if len(comparable) < MIN_FINISHED:
        return False
    for other in comparable:
        other_score = other.user_attrs[PARTIAL_ATTR][step]
        other_cost = other.user_attrs.get(COST_ATTR, float("inf"))
        if other_score > score + margin and other_cost <= cost:
            return True
    return False
