"""The offline LMs through DSPy's real adapters: Predict, ChainOfThought, typed outputs, tokens."""

from __future__ import annotations

from typing import Literal

import dspy
import pytest
from pydantic import BaseModel

import engram
from engram.lm import build_lm, track_usage
from engram.testing._handlers import register_handler, unregister_handler
from engram.testing._scripted import scripted_lm
from engram.testing._world import SEED_PROMPT, World, simulated_lm


class Fact(BaseModel):
    subject: str
    confidence: float


class Extract(dspy.Signature):
    """Extract facts about the user."""

    conversation: str = dspy.InputField()
    facts: list[Fact] = dspy.OutputField()
    kind: Literal["profile", "episode"] = dspy.OutputField()
    ok: bool = dspy.OutputField()


class Judge(dspy.Signature):
    prompt: str = dspy.InputField()
    conversation: str = dspy.InputField()
    score: float = dspy.OutputField()
    critique: str = dspy.OutputField()


class Critique(dspy.Signature):
    prompt: str = dspy.InputField()
    trajectories: str = dspy.InputField()
    failure_modes: list[str] = dspy.OutputField()
    recommendations: list[str] = dspy.OutputField()
    edit_warranted: bool = dspy.OutputField()


class Apply(dspy.Signature):
    prompt: str = dspy.InputField()
    recommendations: str = dspy.InputField()
    improved_prompt: str = dspy.OutputField()


ADAPTERS = [dspy.ChatAdapter(), dspy.JSONAdapter()]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["chat", "json"])
def test_task_model_follows_instructions_in_signature_and_input(adapter):
    lm = simulated_lm(seed=0)
    with dspy.context(lm=lm, adapter=adapter):
        plain = dspy.Predict("message -> response")(message="I forgot my password").response
        steps = dspy.Predict(dspy.Signature("message -> response", "Write any instructions as numbered steps."))(
            message="I forgot my password").response
        via_input = dspy.ChainOfThought("system_prompt, message -> response")(
            system_prompt="Write any instructions as numbered steps.", message="I forgot my password")
    world = World(seed=0)
    assert plain == world.respond("", "I forgot my password")
    assert "1. Open the sign-in page" in steps and "1." not in plain
    assert via_input.response == steps
    assert via_input.reasoning


@pytest.mark.parametrize("adapter", ADAPTERS, ids=["chat", "json"])
def test_unknown_signature_gets_typed_placeholders(adapter):
    with dspy.context(lm=simulated_lm(), adapter=adapter):
        out = dspy.ChainOfThought(Extract)(conversation="user: hi")
    assert out.facts == [] and out.kind == "profile" and out.ok is False


def test_scripted_lm_parses_pydantic_outputs_in_chain_of_thought():
    lm = scripted_lm({"facts": [{"subject": "Maya lives in Oslo", "confidence": 0.9}], "kind": "profile",
                      "ok": True})
    with dspy.context(lm=lm):
        out = dspy.ChainOfThought(Extract)(conversation="user: I'm Maya from Oslo")
    assert out.facts == [Fact(subject="Maya lives in Oslo", confidence=0.9)]
    assert lm.engine.requests[0].output_schemas["facts"]["type"] == "array"


def test_judge_reflection_and_writer_through_dspy():
    world = World(seed=0)
    user = world.users(8)[3]
    message = user.message(world.topic("refund"))
    reply = world.respond(SEED_PROMPT, message)
    convo = f"user: {message}\nassistant: {reply}"
    with dspy.context(lm=simulated_lm(seed=0)):
        judged = dspy.ChainOfThought(Judge)(prompt=SEED_PROMPT, conversation=convo)
        feedback = f"{convo}\nfeedback: {world.comment(user, reply)}"
        critique = dspy.Predict(Critique)(prompt=SEED_PROMPT, trajectories=feedback)
        applied = dspy.Predict(Apply)(prompt=SEED_PROMPT, recommendations="\n".join(critique.recommendations))
    assert judged.score == world.satisfaction(user, reply) == 0.0
    assert critique.edit_warranted is True
    assert len(critique.recommendations) == len(user.preferences)
    new_reply = world.respond(applied.improved_prompt, message)
    assert world.satisfaction(user, new_reply) == 1.0
    with dspy.context(lm=simulated_lm(seed=0)):
        again = dspy.Predict(Critique)(prompt=applied.improved_prompt, trajectories=feedback)
    assert again.recommendations == [] and again.edit_warranted is False


def test_registered_handler_runs_before_builtins():
    register_handler("test-override", lambda call: "response" in call.output_fields and "zebra" in call.text,
                     lambda call, world: {"response": f"handled by test (seed {world.seed})"})
    try:
        with dspy.context(lm=simulated_lm(seed=5)):
            out = dspy.Predict("message -> response")(message="zebra")
    finally:
        unregister_handler("test-override")
    assert out.response == "handled by test (seed 5)"


def test_tokens_are_counted_and_reported_to_usage():
    lm = simulated_lm()
    with track_usage() as usage, dspy.context(lm=lm):
        dspy.Predict("message -> response")(message="refund please")
        dspy.Predict("message -> response")(message="where is my package")
    assert usage.calls == 2
    assert usage.prompt_tokens > 50 and usage.completion_tokens > 50
    assert usage.cost == 0.0
    entry = lm.history[-1]
    assert entry["usage"]["prompt_tokens"] > 0


def test_build_lm_offline_names():
    lm = build_lm("offline/support")
    assert lm.model == "offline/support"
    assert "stand-in" in repr(lm.engine) or "stand-in" in lm.engine.label
    with pytest.raises(engram.ConfigurationError, match="offline/support"):
        build_lm("offline/nope")
