import asyncio

import pytest

from engram.errors import ConfigurationError, ValidationError
from engram.optimizers._gradient import GradientOptimizer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm

from .conftest import APPLY, CRITIQUE, convo, critique

PROMPT = Prompt(name="support", template="You help {company} customers.")


def test_no_edit_warranted_stops_after_one_critique(trajectories):
    lm = scripted_lm({CRITIQUE: critique([]), APPLY: {"improved_prompt": "never used"}})
    result = GradientOptimizer(lm, max_reflection_steps=5)(trajectories, PROMPT)
    assert result.prompt == PROMPT and not result.improved
    assert result.usage.calls == 1 and result.steps == 1
    assert [c.signature_key for c in lm.engine.requests] == [CRITIQUE]


def test_edit_applies_recommendations_in_two_calls(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Keep replies under three sentences."]),
                      APPLY: {"improved_prompt": "You help {company} customers. Keep replies under three sentences."}})
    result = GradientOptimizer(lm)(trajectories, PROMPT)
    assert result.improved and result.accepted
    assert result.prompt.template.endswith("three sentences.")
    assert result.usage.calls == 2
    assert "Keep replies under three sentences." in lm.engine.requests[1].inputs["recommendations"]
    assert "edit warranted: yes" in result.critiques[0]
    assert "too long" in lm.engine.requests[0].inputs["trajectories"]


def test_min_steps_refine_and_stop_when_recommendations_settle(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": "You help {company} customers. Be brief."}})
    result = GradientOptimizer(lm, min_reflection_steps=2, max_reflection_steps=5)(trajectories, PROMPT)
    assert result.steps == 2 and result.usage.calls == 3
    assert "critique 1" in lm.engine.requests[1].inputs["previous_critique"]


def test_inconsistent_critique_is_reflected_on_up_to_the_maximum(trajectories):
    lm = scripted_lm([{**critique([], warranted=True)}, {**critique(["Be brief."])},
                      {"improved_prompt": "You help {company} customers. Be brief."}])
    result = GradientOptimizer(lm, max_reflection_steps=3)(trajectories, PROMPT)
    assert result.steps == 2 and result.usage.calls == 3 and result.improved


def test_minibatch_critiques_the_worst_trajectories(trajectories):
    lm = scripted_lm({CRITIQUE: critique([])})
    GradientOptimizer(lm, minibatch_size=1)(trajectories, PROMPT)
    shown = lm.engine.requests[0].inputs["trajectories"]
    assert trajectories[0].id in shown and trajectories[1].id not in shown


def test_lm_fault_returns_the_original_with_the_error(trajectories):
    def boom(call):
        raise TimeoutError("provider timed out")

    result = GradientOptimizer(scripted_lm(boom))(trajectories, PROMPT)
    assert result.prompt == PROMPT and not result.accepted
    assert result.errors and "timed out" in result.errors[0]


def test_nothing_to_learn_from_makes_no_call():
    lm = scripted_lm({CRITIQUE: critique(["x"])})
    empty = GradientOptimizer(lm)([], PROMPT)
    no_feedback = GradientOptimizer(lm)([convo("hi", "hello")], PROMPT)
    assert empty.prompt == PROMPT and "No trajectories" in empty.rationale
    assert no_feedback.prompt == PROMPT and "feedback" in no_feedback.rationale
    assert lm.engine.requests == []


def test_bad_input_is_a_clear_error(trajectories):
    lm = scripted_lm({})
    with pytest.raises(ValidationError, match="prompt is empty"):
        GradientOptimizer(lm)(trajectories, "   ")
    with pytest.raises(ValidationError, match="list"):
        GradientOptimizer(lm)("not trajectories", PROMPT)
    with pytest.raises(ValidationError, match="min_reflection_steps"):
        GradientOptimizer(lm, min_reflection_steps=3, max_reflection_steps=2)


def test_no_lm_configured_is_a_configuration_error(trajectories):
    import dspy

    with dspy.context(lm=None), pytest.raises(ConfigurationError):
        GradientOptimizer()(trajectories, PROMPT)


def test_async_call(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": "You help {company} customers. Be brief."}})
    result = asyncio.run(GradientOptimizer(lm).acall(trajectories, PROMPT))
    assert result.improved and result.usage.calls == 2


def test_simulated_world_gradient_learns_the_complaints(world):
    from engram.testing._world import SEED_PROMPT

    data = world.simulate(SEED_PROMPT, world.users(6))
    result = GradientOptimizer(world.lm())(data, SEED_PROMPT)
    assert result.improved and result.usage.calls == 2
    assert world.mean_satisfaction(result.prompt.template) > world.mean_satisfaction(SEED_PROMPT) + 0.3


def test_writer_returning_the_same_prompt_is_no_change(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": PROMPT.template}})
    result = GradientOptimizer(lm)(trajectories, PROMPT)
    assert not result.improved and result.candidates == [] and "unchanged" in result.rationale
