"""The simulated world's Python API: users, task model, satisfaction, judge, reflection, writer."""

from __future__ import annotations

import pytest

from engram.prompts import find_variables
from engram.testing._traits import (
    TRAITS,
    activated_traits,
    complained_traits,
    get_trait,
    satisfied_traits,
)
from engram.testing._world import SEED_PROMPT, World


@pytest.fixture
def world() -> World:
    return World(seed=0)


def test_each_instruction_activates_exactly_its_own_trait():
    for trait in TRAITS:
        assert activated_traits(trait.instruction) == (trait.name,)


def test_phrases_are_unambiguous():
    for trait in TRAITS:
        for phrase in trait.complaints:
            assert complained_traits(phrase) == (trait.name,)
        for phrase in trait.praise:
            assert complained_traits(phrase) == ()


def test_negated_instruction_does_not_activate():
    assert activated_traits("Do not apologize.") == ()
    assert activated_traits("Never give a ticket number. Be concise.") == ("concise",)


def test_same_seed_same_world_and_different_seed_differs():
    a, b, c = World(seed=3), World(seed=3), World(seed=4)
    assert a.users(10) == b.users(10)
    assert [u.preferences for u in a.users(10)] != [u.preferences for u in c.users(10)]
    assert a.simulate(SEED_PROMPT, 4, turns=2) == b.simulate(SEED_PROMPT, 4, turns=2)


def test_users_are_prefix_stable_and_cover_every_trait(world):
    assert world.users(12)[:8] == world.users(8)
    covered = {t for u in world.users(len(TRAITS)) for t in u.preferences}
    assert covered == {t.name for t in TRAITS}
    for u in world.users(8):
        assert 2 <= len(u.preferences) <= 4
        assert set(u.facts) == {"name", "city", "plan", "product", "contact_preference"}


def test_user_messages_carry_their_facts(world):
    user = world.users(1)[0]
    topic = world.topic("refund")
    said = " ".join(user.message(topic, turn) for turn in range(3))
    for value in (user.name, user.city, user.plan, user.product, user.contact):
        assert value in said


def test_seed_prompt_meets_no_trait_and_oracle_meets_all(world):
    message = "I was charged twice and want a refund."
    assert satisfied_traits(world.respond(SEED_PROMPT, message)) == ()
    oracle = world.oracle_prompt(SEED_PROMPT)
    assert oracle.startswith(SEED_PROMPT)
    assert satisfied_traits(world.respond(oracle, message)) == tuple(t.name for t in TRAITS)
    assert world.mean_satisfaction(SEED_PROMPT) == 0.0
    assert world.mean_satisfaction(oracle) == 1.0


@pytest.mark.parametrize("trait", [t.name for t in TRAITS])
def test_adding_a_trait_instruction_changes_the_response_and_raises_satisfaction(world, trait):
    user = next(u for u in world.users(8) if trait in u.preferences)
    message = user.message(world.topic("password_reset"))
    before = world.respond(SEED_PROMPT, message)
    after = world.respond(SEED_PROMPT + " " + get_trait(trait).instruction, message)
    assert after != before
    assert get_trait(trait).detect(after) and not get_trait(trait).detect(before)
    assert world.satisfaction(user, after) > world.satisfaction(user, before)


def test_comment_names_exactly_the_unmet_preferences(world):
    user = world.users(8)[3]
    response = world.respond(SEED_PROMPT + " " + get_trait(user.preferences[0]).instruction, "refund please")
    comment = world.comment(user, response)
    assert set(complained_traits(comment)) == set(user.preferences[1:])
    fb = world.feedback(user, response)
    assert fb.score == pytest.approx(1 / len(user.preferences), abs=1e-3)
    assert fb.comment == comment


def test_judge_agrees_with_the_user_it_identifies(world):
    for user in world.users(8):
        for prompt in (SEED_PROMPT, SEED_PROMPT + " Write any instructions as numbered steps.",
                       world.oracle_prompt()):
            response = world.respond(prompt, user.message(world.topic("cancel")))
            transcript = f"user: {user.message(world.topic('cancel'))}\nassistant: {response}"
            identified = world.identify(transcript)
            assert identified == user
            score, critique = world.judge(response, identified)
            assert score == pytest.approx(world.satisfaction(user, response))
            unmet = {t for t in user.preferences if not get_trait(t).detect(response)}
            assert set(complained_traits(critique)) == unmet


def test_judge_without_user_weights_the_population(world):
    assert world.judge(world.respond(SEED_PROMPT, "refund"))[0] == 0.0
    assert world.judge(world.respond(world.oracle_prompt(), "refund"))[0] == 1.0
    weights = world.population_weights()
    steps_only = world.respond("Write any instructions as numbered steps. Be concise.", "refund")
    assert world.judge(steps_only)[0] == pytest.approx(weights["numbered_steps"] + weights["concise"])


def test_reflection_recommends_exactly_uncovered_complaints(world):
    prompt = "You help {company} customers. Be concise."
    evidence = "Way too long. No ticket number. / I wanted numbered steps. Loved the step list."
    assert world.recommend(prompt, evidence) == ["numbered_steps", "ticket"]
    assert world.recommend(world.oracle_prompt(prompt), evidence) == []


def test_writer_appends_instructions_and_keeps_variables(world):
    prompt = "You help {company} customers of {{product}}.\nBe concise."
    improved = world.improve(prompt, "No ticket number. I wanted numbered steps.")
    assert improved.startswith(prompt)
    assert find_variables(improved) == find_variables(prompt)
    assert set(activated_traits(improved)) == {"concise", "numbered_steps", "ticket"}
    assert world.improve(improved, "No ticket number.") == improved


def test_simulate_returns_scored_trajectories(world):
    data = world.simulate(world.oracle_prompt(), world.users(3), turns=2, threads=2, prompt_name="support",
                          prompt_version="2")
    assert len(data) == 6
    assert {t.user for t in data} == {u.id for u in world.users(3)}
    assert all(t.score == 1.0 and t.prompt_version == "2" for t in data)
    assert all(len(t.user_turns) == 2 and t.messages[0].role == "system" for t in data)
    seed_data = world.simulate(SEED_PROMPT, world.users(3))
    assert all(t.score == 0.0 and complained_traits(t.feedback.comment) for t in seed_data)
