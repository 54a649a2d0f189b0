import pytest

from engram.optimizers._gate import CandidateGate
from engram.optimizers._judge import FeedbackJudge, agreement, compile_judge, judge_examples
from engram.optimizers._prompt_memory import PromptMemoryOptimizer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm

from .conftest import FOLD

SEED = "You are a helpful assistant."
RESPOND = "system_prompt, conversation, message -> response"


def _length_metric(trajectory, replayed, prompt):
    return 1.0 / (1 + len(replayed[-1].content) / 50)


def _task_lm():
    # Stand-in task model: terse under a prompt that asks for brevity, wordy otherwise.
    return scripted_lm(lambda call: {"response": "Short." if "brief" in call.inputs["system_prompt"]
                                     else "A long and winding answer " * 5})


def test_gate_accepts_a_better_candidate_and_records_scores(trajectories):
    writer = scripted_lm({FOLD: {"updated_prompt": SEED + " Be brief."}})
    gate = CandidateGate(_task_lm(), metric=_length_metric)
    result = PromptMemoryOptimizer(writer, gate=gate)(trajectories, SEED, validation=trajectories[:2])
    assert result.accepted and result.prompt.template.endswith("Be brief.")
    assert result.score_after > result.score_before
    assert result.candidates[-1].score == result.score_after
    assert "only 2 paired trajectories" in result.candidates[-1].reason  # a small sample is flagged


def test_gate_rejects_a_worse_candidate(trajectories):
    writer = scripted_lm({FOLD: {"updated_prompt": "Be brief. Actually, elaborate at length."}})
    task = scripted_lm(lambda call: {"response": "A long and winding answer " * 5
                                     if "elaborate" in call.inputs["system_prompt"] else "Short."})
    gate = CandidateGate(task, metric=_length_metric)
    result = PromptMemoryOptimizer(writer, gate=gate)(trajectories, SEED, validation=trajectories)
    assert not result.accepted and result.prompt.template == SEED
    assert result.score_before > result.score_after
    assert "rejected" in result.candidates[-1].reason


