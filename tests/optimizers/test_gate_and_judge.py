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


def test_gate_rejects_a_worse_candidate(trajectories):
    writer = scripted_lm({FOLD: {"updated_prompt": "Be brief. Actually, elaborate at length."}})
    task = scripted_lm(lambda call: {"response": "A long and winding answer " * 5
                                     if "elaborate" in call.inputs["system_prompt"] else "Short."})
    gate = CandidateGate(task, metric=_length_metric)
    result = PromptMemoryOptimizer(writer, gate=gate)(trajectories, SEED, validation=trajectories)
    assert not result.accepted and result.prompt.template == SEED
    assert result.score_before > result.score_after
    assert "does not beat" in result.candidates[-1].reason


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
