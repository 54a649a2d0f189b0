import threading

from engram.optimizers import create_multi_prompt_optimizer
from engram.optimizers._multi_prompt import MultiPromptOptimizer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm
from engram.trajectories import Trajectory

from .conftest import convo

ROUTER = Prompt(name="router", template="Route the {question} to a team.", when_to_update="Wrong team chosen.")
WRITER = Prompt(name="writer", template="Answer the customer.", when_to_update="Tone or length of answers.")
FOLD = "prompt, guidance, trajectories -> updated_prompt"
ATTRIBUTE = "prompts, trajectories -> prompt_names"


def _writer_lm(attributed=("writer",)):
    def answer(call):
        if call.signature_key == ATTRIBUTE:
            return {"prompt_names": list(attributed)}
        return {"updated_prompt": call.inputs["prompt"] + " Be brief."}
    return scripted_lm(answer)


def test_lm_attribution_picks_the_prompt_and_leaves_the_other_alone(trajectories):
    lm = _writer_lm()
    result = MultiPromptOptimizer(lm, kind="prompt_memory")(trajectories, [ROUTER, WRITER])
    assert result.updated == ["writer"] and result.attributed_by == {"writer": "lm"}
    assert result.prompts[0] == ROUTER and result.prompts[1].template == "Answer the customer. Be brief."
    keys = [c.signature_key for c in lm.engine.requests]
    assert keys == [ATTRIBUTE, FOLD] and result.usage.calls == 2
    shown = lm.engine.requests[0].inputs["prompts"]
    assert "when to update: Wrong team chosen." in shown and "### name: writer" in shown
    # consistency: the writer's optimizer saw the router prompt, but the result keeps its own guidance
    assert "router: Route the {question}" in lm.engine.requests[1].inputs["guidance"]
    assert result.prompts[1].update_instructions is None


def test_provenance_needs_no_attribution_call():
    by_router = Trajectory(messages=[{"role": "user", "content": "billing?"},
                                     {"role": "assistant", "content": "-> sales", "name": "router"}],
                           feedback={"score": 0.0, "comment": "wrong team"})
    by_writer = convo("hi", "Hello there, long story...", 0.0, "too long", prompt_name="writer")
    lm = _writer_lm()
    result = MultiPromptOptimizer(lm, kind="prompt_memory")([by_router, by_writer], [ROUTER, WRITER])
    assert result.attributed_by == {"router": "provenance", "writer": "provenance"}
    assert result.attribution == {"router": [by_router.id], "writer": [by_writer.id]}
    assert ATTRIBUTE not in [c.signature_key for c in lm.engine.requests]
    assert set(result.updated) == {"router", "writer"}


def test_prompts_are_optimized_concurrently_and_counted(trajectories):
    seen_threads = set()

    def answer(call):
        if call.signature_key == ATTRIBUTE:
            return {"prompt_names": ["router", "writer"]}
        seen_threads.add(threading.get_ident())
        return {"updated_prompt": call.inputs["prompt"] + "\nBe brief."}

    result = create_multi_prompt_optimizer(scripted_lm(answer, latency=0.05), kind="prompt_memory")(
        trajectories, [ROUTER, WRITER])
    assert len(seen_threads) == 2 and result.usage.calls == 3
    # the same new line in both prompts is kept once (consistency)
    assert result.shared_edits == ["Be brief."]
    assert result.prompts[0].template.endswith("\nBe brief.")
    assert sum(p.template.count("Be brief.") for p in result.prompts) == 1


def test_simulated_world_attribution(world):
    from engram.testing._world import SEED_PROMPT

    tone = Prompt(name="tone", template=SEED_PROMPT, when_to_update="Complaints that answers are not concise.")
    links = Prompt(name="links", template="Add references.", when_to_update="Complaints about a help center link.")
    other = Prompt(name="billing", template="Compute invoices.", when_to_update="Wrong invoice totals.")
    data = world.simulate(SEED_PROMPT, world.users(8))
    result = MultiPromptOptimizer(world.lm(), kind="gradient")(data, [tone, links, other])
    assert "billing" not in result.attribution
    assert set(result.updated) <= {"tone", "links"} and result.updated
    assert result.prompts[2] == other


def test_async_call_and_plain_string_prompts(trajectories):
    import asyncio

    lm = _writer_lm(attributed=("prompt_1",))
    result = asyncio.run(MultiPromptOptimizer(lm, kind="prompt_memory").acall(trajectories, ["Route it.", "Answer."]))
    assert [p.name for p in result.prompts] == ["prompt_0", "prompt_1"]
    assert result.updated == ["prompt_1"] and result.usage.calls == 2


def test_bad_prompt_lists_are_clear_errors(trajectories):
    import pytest

    from engram.errors import ValidationError

    with pytest.raises(ValidationError, match="non-empty list"):
        MultiPromptOptimizer(scripted_lm({}))(trajectories, [])
    with pytest.raises(ValidationError, match="unique"):
        MultiPromptOptimizer(scripted_lm({}))(trajectories, [WRITER, WRITER])