def test_gate_replays_every_user_turn_under_the_prompt():
    from engram.trajectories import Trajectory

    task = _task_lm()
    t = Trajectory(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"},
                             {"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}])
    replay = CandidateGate(task, metric=_length_metric).replay(Prompt(name="p", template="be brief"), t)
    assert [m.content for m in replay] == ["a", "Short.", "b", "Short."]
    assert task.engine.requests[1].inputs["conversation"] == "user: a\nassistant: Short."


def test_gate_with_the_judge_in_the_simulated_world(world):
    from engram.testing._world import SEED_PROMPT

    lm = world.lm()
    held_out = world.simulate(SEED_PROMPT, world.users(4))
    decision = CandidateGate(lm, judge=FeedbackJudge(lm)).compare(
        Prompt(name="s", template=SEED_PROMPT), Prompt(name="s", template=world.oracle_prompt()), list(held_out))
    assert decision.accepted and decision.score_after == 1.0 and decision.score_before < 0.5


def test_judge_scores_and_agreement_metric():
    lm = scripted_lm({"score": 0.8, "critique": "fine", "reasoning": "r"})
    pred = FeedbackJudge(lm)(prompt="p", conversation="user: hi\nassistant: hello")
    assert pred.score == 0.8 and pred.critique == "fine"
    example = judge_examples([([{"role": "user", "content": "hi"}], 0.6)], prompt="p")[0]
    assert agreement(example, pred) == pytest.approx(0.8)
    assert agreement(example, pred, trace=[]) is True


def test_judge_clamps_out_of_range_scores():
    assert FeedbackJudge(scripted_lm({"score": 7, "critique": "", "reasoning": ""}))(prompt="p", conversation="c").score == 0.7
    assert FeedbackJudge(scripted_lm({"score": -2, "critique": "", "reasoning": ""}))(prompt="p", conversation="c").score == 0.0


def test_compile_judge_reports_held_out_agreement(world):
    from engram.testing._world import SEED_PROMPT

    data = world.simulate(SEED_PROMPT, world.users(8))
    report = compile_judge(data, prompt=SEED_PROMPT, lm=world.lm(), max_bootstrapped_demos=2)
    assert report.val_size >= 1 and report.train_size >= 1
    assert report.agreement_val is not None and report.agreement_val > 0.8
    assert report.judge.assess.predict.demos  # compiled: it carries demos
    assert report.concordance_val is None or 0.0 <= report.concordance_val <= 1.0


def test_concordance_gives_a_constant_judge_one_half_unlike_agreement():
    from engram.optimizers._judge import concordance

    users = [0.9, 0.8, 0.7, 0.9, 0.1]
    constant, ordered = [0.75] * 5, [0.6, 0.5, 0.4, 0.6, 0.3]
    assert concordance(users, constant) == 0.5 and concordance(users, ordered) == 1.0
    def mean_agreement(pred):
        return 1 - sum(abs(u - p) for u, p in zip(users, pred)) / len(users)

    assert mean_agreement(constant) > mean_agreement(ordered)  # agreement prefers the useless judge
    assert concordance([0.5, 0.5], [0.1, 0.9]) is None


def test_incumbent_scores_are_cached_across_rounds(trajectories):
    task = _task_lm()
    gate = CandidateGate(task, metric=_length_metric, num_threads=2)
    old, new = Prompt(name="p", template=SEED), Prompt(name="p", template=SEED + " Be brief.")
    first = gate.compare(old, new, trajectories)
    calls = len(task.engine.requests)
    second = gate.compare(old, new, trajectories)
    assert len(task.engine.requests) == calls == 2 * len(trajectories)
    assert (first.score_before, first.score_after) == (second.score_before, second.score_after)
    assert [r[0] for r in first.per_trajectory] == [t.id for t in trajectories]  # order kept


# --- the gate's statistics -------------------------------------------------------------


def _judged(rng, n, gain, noise=0.25):
    """Simulated judge scores: each held-out item has a quality; the judge adds noise to both replays."""
    import numpy as np

    quality = rng.random(n)
    return (list(np.clip(quality + rng.normal(0, noise, n), 0, 1)),
            list(np.clip(quality + gain + rng.normal(0, noise, n), 0, 1)))


def test_gate_rarely_accepts_a_candidate_that_is_no_better():
    import numpy as np

    rng, gate = np.random.default_rng(11), CandidateGate(metric=_length_metric)
    decisions = [gate.decide(*_judged(rng, 20, 0.0)) for _ in range(300)]
    assert sum(d.accepted for d in decisions) / len(decisions) <= 0.06
    # The old rule (any mean gain) would have accepted about half of them.
    assert sum(d.score_after > d.score_before for d in decisions) / len(decisions) > 0.35


def test_gate_has_power_at_a_large_gain():
    import numpy as np

    rng, gate = np.random.default_rng(12), CandidateGate(metric=_length_metric)
    decisions = [gate.decide(*_judged(rng, 20, 0.3)) for _ in range(100)]
    assert sum(d.accepted for d in decisions) / len(decisions) >= 0.9


def test_decision_reports_interval_n_test_and_reason():
    gate = CandidateGate(metric=_length_metric, min_gain=0.05, method="t")
    decision = gate.decide([0.4, 0.5, 0.3, 0.6, 0.5], [0.9, 0.8, 0.9, 0.95, 0.85])
    assert decision.accepted and decision.n == 5 and decision.comparison.method == "t"
    assert decision.interval[0] > 0.05 and "lower bound" in decision.reason and "n=5" in decision.reason
    noisy = gate.decide([0.4, 0.9, 0.3, 0.6], [0.5, 0.7, 0.4, 0.6])
    assert not noisy.accepted and "not above min_gain" in noisy.reason
    worse = gate.decide([0.9] * 5 + [0.8] * 5, [0.1] * 5 + [0.2] * 5)
    assert not worse.accepted and "reliably worse" in worse.reason


def test_user_unit_pairs_users_not_trajectories():
    gate = CandidateGate(metric=_length_metric, unit="user")
    before, after = [0.2] * 9 + [0.9], [0.9] * 9 + [0.1]
    decision = gate.decide(before, after, groups=["chatty"] * 9 + ["quiet"])
    assert decision.n == 2 and decision.unit == "user"
    assert CandidateGate(metric=_length_metric).decide(before, after).n == 10


def test_gate_rejects_bad_arguments():
    from engram.errors import ValidationError

    for kwargs, text in [({"method": "mean"}, "method"), ({"unit": "thread"}, "unit"),
                         ({"confidence": 1.5}, "confidence"), ({"min_gain": -0.1}, "min_gain"),
                         ({"max_trajectories": 0}, "max_trajectories"),
                         ({"min_gain": 0.1, "min_improvement": 0.2}, "min_gain"),
                         ({"scorer": object()}, "FeedbackScorer")]:
        with pytest.raises(ValidationError, match=text):
            CandidateGate(metric=_length_metric, **kwargs)
    with pytest.raises(ValidationError, match="not an MLflow scorer"):
        CandidateGate(scorers=[len])
    with pytest.raises(ValidationError, match="one of judge"):
        CandidateGate(metric=_length_metric, judge=object())
    assert CandidateGate(metric=_length_metric, min_improvement=0.1).min_gain == 0.1  # the former name


def test_gate_scores_with_an_mlflow_scorer_on_evaluation_rows():
    import pandas as pd
    from mlflow.genai.scorers import scorer

    @scorer
    def concise(outputs, expectations) -> bool:
        return len(outputs) <= expectations["max_chars"]

    rows = pd.DataFrame({"inputs": [{"question": f"question {i}?"} for i in range(8)],
                         "expectations": [{"max_chars": 20}] * 8})
    gate = CandidateGate(_task_lm(), scorers=[concise])
    decision = gate.compare(Prompt(name="p", template=SEED), Prompt(name="p", template=SEED + " Be brief."), rows)
    assert decision.accepted and decision.n == 8
    assert (decision.score_before, decision.score_after) == (0.0, 1.0)
    with pytest.raises(Exception, match="inputs"):
        gate.compare(Prompt(name="p", template=SEED), Prompt(name="p", template="x"), pd.DataFrame({"q": [1]}))


class _LengthScorer:
    """A stand-in for a fitted FeedbackScorer: shorter conversations score higher."""

    def score_trajectory(self, trajectory):
        return 1.0 / (1 + len(trajectory.messages[-1].content) / 50)


def test_learned_scorer_prescreens_before_the_judge(trajectories):
    judge = scripted_lm({"score": 0.9, "critique": "", "reasoning": ""})
    gate = CandidateGate(_task_lm(), judge=FeedbackJudge(judge), scorer=_LengthScorer())
    longer = gate.compare(Prompt(name="p", template=SEED + " be brief"), Prompt(name="p", template=SEED),
                          trajectories)
    assert longer.prescreened and not longer.accepted and judge.engine.requests == []
    alone = CandidateGate(_task_lm(), scorer=_LengthScorer())
    assert alone.judge is None and alone.compare(Prompt(name="p", template=SEED),
                                                 Prompt(name="p", template=SEED + " be brief"),
                                                 trajectories).accepted


def test_gate_takes_an_mlflow_evaluation_dataset_as_held_out_data(tmp_path):
    import mlflow
    from mlflow.genai.datasets import create_dataset
    from mlflow.genai.scorers import scorer

    @scorer
    def concise(outputs, expectations):
        from mlflow.entities import Feedback

        return Feedback(value="yes" if len(outputs) <= expectations["max_chars"] else "no")

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the root conftest resets it afterwards
    dataset = create_dataset(name="held_out")
    dataset.merge_records([{"inputs": {"question": f"question {i}?"}, "expectations": {"max_chars": 20}}
                           for i in range(6)])
    gate = CandidateGate(_task_lm(), scorers=concise)
    decision = gate.compare(Prompt(name="p", template=SEED), Prompt(name="p", template=SEED + " Be brief."), dataset)
    assert decision.accepted and decision.n == 6 and decision.score_after == 1.0
    assert all(tid.startswith("dr-") for tid, _, _ in decision.per_trajectory)  # one pair per dataset record


def test_gate_docstring_examples_run():
    import doctest

    from engram.optimizers import _gate, _judge

    assert doctest.testmod(_gate).failed == 0 and doctest.testmod(_judge).failed == 0
