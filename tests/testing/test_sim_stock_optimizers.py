"""DSPy's own optimizers run offline against the simulated world and learn what users want."""

from __future__ import annotations

import dspy

from engram.prompts import find_variables
from engram.testing._traits import activated_traits
from engram.testing._world import SEED_PROMPT, World, simulated_lm


def _metric(world):
    def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
        user = world.user(gold.user_id)
        return dspy.Prediction(score=world.satisfaction(user, pred.response),
                               feedback=world.comment(user, pred.response))
    return metric


def test_gepa_reflection_prompt_gets_an_improved_instruction():
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    rendered = InstructionProposalSignature.prompt_renderer({
        "current_instruction_doc": "You help {company} customers.",
        "dataset_with_feedback": [{"Inputs": {"message": "refund"}, "Generated Outputs": "...",
                                   "Feedback": "Way too long. No ticket number."}]})
    text = rendered if isinstance(rendered, str) else rendered[-1]["content"]
    reply = simulated_lm()(text)[0]
    new = InstructionProposalSignature.output_extractor(reply)["new_instruction"]
    assert new.startswith("You help {company} customers.")
    assert find_variables(new) == ["company"]
    assert set(activated_traits(new)) == {"concise", "ticket"}


def test_stock_gepa_learns_the_hidden_preferences():
    world = World(seed=0)
    users = world.users(8)
    train = [dspy.Example(message=u.message(world.topic("refund")), user_id=u.id).with_inputs("message")
             for u in users[:4]]
    val = [dspy.Example(message=u.message(world.topic("cancel")), user_id=u.id).with_inputs("message")
           for u in users[4:]]
    student = dspy.Predict(dspy.Signature("message -> response", SEED_PROMPT))
    lm = simulated_lm(seed=0)
    with dspy.context(lm=lm):
        compiled = dspy.GEPA(metric=_metric(world), reflection_lm=lm, max_metric_calls=40, seed=0).compile(
            student, trainset=train, valset=val)
    learned = compiled.signature.instructions
    assert learned.startswith(SEED_PROMPT)
    assert world.mean_satisfaction(SEED_PROMPT) == 0.0
    assert world.mean_satisfaction(learned) >= 0.75
