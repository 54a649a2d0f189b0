"""Issue 15: the logged round_score is the series the score-by-round plot draws."""

from __future__ import annotations

from engram.runner._plots import round_scores


def test_a_rejected_round_keeps_the_score_in_force_not_zero() -> None:
    rounds = [{"round": 1, "score_before": 0.2, "score_after": 0.6, "accepted": True},
              {"round": 2, "score_before": 0.6, "score_after": None, "accepted": False},
              {"round": 3, "score_before": 0.6, "score_after": 0.5, "accepted": False}]
    assert round_scores(rounds) == [(0, 0.2), (1, 0.6), (2, 0.6), (3, 0.6)]
    assert round_scores([]) == []
