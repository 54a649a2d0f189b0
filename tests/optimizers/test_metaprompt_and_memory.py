from engram.optimizers._metaprompt import MetapromptOptimizer
from engram.optimizers._prompt_memory import PromptMemoryOptimizer
from engram.testing._scripted import scripted_lm

from .conftest import FOLD, META

SEED = "You are a helpful assistant."


def test_metaprompt_stops_as_soon_as_it_has_a_prompt(trajectories):
    lm = scripted_lm({META: {"reasoning": "Users say replies are too long.", "improved_prompt": SEED + " Be brief."}})
    result = MetapromptOptimizer(lm, max_reflection_steps=5)(trajectories, SEED)
    assert result.usage.calls == 1 and result.prompt.template == SEED + " Be brief."
    assert result.rationale == "Users say replies are too long."


def test_metaprompt_unchanged_prompt_is_not_a_candidate(trajectories):
    lm = scripted_lm({META: {"improved_prompt": SEED}})
    result = MetapromptOptimizer(lm)(trajectories, SEED)
    assert not result.improved and result.candidates == [] and result.usage.calls == 1


def test_prompt_memory_is_one_call(trajectories):
    lm = scripted_lm({FOLD: {"updated_prompt": SEED + " Keep answers short."}})
    result = PromptMemoryOptimizer(lm)(trajectories, SEED)
    assert result.usage.calls == 1 and result.accepted
    assert "too long" in lm.engine.requests[0].inputs["trajectories"]


def test_langmem_style_prompt_dict_and_update_instructions(trajectories):
    lm = scripted_lm({FOLD: {"updated_prompt": SEED + " Keep answers short."}})
    prompt = {"name": "main", "prompt": SEED, "update_instructions": "Only change tone rules.",
              "when_to_update": "Style feedback."}
    result = PromptMemoryOptimizer(lm)(trajectories, prompt)
    assert result.prompt.name == "main" and result.prompt.update_instructions == "Only change tone rules."
    guidance = lm.engine.requests[0].inputs["guidance"]
    assert "Only change tone rules." in guidance and "Style feedback." in guidance


def test_simulated_world_one_round_each(world):
    from engram.testing._world import SEED_PROMPT

    data = world.simulate(SEED_PROMPT, world.users(6))
    for optimizer in (MetapromptOptimizer(world.lm()), PromptMemoryOptimizer(world.lm())):
        result = optimizer(data, SEED_PROMPT)
        assert result.usage.calls == 1
        assert world.mean_satisfaction(result.prompt.template) > world.mean_satisfaction(SEED_PROMPT) + 0.3
