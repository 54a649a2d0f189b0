"""The offline world (a stand-in) exercises profile mode and custom schemas: a profile-mode manager
writes a profile and updates it with a history, and custom kinds are filled from what the user says."""

from __future__ import annotations

import dspy
from pydantic import BaseModel

from engram.modules import UserProfile, create_memory_manager, create_memory_store_manager
from engram.store import MemoryStore
from engram.testing import simulated_lm


class Preference(BaseModel):
    """A preference the user stated."""

    category: str
    preference: str
    context: str | None = None


class Triple(BaseModel):
    subject: str
    predicate: str
    object: str
    context: str | None = None


FIRST = [{"role": "user", "content": "Hi, I'm Maya from Lisbon. I'm on the Pro plan and I use the iOS app."},
         {"role": "assistant", "content": "Welcome, Maya!"}]
SECOND = [{"role": "user", "content": "I moved to Porto. I prefer email if you need to reach me."}]


def test_profile_mode_writes_a_profile_then_updates_it_with_history():
    store = MemoryStore.in_memory()
    config = {"configurable": {"user_id": "maya"}}
    with dspy.context(lm=simulated_lm()):
        manager = create_memory_store_manager(schemas=[UserProfile], default=UserProfile(), enable_inserts=False,
                                              namespace=("profiles", "{user_id}"), store=store)
        assert manager.profile
        manager.invoke({"messages": FIRST}, config=config)
        manager.invoke({"messages": SECOND}, config=config)
    [profile] = store.search(("profiles", "maya"), None)
    assert profile.kind == "UserProfile" and profile.version == 2
    assert UserProfile.model_validate(profile.content) == UserProfile(
        name="Maya", location="Porto", plan="Pro", products=["the iOS app"],
        preferences=["prefers email for contact"])
    history = store.history(("profiles", "maya"), profile.id)
    assert [h.content.get("location") for h in history] == ["Lisbon", "Porto"]
    assert [p.quote for p in profile.provenance][-1] == "I moved to Porto"


def test_nothing_new_writes_nothing():
    store = MemoryStore.in_memory()
    with dspy.context(lm=simulated_lm()):
        manager = create_memory_store_manager(schemas=[UserProfile], default=UserProfile(), store=store)
        manager.invoke({"messages": FIRST}, config={"configurable": {"user_id": "u"}})
        again = manager.update([{"role": "user", "content": "I'm on the Pro plan, as I said."}], {"user_id": "u"})
    assert again.written == [] and again.rejected == []


def test_custom_kinds_are_filled_per_fact_and_updated_in_place():
    with dspy.context(lm=simulated_lm()):
        for schema, field, old, new in [(Preference, "preference", "Lisbon", "Porto"),
                                        (Triple, "object", "Lisbon", "Porto")]:
            manager = create_memory_manager(schemas=[schema])
            first = manager.invoke({"messages": FIRST})
            city = next(m for m in first if getattr(m.content, field) == old)
            assert isinstance(city.content, schema)
            second = dict(manager.invoke({"messages": SECOND, "existing": first}))
            assert getattr(second[city.id], field) == new  # an update of the same memory, not a new one


def test_the_standin_reads_declared_fields_not_engrams_wording():
    """A hand-written signature with the same structure (conversation, memories -> ops) and a kind
    line in its own words gets the kind filled."""
    from engram.testing._protocol import ParsedCall
    from engram.testing._sim_memory import extract

    call = ParsedCall(instructions="Record facts.\nPet {name, species?, home?}", adapter="chat",
                      inputs={"conversation": "user: Hi, I'm Maya from Lisbon.", "memories": "(none)"},
                      input_fields=["conversation", "memories"], output_fields={"ops": "str"})
    ops = extract(call)["ops"]
    assert '"kind": "Pet"' in ops and '"name": "Maya"' in ops and '"home": "Lisbon"' in ops
