"""Bad constructor arguments and an empty held-out set raise engram errors that say what to do."""

from __future__ import annotations

import warnings

import pytest

import engram
from engram.optimizers import CandidateGate, FeedbackJudge, GradientOptimizer
from engram.optimizers._result import OptimizationResult
from engram.prompts import Prompt
from engram.trajectories import TrajectoryDataset
from tests.optimizers.conftest import convo


@pytest.fixture
def one_user():
    return TrajectoryDataset([convo(f"question {i}", f"reply {i}", 0.2, "too terse", user="u1") for i in range(8)])


def test_split_warns_when_one_user_leaves_nothing_to_hold_out(one_user):
    with pytest.warns(UserWarning, match="only 1 user/thread group; nothing can be held out"):
        train, held = one_user.split(0.25)
    assert (len(train), len(held)) == (8, 0)


def test_split_of_many_users_does_not_warn():
    data = TrajectoryDataset([convo(f"q{i}", f"r{i}", 0.5, user=f"u{i}") for i in range(8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train, held = data.split(0.25)
    assert len(train) and len(held)


def test_an_explicitly_empty_validation_set_is_refused(one_user):
    optimizer = GradientOptimizer(lm="offline/support", gate=CandidateGate(judge=FeedbackJudge()))
    with pytest.warns(UserWarning):
        train, held = one_user.split(0.25)
    with pytest.raises(engram.ValidationError, match="validation= is empty"):
        optimizer(train, "You are a support agent.", validation=held)


def test_the_flag_says_training_data_whenever_the_gate_scores_it(one_user):
    class Nothing(GradientOptimizer):
        def propose(self, trajectories, prompt, rendered):
            from engram.optimizers._base import Proposal
            return Proposal(None)

    optimizer = Nothing(lm="offline/support", gate=CandidateGate(judge=FeedbackJudge()))
    prompt = Prompt(name="p", template="You help.")
    result = OptimizationResult(prompt=prompt, original=prompt, optimizer="gradient")
    optimizer._run(result, prompt, list(one_user), [], "offline/support")
    assert result.metadata["held_out"] == 0
    assert result.metadata["gate_on_training_data"] is True


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: GradientOptimizer(gate="yes"), "gate must be a CandidateGate"),
    (lambda: CandidateGate(judge="gpt4"), r"judge=FeedbackJudge\(lm='gpt4'\)"),
    (lambda: CandidateGate(metric=0.5), "metric must be a function"),
    (lambda: GradientOptimizer(max_step=3), "unknown keyword argument.*'max_step' \\(did you mean 'max_reflection_steps'"),
    (lambda: CandidateGate(threshold=0.1), "'threshold' \\(did you mean 'min_gain'"),
    (lambda: CandidateGate(max_trajectories="8"), "max_trajectories must be an integer.*got str '8'"),
    (lambda: GradientOptimizer(val_fraction="0.2"), "val_fraction must be a number"),
    (lambda: GradientOptimizer(max_reflection_steps="3"), "max_reflection_steps must be an integer"),
    (lambda: GradientOptimizer(rollback="yes"), "rollback must be True or False"),
])
def test_bad_constructor_arguments_raise_at_construction(make, expected):
    with pytest.raises(engram.ValidationError, match=expected):
        make()


def test_unknown_config_key_names_the_valid_keys():
    from engram.optimizers import create_prompt_optimizer

    with pytest.raises(engram.ConfigurationError, match="'max_step' \\(did you mean 'max_reflection_steps'.*Valid keys"):
        create_prompt_optimizer("offline/support", kind="gradient", config={"max_step": 3})
