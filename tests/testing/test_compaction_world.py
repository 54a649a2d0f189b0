"""The compaction world and its stand-ins: what they see, and that the world's figures can fail."""

from __future__ import annotations

import dspy

from engram.modules._compaction_ops import CompactMemories, MemoryItem
from engram.testing import CompactionWorld, offline_lm
from engram.testing._compaction_world import read_statement


def _items(*rows):
    return [MemoryItem(id=i, text=t, stated_at=f"2026-01-0{i}T00:00:00+00:00") for i, t in enumerate(rows, 1)]


def test_the_compaction_stand_in_answers_through_dspy_on_the_world_and_by_name():
    rows = _items("The user's home city is Lyon.", "Lyon is the user's city of residence.",
                  "User's home city: Oslo", "Likes tea.")
    for lm in (offline_lm("support"), offline_lm("compaction")):
        with dspy.context(lm=lm):
            ops = dspy.Predict(CompactMemories)(memories=rows).operations
        assert [(o.action, o.ids) for o in ops] == [("delete", [1, 2])]  # newest stated value wins


def test_the_stand_in_reads_only_texts_and_times():
    older_first = _items("User's home city: Oslo", "The user's home city is Lyon.")
    with dspy.context(lm=offline_lm("compaction")):
        ops = dspy.Predict(CompactMemories)(memories=older_first).operations
    assert [(o.action, o.ids) for o in ops] == [("delete", [1])]
    assert read_statement("Vegan is the user's eating style.") == ("diet", "vegan")
    assert read_statement("The user asked about the weather.") is None


def test_evaluate_counts_lost_facts_and_contradictions():
    world = CompactionWorld(seed=3, updates=60)
    assert world.evaluate([])["facts_lost"] == world.evaluate([])["facts"] > 0
    contradicting = [f"The user's favourite colour is {c}." for c in ("blue", "green", "red", "yellow", "purple")]
    assert world.evaluate(contradicting)["contradictions"] == 1
    assert len(world.dataset()) == 60 and world.dataset()[0].user == "u1"
