"""The compile routes (GEPA / MIPROv2 / BootstrapFewShot) with the simulated world (stand-in LMs)."""

import dspy
import pytest

from engram.errors import ConfigurationError, ValidationError
from engram.optimizers._feedback_teleprompter import (
    FeedbackMetric,
    FeedbackTeleprompter,
    OptimizerProposer,
)
from engram.optimizers._gradient import GradientOptimizer
from engram.optimizers._judge import FeedbackJudge
from engram.testing._world import SEED_PROMPT


class Reply(dspy.Signature):
    conversation: str = dspy.InputField()
    response: str = dspy.OutputField()


def _program():
    return dspy.Predict(Reply.with_instructions(SEED_PROMPT))


def test_teleprompter_is_a_direct_teleprompter_subclass():
    assert FeedbackTeleprompter.__bases__ == (dspy.teleprompt.Teleprompter,)
    with pytest.raises(ConfigurationError):
        FeedbackTeleprompter("sgd")
    with pytest.raises(ValidationError):
        FeedbackTeleprompter("bootstrap", judge=object()).compile(_program(), trainset=[])


@pytest.mark.parametrize("proposer", ["gradient", "metaprompt"])
def test_gepa_route_uses_the_judges_critique_and_our_proposer(world, proposer):
    lm = world.lm()
    data = world.simulate(SEED_PROMPT, world.users(4), system_message=False)
    tp = FeedbackTeleprompter("gepa", judge=FeedbackJudge(lm), reflection_lm=lm, max_metric_calls=12,
                              proposer=proposer)
    with dspy.context(lm=lm):
        compiled = tp.compile(_program(), trainset=data)
    instructions = compiled.signature.instructions
    assert instructions.startswith(SEED_PROMPT) and instructions != SEED_PROMPT
    assert world.mean_satisfaction(instructions) > world.mean_satisfaction(SEED_PROMPT) + 0.3
    # the proposer is engram's gradient optimizer, fed GEPA's feedback text (the judge's critique)
    first = tp.proposer_impl.history[0]
    assert first.optimizer == proposer and first.critiques
    # GEPA's feedback text reached our optimizer: the seed program reproduces the recorded
    # replies, so the metric hands over the users' own comments (real feedback beats the judge)
    comments = [t.feedback.comment for t in tp.proposer_impl.last_trajectories]
    assert comments and set(comments) <= {t.feedback.comment for t in data}


def test_feedback_metric_prefers_recorded_feedback():
    gold = dspy.Example(conversation="user: hi", response="Hello", score=0.2, comment="too terse").with_inputs(
        "conversation")
    metric = FeedbackMetric(judge=lambda **kw: pytest.fail("judge must not be called"))
    out = metric(gold, dspy.Prediction(response="Hello"), None, None, None)
    assert (out.score, out.feedback) == (0.2, "too terse")


def test_proposer_turns_reflective_records_into_trajectories():
    records = [{"Inputs": {"conversation": "user: hi"}, "Generated Outputs": {"response": "Yo"},
                "Feedback": "Too casual."}]
    (t,) = OptimizerProposer.to_trajectories(records)
    assert t.messages[0].content == "conversation: user: hi" and t.feedback.comment == "Too casual."


def test_bootstrap_route_keeps_well_rated_demos(world):
    lm = world.lm()
    good = world.simulate(world.oracle_prompt(), world.users(3), system_message=False)
    bad = world.simulate(SEED_PROMPT, world.users(3), system_message=False)
    tp = FeedbackTeleprompter("bootstrap", judge=FeedbackJudge(lm), max_bootstrapped_demos=1, max_labeled_demos=2)
    with dspy.context(lm=lm):
        compiled = tp.compile(_program(), trainset=list(good) + list(bad))
    assert compiled.demos
    assert all(world.judge(d["response"])[0] >= 0.5 for d in compiled.demos if "response" in d)


def test_mipro_route_changes_the_program_in_the_hard_world():
    """MIPROv2 really searches: its proposer stand-in reads MIPRO's own fields (demos, tip), trials differ."""
    from engram.testing import HARD_SEED_PROMPT, HardWorld

    world = HardWorld(0)
    lm = world.lm()
    logs = list(world.simulate(HARD_SEED_PROMPT, world.users(12)))
    tp = FeedbackTeleprompter("mipro", judge=FeedbackJudge(lm), reflection_lm=lm, num_candidates=3, num_trials=5,
                              max_bootstrapped_demos=1, max_labeled_demos=1)
    with dspy.context(lm=lm):
        compiled = tp.compile(dspy.Predict(Reply.with_instructions(HARD_SEED_PROMPT)), trainset=logs[:16],
                              valset=logs[16:])
    assert isinstance(compiled, dspy.Predict)
    proposed = {p["program"].signature.instructions for p in compiled.candidate_programs}
    assert len(proposed) > 1  # real, different candidates
    scores = sorted({round(p["score"], 3) for p in compiled.candidate_programs})
    assert len(scores) > 1  # the metric tells them apart
    # DSPy reports MIPROv2 scores in percent, not in [0, 1]
    assert compiled.score == max(p["score"] for p in compiled.candidate_programs) and compiled.score > 1.0
    assert compiled.signature.instructions != HARD_SEED_PROMPT or compiled.demos


