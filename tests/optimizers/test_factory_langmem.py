"""LangMem's create_prompt_optimizer: custom meta-prompts reach the LM request of the step they
name (or are refused with what to do), and invoke/ainvoke take LangMem's input and return its shape."""

from __future__ import annotations

import asyncio

import pytest

from engram.errors import ConfigurationError, ValidationError
from engram.optimizers import create_multi_prompt_optimizer, create_prompt_optimizer
from engram.testing._scripted import scripted_lm

from .conftest import APPLY, CRITIQUE, FOLD, META, critique

PAIRS = [([{"role": "user", "content": "Reset my password"},
           {"role": "assistant", "content": "Well, there are many ways to think about this... " * 5}],
          {"score": 0, "comment": "too long"}),
         ([{"role": "user", "content": "Cancel my plan"}, {"role": "assistant", "content": "Sure! " * 30}],
          {"user_score": 0.2})]


def _gradient_lm():
    return scripted_lm({CRITIQUE: critique(["Keep replies under three sentences."]),
                        APPLY: {"improved_prompt": "You are a support agent. Keep replies under three sentences."}})


def _instructions_of(lm, key):
    return [r.instructions for r in lm.engine.requests if r.signature_key == key]


def test_gradient_prompt_and_metaprompt_reach_their_steps():
    lm = _gradient_lm()
    optimizer = create_prompt_optimizer(lm, kind="gradient", config={
        "gradient_prompt": "Pay special attention to verbosity complaints in {trajectories}.",
        "metaprompt": "Rewrite {current_prompt} in the second person."})
    optimizer(PAIRS, "You are a support agent.")
    [critique_call] = _instructions_of(lm, CRITIQUE)
    [apply_call] = _instructions_of(lm, APPLY)
    assert "Pay special attention to verbosity complaints in (the `trajectories` input)." in critique_call
    assert "second person" not in critique_call
    assert "Rewrite (the `prompt` input) in the second person." in apply_call
    assert "verbosity" not in apply_call


def test_metaprompt_kind_takes_metaprompt_and_refuses_gradient_prompt():
    lm = scripted_lm({META: {"reasoning": "shorter", "improved_prompt": "You are brief."}})
    optimizer = create_prompt_optimizer(lm, kind="metaprompt", config={"metaprompt": "Prefer bullet points."})
    optimizer(PAIRS, "You are a support agent.")
    assert "Prefer bullet points." in _instructions_of(lm, META)[0]
    with pytest.raises(ConfigurationError, match="kind='gradient'"):
        create_prompt_optimizer(lm, kind="metaprompt", config={"gradient_prompt": "x"})


def test_prompt_memory_refuses_custom_prompts_and_empty_text_is_refused():
    with pytest.raises(ConfigurationError, match="no step to apply to"):
        create_prompt_optimizer(scripted_lm({}), kind="prompt_memory", config={"metaprompt": "x"})
    with pytest.raises(ConfigurationError, match="non-empty text"):
        create_prompt_optimizer(scripted_lm({}), kind="gradient", config={"gradient_prompt": "  "})


def test_the_multi_prompt_optimizer_passes_custom_prompts_to_its_steps():
    lm = _gradient_lm()
    multi = create_multi_prompt_optimizer(lm, kind="gradient", config={"gradient_prompt": "Blame the router."})
    multi(PAIRS, [{"name": "support", "prompt": "You are a support agent."}])
    assert "Blame the router." in _instructions_of(lm, CRITIQUE)[0]


def test_invoke_takes_langmem_input_and_returns_the_prompt_text():
    lm = _gradient_lm()
    optimizer = create_prompt_optimizer(lm, kind="gradient")
    better = optimizer.invoke({"trajectories": PAIRS, "prompt": "You are a support agent."})
    assert better == "You are a support agent. Keep replies under three sentences."
    assert better.result.prompt.template == better and better.result.improved
    # LangMem's older key, and its Prompt dict
    again = asyncio.run(optimizer.ainvoke({"sessions": PAIRS, "prompt": {"name": "support",
                                                                          "prompt": "You are a support agent."}}))
    assert again == better
    with pytest.raises(ValidationError, match="'prompt'"):
        optimizer.invoke({"trajectories": PAIRS})


def test_langmem_user_score_feedback_is_read_and_an_unreadable_one_is_an_error():
    lm = scripted_lm({FOLD: {"updated_prompt": "You are a support agent. Be brief."}})
    optimizer = create_prompt_optimizer(lm, kind="prompt_memory")
    messages = PAIRS[0][0]
    result = optimizer([(messages, {"user_score": 0})], "You are a support agent.")
    assert result.improved and "| score=0\n" in lm.engine.requests[0].inputs["trajectories"]
    with pytest.raises(ValidationError, match="user_score"):
        optimizer([(messages, {"stars": [5]})], "You are a support agent.")
    with pytest.raises(ValidationError, match="outside \\[0, 1\\]"):
        optimizer([(messages, {"rating": 4})], "You are a support agent.")


def test_multi_prompt_invoke_returns_langmem_prompt_dicts():
    lm = _gradient_lm()
    multi = create_multi_prompt_optimizer(lm, kind="gradient")
    prompts = [{"name": "support", "prompt": "You are a support agent.", "when_to_update": "always"}]
    out = multi.invoke({"trajectories": PAIRS, "prompts": prompts})
    assert out == [{"name": "support", "prompt": "You are a support agent. Keep replies under three sentences.",
                    "when_to_update": "always"}]
