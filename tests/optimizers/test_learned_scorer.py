"""The gate's learned scorer: fitted on the logs an optimizer hands over, and used as a second opinion."""

import doctest
import functools

import pytest

from engram.errors import ValidationError
from engram.optimizers import (
    CandidateGate,
    FeedbackJudge,
    FeedbackScorer,
    GradientOptimizer,
    _learned,
)
from engram.optimizers._learned import LogScorer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm

from .conftest import APPLY, CRITIQUE, convo, critique
from .test_scorer import HashEmbedder

SEED = "You are a helpful assistant."
BRIEF = SEED + " Be brief."


def _task_lm():
    # Stand-in task model: terse under a prompt that asks for brevity, wordy otherwise.
    return scripted_lm(lambda call: {"response": "Short." if "brief" in call.inputs["system_prompt"].lower()
                                     else "A long and winding answer " * 5})


def _judge(prefers_long: bool | None):
    """A stand-in judge: indifferent (None), or one that likes long / short replies."""
    def answer(call):
        short = "Short." in call.inputs["conversation"]
        score = 0.5 if prefers_long is None else (0.2 if short == prefers_long else 0.8)
        return {"reasoning": "", "score": score, "critique": ""}

    return FeedbackJudge(scripted_lm(answer))


class _LengthScorer:
    """A stand-in for a fitted FeedbackScorer: shorter replies score higher."""

    def score_trajectory(self, trajectory):
        return 1.0 / (1 + len(trajectory.messages[-1].content) / 50)


def _held_out(n=8):
    return [convo(f"question {i}?", "some reply", 0.5, "ok", user=f"u{i}") for i in range(n)]


def _logs(n, prefix, long_score, short_score):
    """Logged replies users scored: the long ones ``long_score``, the short ones ``short_score``."""
    out = []
    for i in range(n):
        short = i % 2 == 0
        out.append(convo(f"question {prefix}{i}?", "Short." if short else "A long and winding answer " * 5,
                         short_score if short else long_score, "ok", user=f"{prefix}{i}"))
    return out


def test_second_opinion_lifts_the_judges_veto_only_when_the_scorer_finds_a_reliable_gain():
    old, new = Prompt(name="p", template=SEED), Prompt(name="p", template=BRIEF)
    prescreen = CandidateGate(_task_lm(), judge=_judge(None), scorer=_LengthScorer())
    second = CandidateGate(_task_lm(), judge=_judge(None), scorer=_LengthScorer(), scorer_role="second_opinion")
    assert not prescreen.compare(old, new, _held_out()).accepted  # the indifferent judge cannot accept
    decision = second.compare(old, new, _held_out())
    assert decision.accepted and "second opinion" in decision.reason
    assert decision.scorer_comparison is not None and decision.scorer_comparison.lower > 0
    assert decision.comparison.gain == 0  # the judge's own comparison is kept and reported
    # a judge that finds the candidate reliably worse keeps its veto
    against = CandidateGate(_task_lm(), judge=_judge(True), scorer=_LengthScorer(), scorer_role="second_opinion")
    vetoed = against.compare(old, new, _held_out())
    assert not vetoed.accepted and vetoed.comparison.upper < 0 and vetoed.scorer_comparison.lower > 0


# components=0: the hash embedder gives unrelated vectors to near-identical texts; the statistics carry the length.


def test_the_gate_learns_its_scorer_from_the_logs_the_optimizer_hands_over():
    factory = functools.partial(FeedbackScorer, embedder=HashEmbedder(), components=0, val_fraction=0.0)
    gate = CandidateGate(_task_lm(), judge=_judge(None), learn_scorer=factory, scorer_role="second_opinion",
                         num_threads=1)
    assert gate.scorer is None and gate.judge is not None
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": BRIEF}})
    optimizer = GradientOptimizer(lm, gate=gate, val_fraction=0.0)
    first = optimizer(_logs(12, "a", long_score=0.0, short_score=1.0), SEED)
    assert gate.scorer is not None and len(gate._learner) == 12
    assert first.candidates[-1].accepted  # users scored the short replies higher; the judge is indifferent
    assert first.prompt.template == BRIEF
    optimizer(_logs(12, "b", long_score=0.0, short_score=1.0), BRIEF)
    assert len(gate._learner) == 24 and gate._learner.fitted_on == 24  # refitted on every log seen so far


def test_users_who_prefer_the_long_replies_teach_the_scorer_to_keep_the_prompt():
    factory = functools.partial(FeedbackScorer, embedder=HashEmbedder(), components=0, val_fraction=0.0)
    gate = CandidateGate(_task_lm(), judge=_judge(None), learn_scorer=factory, scorer_role="second_opinion",
                         num_threads=1)
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": BRIEF}})
    result = GradientOptimizer(lm, gate=gate, val_fraction=0.0)(_logs(12, "a", long_score=1.0, short_score=0.0),
                                                                  SEED)
    assert not result.accepted and result.prompt.template == SEED


def test_log_scorer_waits_for_enough_scored_logs_and_skips_repeats():
    factory = functools.partial(FeedbackScorer, embedder=HashEmbedder(), components=0, val_fraction=0.0)
    learner = LogScorer(factory)
    logs = _logs(3, "a", 0.0, 1.0)
    assert learner.add(logs) is None and len(learner) == 3  # 3 < 4 scored replies: no model yet
    assert learner.add(logs) is None and len(learner) == 3  # the same logs again add nothing
    assert learner.add(_logs(3, "b", 0.0, 1.0)) is not None and learner.fitted_on == 6
    assert learner.add([convo("q?", "r", None, "no score", user="x")]) is learner.scorer and len(learner) == 6


def test_bad_learned_scorer_settings_raise():
    with pytest.raises(ValidationError, match="scorer_role"):
        CandidateGate(_task_lm(), judge=_judge(None), scorer_role="tiebreak")
    with pytest.raises(ValidationError, match="learn_scorer"):
        LogScorer("yes")


def test_learned_module_docstring_examples_run():
    assert doctest.testmod(_learned).failed == 0