def test_our_gradient_optimizer_compiles_with_bootstrap_fewshot(world):
    lm = world.lm()
    examples = []
    for seed_users in (3, 4):
        data = world.simulate(SEED_PROMPT, world.users(seed_users))
        examples.append(dspy.Example(trajectories=list(data), prompt=SEED_PROMPT).with_inputs("trajectories", "prompt"))

    def improved(example, result, trace=None):
        return world.mean_satisfaction(result.prompt.template) > world.mean_satisfaction(example.prompt)

    student = GradientOptimizer(lm)
    compiled = dspy.BootstrapFewShot(metric=improved, max_bootstrapped_demos=1, max_labeled_demos=0).compile(
        student, trainset=examples)
    assert compiled.critique.predict.demos and compiled.apply.demos
    assert not student.critique.predict.demos  # the student itself is untouched
    again = compiled(examples[0].trajectories, SEED_PROMPT)
    assert again.improved and not again.errors


def test_feedback_metric_falls_back_to_the_judges_critique(world):
    lm = world.lm()
    gold = dspy.Example(conversation="user: I'm Mei. How do I cancel?", response="recorded", score=0.0,
                        comment="old").with_inputs("conversation")
    reply = world.respond(world.oracle_prompt(), "How do I cancel my subscription?")
    out = FeedbackMetric(FeedbackJudge(lm))(gold, dspy.Prediction(response=reply), None, None, None)
    assert out.score == 1.0 and out.feedback == world.judge(reply)[1]


def test_bootstrap_never_uses_a_disliked_reply_as_a_demo(world):
    """Every recorded reply disliked: the old ``or train`` fallback made them demos; now only fresh ones are."""
    lm = world.lm()
    bad = [t for t in world.simulate(SEED_PROMPT, world.users(8), system_message=False) if t.score < 0.5]
    assert bad
    disliked = {t.messages[-1].content for t in bad}
    tp = FeedbackTeleprompter("bootstrap", judge=FeedbackJudge(lm), max_bootstrapped_demos=2, max_labeled_demos=2)
    with dspy.context(lm=lm):
        compiled = tp.compile(_program(), trainset=bad)
    assert not any(d.get("response") in disliked for d in compiled.demos)
    assert all("score" not in d for d in compiled.demos)  # no recorded (labeled) example slipped in


def test_gepa_proposer_passes_the_developers_guidance():
    """Without guidance a judge-driven GEPA run in the hard world adds the discount the business pays for."""
    from engram.testing import HARD_SEED_PROMPT, HardWorld
    from engram.testing import _hard_rules as R

    world = HardWorld(0)
    lm = world.lm()
    records = [{"Inputs": {"conversation": "user: refund?"}, "Generated Outputs": {"response": "Refunds take 5 days."},
                "Feedback": "At least offer me a discount. " + R.BY_NAME["steps"].missing[0] + "."}] * 4
    prompts = {}
    for guidance in (None, "Never offer discounts: the business pays for them."):
        proposer = OptimizerProposer(lm, kind="gradient", guidance=guidance)
        with dspy.context(lm=lm):
            new = proposer({"predict": HARD_SEED_PROMPT}, {"predict": records}, ["predict"])
        assert proposer.history[0].original.update_instructions == guidance
        prompts[guidance] = dict(R.directives(new["predict"]))
    assert prompts[None].get("discount") is True
    assert "discount" not in prompts["Never offer discounts: the business pays for them."]


def test_a_predictor_name_that_is_no_prompt_name_is_still_optimized():
    """DSPy names a predictor held in a list 'layers[0].predict'; a Prompt may not be called that."""
    from engram.testing import HARD_SEED_PROMPT, HardWorld
    from engram.testing import _hard_rules as R

    lm = HardWorld(0).lm()
    records = [{"Inputs": {"conversation": "user: refund?"}, "Generated Outputs": {"response": "Refunds take 5 days."},
                "Feedback": R.BY_NAME["steps"].missing[0] + "."}] * 4
    proposer = OptimizerProposer(lm, kind="gradient")
    with dspy.context(lm=lm):
        new = proposer({"layers[0].predict": HARD_SEED_PROMPT}, {"layers[0].predict": records}, ["layers[0].predict"])
    assert list(new) == ["layers[0].predict"] and proposer.history[0].original.name == "layers_0_.predict"
    assert new["layers[0].predict"] != HARD_SEED_PROMPT


@pytest.mark.parametrize(("student", "trainset", "words"), [
    ("conversation -> response", [dspy.Example(conversation="c", response="r").with_inputs("conversation")],
     "needs a DSPy program"),
    (dspy.Predict("question -> answer"), [dspy.Example(question="q", answer="a")],
     r"no inputs marked.*with_inputs\('question'\)"),
    (dspy.ChainOfThought("question -> answer"), "trajectories",
     r"takes inputs \['question'\].*give \['conversation'\].*dspy\.Predict\('conversation -> response'\)"),
])
def test_what_dspy_would_skip_one_example_at_a_time_is_refused_up_front(world, student, trainset, words):
    # DSPy logs each example it cannot run and returns the program unchanged: engram refuses first
    if trainset == "trajectories":
        trainset = world.simulate(SEED_PROMPT, world.users(2), system_message=False)
    with pytest.raises(ValidationError, match=words):
        FeedbackTeleprompter("bootstrap", judge=object()).compile(student, trainset=trainset)


def test_the_student_runs_on_engram_s_task_lm_when_dspy_has_none(world, monkeypatch):
    import engram

    lm = world.lm()
    engram.configure(lm=lm)  # engram's setting only: no dspy.configure, no dspy.context
    assert dspy.settings.lm is None
    good = world.simulate(world.oracle_prompt(), world.users(3), system_message=False)
    before = lm.engine.calls
    compiled = FeedbackTeleprompter("bootstrap", judge=FeedbackJudge(lm), max_bootstrapped_demos=1,
                                    max_labeled_demos=0).compile(_program(), trainset=good)
    # the student ran (and the judge scored what it said); without an LM it fails on every
    # example before the metric, and nothing calls the LM
    assert lm.engine.calls > before and compiled is not None
