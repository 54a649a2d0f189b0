"""Properties of the simulated world over many prompts, users and feedback texts (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engram.prompts import find_variables
from engram.testing._topics import TOPICS
from engram.testing._traits import TRAITS, activated_traits, complained_traits
from engram.testing._world import SEED_PROMPT, World

WORLD = World(seed=0)
trait_sets = st.sets(st.sampled_from([t.name for t in TRAITS]))
names = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)


def _prompt(traits: set[str]) -> str:
    return " ".join([SEED_PROMPT, *(t.instruction for t in TRAITS if t.name in traits)])


@settings(max_examples=60, deadline=None)
@given(traits=trait_sets, user=st.integers(0, 7), topic=st.sampled_from(TOPICS))
def test_satisfaction_is_the_share_of_preferences_the_prompt_asks_for(traits, user, topic):
    person = WORLD.users(8)[user]
    reply = WORLD.respond(_prompt(traits), person.message(topic))
    expected = len(set(person.preferences) & traits) / len(person.preferences)
    assert WORLD.satisfaction(person, reply) == expected
    assert WORLD.judge(reply, person)[0] == expected
    assert set(complained_traits(WORLD.comment(person, reply))) == set(person.preferences) - traits


@settings(max_examples=60, deadline=None)
@given(variables=st.lists(names, min_size=0, max_size=3, unique=True), double=st.booleans(),
       covered=trait_sets, complained=trait_sets)
def test_writer_keeps_variables_and_adds_exactly_the_uncovered_complaints(variables, double, covered,
                                                                          complained):
    slots = " ".join(("{{%s}}" if double else "{%s}") % v for v in variables)
    prompt = _prompt(covered) + (" Context: " + slots if slots else "")
    evidence = " / ".join(t.complaints[-1] for t in TRAITS if t.name in complained)
    improved = WORLD.improve(prompt, evidence)
    assert find_variables(improved) == find_variables(prompt)
    assert improved.startswith(prompt)
    assert set(activated_traits(improved)) == covered | complained
    assert WORLD.recommend(prompt, evidence) == [t.name for t in TRAITS if t.name in complained - covered]
