"""MemoryManager.compact: merges, contradictions, cap, undo, failures, bad input (offline stand-ins)."""

from __future__ import annotations

import asyncio

import pytest

from engram.errors import EngramError, NotFoundError, ValidationError
from engram.modules import CompactionError, MemoryManager
from engram.testing import scripted_lm
from engram.testing._compaction_world import CompactionWorld, compact_memories, compaction_lm

NS = ("memories", "u1")


def _texts(store, ns=NS):
    return sorted(r.text for r in store.list(ns, limit=10_000))


def _exact_dedup(texts):
    return sorted(set(texts))


def _fed(store, seed, updates=80):
    world = CompactionWorld(seed=seed, updates=updates)
    manager = MemoryManager(store, lm=compaction_lm(seed))
    manager.process(world.dataset(), progress=False)
    return world, manager


@pytest.mark.parametrize("seed", [0, 1])
def test_compaction_keeps_every_fact_and_leaves_no_contradiction(store, seed):
    world, manager = _fed(store, seed)
    before = world.evaluate(_texts(store))
    # the world is a valid test: the pile has contradictions, and exact dedup does not remove them
    assert before["contradictions"] > 0 and before["facts_lost"] == 0
    assert world.evaluate(_exact_dedup(_texts(store)))["contradictions"] > 0
    report = manager.compact(NS, batch_size=20)
    after = world.evaluate(_texts(store))
    assert after["facts_lost"] == 0
    assert after["contradictions"] == 0
    assert report.before == before["memories"] and report.after == after["memories"]
    assert report.after * 3 <= report.before
    assert report.complete and report.lm_calls == len(report.batches) >= 2  # one LM call per batch
    assert report.merged and report.deleted


def test_merged_memory_keeps_the_union_of_provenance_and_undo_restores(store):
    _, manager = _fed(store, 0, updates=40)
    old = {r.id: r for r in store.list(NS, limit=10_000)}
    report = manager.compact(NS)
    target, sources = next(iter(report.merged.items()))
    kept = store.get(NS, target)
    want = {p.trajectory_id for key in [target, *sources] for p in old[key].provenance}
    assert {p.trajectory_id for p in kept.provenance} == want
    assert kept.metadata["stated_at"]
    gone = store.history(NS, sources[0])
    assert gone[-1].deleted and gone[-2].metadata["compacted"] == f"merged into {target}"
    report.undo(store)
    assert _texts(store) == sorted(r.text for r in old.values())


def test_an_lm_error_in_a_batch_keeps_earlier_batches_and_says_which(store):
    _fed(store, 0, updates=40)
    before = _texts(store)
    state = {"applied": False}

    def flaky(call):  # fails on the call after the first batch that changed something
        if state["applied"]:
            raise RuntimeError("provider down")
        answer = compact_memories(call)
        state["applied"] = bool(answer["operations"])
        return answer

    manager = MemoryManager(store, lm=scripted_lm(flaky), retries=0)
    with pytest.raises(CompactionError) as caught:
        manager.compact(NS, batch_size=6)
    report = caught.value.report
    done, failed = report.batches[-2], report.batches[-1]
    assert report.applied_batches == [(done.round, done.index)] and not report.complete
    assert failed.error and "provider down" in failed.error and not failed.applied
    # consistent: exactly the applied batch's changes are in the store, and they can be undone
    changed = set(report.versions)
    assert changed and changed <= set(done.keys)
    assert len(_texts(store)) < len(before)
    report.undo(store)
    assert _texts(store) == before


def test_cap_evicts_the_least_recently_stated_and_undo_brings_them_back(store):
    texts = ["Likes tea.", "Plays chess on Sundays.", "Owns a bicycle.", "Reads science fiction.", "Has two sisters."]
    keys = [store.put(NS, None, {"content": t}, kind="Memory", text=t).id for t in texts]
    manager = MemoryManager(store, lm=compaction_lm(0))
    report = manager.compact(NS, cap=2)
    assert report.evicted == keys[:3]
    assert _texts(store) == sorted(texts[3:])
    assert store.history(NS, keys[0])[-2].metadata["compacted"] == "evicted"
    report.undo(store)
    assert _texts(store) == sorted(texts)


def test_refused_operations_are_reported_and_not_applied(store):
    for t in ["Likes tea.", "Likes tea a lot."]:
        store.put(NS, None, {"content": t}, kind="Memory", text=t)
    answer = {"operations": [{"action": "merge", "ids": [1], "content": "x"},
                             {"action": "delete", "ids": [7]},
                             {"action": "update", "ids": [1, 2], "content": "y"}]}
    report = MemoryManager(store, lm=scripted_lm(answer)).compact(NS)
    assert len(report.refused) == 3 and not report.merged and not report.deleted
    assert _texts(store) == ["Likes tea a lot.", "Likes tea."]


@pytest.mark.parametrize("kwargs, error", [({"cap": 0}, ValidationError), ({"cap": True}, ValidationError),
                                           ({"batch_size": 1}, ValidationError),
                                           ({"max_rounds": 0}, ValidationError)])
def test_bad_arguments_raise_and_write_nothing(store, kwargs, error):
    store.put(NS, "a", {"content": "Likes tea."}, kind="Memory")
    generation = store.generation(NS)
    with pytest.raises(error):
        MemoryManager(store, lm=compaction_lm(0)).compact(NS, **kwargs)
    assert store.generation(NS) == generation


def test_unknown_namespace_and_profile_mode_are_refused(store):
    manager = MemoryManager(store, lm=compaction_lm(0))
    with pytest.raises(NotFoundError, match="holds no memories"):
        manager.compact({"user_id": "nobody"})
    with pytest.raises(EngramError, match="profile"):
        MemoryManager(store, ("profiles", "{user_id}"), profile=True, lm=compaction_lm(0)).compact({"user_id": "u1"})


def test_acompact_matches_compact(store):
    world, manager = _fed(store, 2, updates=40)
    report = asyncio.run(manager.acompact(NS, batch_size=20))
    result = world.evaluate(_texts(store))
    assert result["facts_lost"] == 0 and result["contradictions"] == 0 and report.after < report.before
