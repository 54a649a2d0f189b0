"""The offline demo: extract memories from the support dataset into Chroma with the simulated world."""

from __future__ import annotations

from pathlib import Path

import dspy

from engram.modules._manager import MemoryManager
from engram.testing import simulated_lm
from engram.testing._world import World
from engram.trajectories import TrajectoryDataset

DATA = Path(__file__).resolve().parents[2] / "datasets" / "support.jsonl"


def test_support_dataset_yields_the_users_stated_facts(store):
    dataset = TrajectoryDataset.load(DATA)
    truth = {u.id: set(u.fact_sentences) for u in World(seed=0).users()}
    manager = MemoryManager(store, ("memories", "{user_id}"))
    with dspy.context(lm=simulated_lm(seed=0)):
        report = manager.process(dataset, concurrency=2, progress=False)
    assert report.failed == 0 and report.applied == len(dataset)
    users = {t.user for t in dataset}
    found_any = 0
    for user in users:
        texts = [r.text for r in store.list(("memories", user), limit=100)]
        assert len(texts) == len(set(texts)), "no duplicated memories"
        assert set(texts) <= truth[user], f"{user}: only true facts are extracted"
        found_any += len(texts)
        for record in store.list(("memories", user), limit=100):
            assert record.provenance and record.provenance[0].trajectory_id.startswith("t_")
            assert record.provenance[0].quote
    assert found_any >= len(users)  # every user stated something about themselves
    with dspy.context(lm=simulated_lm(seed=0)):
        again = manager.process(dataset, progress=False)
    assert again.skipped == len(dataset)


def test_simulated_world_updates_a_changed_fact(store):
    manager = MemoryManager(store, ("memories", "u1"))
    with dspy.context(lm=simulated_lm(seed=0)):
        manager.update([{"role": "user", "content": "Hi, I'm Maya from Lisbon."}])
        manager.update([{"role": "user", "content": "I just moved to Berlin last week."}])
    texts = sorted(r.text for r in store.list(("memories", "u1")))
    assert texts == ["The user lives in Berlin.", "The user's name is Maya."]
