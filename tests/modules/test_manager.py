"""MemoryManager: retrieval, writes with versions and provenance, profile mode, phases, idempotency."""

from __future__ import annotations

import asyncio
import time

import pytest

from engram.errors import NamespaceError
from engram.lm import track_usage
from engram.modules._manager import CONSOLIDATE, MemoryManager
from engram.modules._schemas import UserProfile
from engram.testing._scripted import scripted_lm
from engram.trajectories import Trajectory, TrajectoryDataset
from tests.modules.conftest import ops

NS = ("memories", "u1")
MOVE = [{"role": "user", "content": "I just moved to Lisbon and I am vegetarian."}]


def insert(text, quote="moved to Lisbon"):
    return {"op": "insert", "content": text, "quote": quote}


def test_update_writes_memories_with_provenance_and_skips_a_repeat(store):
    lm = scripted_lm({"ops": ops(insert("Lives in Lisbon"), insert("Vegetarian", "I am vegetarian"))})
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=lm)
    result = manager.update(MOVE, {"user_id": "u1"})
    assert result.namespace == NS and not result.skipped
    texts = sorted(r.text for r in store.list(NS))
    assert texts == ["Lives in Lisbon", "Vegetarian"]
    record = store.search(NS, "vegetarian", limit=1)[0]
    assert record.kind == "Memory"
    assert [(p.trajectory_id, p.quote) for p in record.provenance] == [(result.trajectory_id, "I am vegetarian")]
    with track_usage() as usage:
        again = manager.update(MOVE, {"user_id": "u1"})
    assert again.skipped and usage.calls == 0 and store.count(NS) == 2


def test_missing_namespace_value_is_a_clear_error(store):
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=scripted_lm({"ops": ""}))
    with pytest.raises(NamespaceError, match="user_id"):
        manager.update(MOVE)


def test_update_by_short_id_keeps_history_and_adds_provenance(store):
    old = store.put(NS, "k1", {"content": "Lives in Porto"}, kind="Memory",
                    provenance=[{"trajectory_id": "t_old", "quote": "I live in Porto"}])
    lm = scripted_lm({"ops": ops({"op": "update", "id": 1, "content": "Lives in Lisbon", "quote": "moved to Lisbon"})})
    manager = MemoryManager(store, NS, lm=lm)
    conversation = [{"role": "user", "content": "I just moved to Lisbon from Porto, where I used to live."}]
    result = manager.update(conversation)
    assert lm.engine.requests[0].inputs["memories"] == "1. Lives in Porto"
    current = store.get(NS, "k1")
    assert current.text == "Lives in Lisbon" and current.version == old.version + 1
    assert [p.trajectory_id for p in current.provenance] == ["t_old", result.trajectory_id]
    assert [r.content["content"] for r in store.history(NS, "k1")] == ["Lives in Porto", "Lives in Lisbon"]


def test_delete_all_touches_only_retrieved_memories_of_its_own_namespace(store):
    other = ("memories", "u2")
    for i in range(6):
        store.put(NS, f"mine{i}", {"content": f"Likes topic {i}"}, kind="Memory")
        store.put(other, f"theirs{i}", {"content": f"Likes topic {i}"}, kind="Memory")
    wipe = ops(*({"op": "delete", "id": i, "quote": "delete all memories"} for i in range(1, 40)),
               {"op": "delete", "id": "theirs1", "quote": "delete all memories"})
    lm = scripted_lm([{"ops": wipe}, {"ops": wipe}])
    manager = MemoryManager(store, NS, lm=lm, search_limit=3)
    result = manager.update([{"role": "user", "content": "Please delete all memories about topics I like."}])
    assert len(result.deleted) == 3 and store.count(NS) == 3  # only the 3 shown
    assert store.count(other) == 6
    assert set(result.deleted) <= {f"mine{i}" for i in range(6)}
    assert any("not one of the listed" in r.reason for r in result.rejected)


def test_profile_mode_keeps_one_document_updated_in_place(store):
    lm = scripted_lm([
        {"ops": ops({"op": "insert", "content": {"name": "Ana"}, "quote": "I'm Ana"},
                    {"op": "insert", "content": {"location": "Lisbon"}, "quote": "live in Lisbon"})},
        {"ops": ops({"op": "update", "id": 1, "content": {"plan": "pro"}, "quote": "upgraded to pro"})},
    ])
    manager = MemoryManager(store, ("profiles", "{user_id}"), profile=True, lm=lm)
    manager.update([{"role": "user", "content": "I'm Ana and I live in Lisbon"}], {"user_id": "u1"})
    manager.update([{"role": "user", "content": "I upgraded to pro"}], {"user_id": "u1"})
    [profile] = store.list(("profiles", "u1"))
    assert profile.id == "profile" and profile.kind == "UserProfile" and profile.version == 2
    assert UserProfile.model_validate(profile.content) == UserProfile(name="Ana", location="Lisbon", plan="pro")
    assert "Keep one profile" in lm.engine.requests[0].instructions
    assert "Allowed ops: insert, update." in lm.engine.requests[0].instructions


def test_profile_default_is_shown_and_updated(store):
    lm = scripted_lm({"ops": ops({"op": "update", "id": 1, "content": {"language": "pt"}, "quote": "em português"})})
    manager = MemoryManager(store, NS, profile=True, lm=lm, default_factory=lambda: UserProfile(name="Ana"))
    manager.update([{"role": "user", "content": "Fala comigo em português"}])
    assert '"name": "Ana"' in lm.engine.requests[0].inputs["memories"]
    assert store.get(NS, "profile").content == {"name": "Ana", "language": "pt", "products": [],
                                                "interests": [], "preferences": []}


def test_consolidate_phase_runs_on_the_updated_memories(store):
    store.put(NS, "a", {"content": "Lives in Lisbon"}, kind="Memory")
    lm = scripted_lm([
        {"ops": ops(insert("Lives in Lisbon, Portugal"))},
        {"ops": ops({"op": "delete", "id": 1, "quote": "Lives in Lisbon"})},
    ])
    manager = MemoryManager(store, NS, lm=lm, phases=[CONSOLIDATE])
    with track_usage() as usage:
        result = manager.update(MOVE)
    assert usage.calls == 2
    shown = lm.engine.requests[1].inputs["memories"]
    assert "Lives in Lisbon" in shown and "Lives in Lisbon, Portugal" in shown
    assert lm.engine.requests[1].inputs["conversation"] == "(consolidate pass)"
    assert [r.text for r in store.list(NS)] == ["Lives in Lisbon, Portugal"] and result.deleted == ["a"]


def test_query_model_writes_queries_and_shows_what_they_find(store):
    store.put(NS, "tea", {"content": "Drinks green tea"}, kind="Memory")
    store.put(NS, "car", {"content": "Drives a red car"}, kind="Memory")
    writer = scripted_lm({"queries": "- green tea\n- drinks"})
    lm = scripted_lm({"ops": ""})
    manager = MemoryManager(store, NS, lm=lm, query_model=writer, search_limit=1)
    manager.update([{"role": "user", "content": "What should I order at the cafe?"}])
    assert lm.engine.requests[0].inputs["memories"] == "1. Drinks green tea"


def test_conflicting_write_is_retried_once(store):
    store.put(NS, "k", {"content": "Lives in Porto"}, kind="Memory")

    def answer(call):  # a concurrent writer changes the memory while the LM thinks
        if not getattr(answer, "done", False):
            answer.done = True
            store.put(NS, "k", {"content": "Lives in Porto, Portugal"}, kind="Memory")
        return {"ops": ops({"op": "update", "id": 1, "content": "Lives in Lisbon", "quote": "moved to Lisbon"})}

    result = MemoryManager(store, NS, lm=scripted_lm(answer)).update(MOVE)
    assert result.attempts == 2 and "ConflictError" in result.errors[0]
    record = store.get(NS, "k")
    assert record.text == "Lives in Lisbon" and record.version == 3


def test_async_update(store):
    lm = scripted_lm({"ops": ops(insert("Lives in Lisbon"))})
    manager = MemoryManager(store, NS, lm=lm)
    result = asyncio.run(manager.aupdate(MOVE))
    assert [r.text for r in result.written] == ["Lives in Lisbon"]
    assert asyncio.run(manager.aupdate(MOVE)).skipped


def _dataset():
    trajectories = []
    for user in ("u1", "u2", "u3"):
        for i in range(3):
            trajectories.append(Trajectory(messages=[{"role": "user", "content": f"fact {i} about {user}"}],
                                           user=user))
    return TrajectoryDataset(trajectories)


def _fact_lm(latency: float = 0.0):
    def answer(call):
        line = call.inputs["conversation"].removeprefix("user: ")
        return {"ops": ops(insert(line.capitalize(), line))}

    return scripted_lm(answer, latency=latency)


def test_process_dataset_is_concurrent_per_namespace_and_safe_to_rerun(store):
    lm = _fact_lm()
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=lm)
    report = manager.process(_dataset(), concurrency=2, progress=False)
    assert (report.total, report.applied, report.skipped, report.failed) == (9, 9, 0, 0)
    for user in ("u1", "u2", "u3"):
        assert sorted(r.text for r in store.list(("memories", user))) == [f"Fact {i} about {user}" for i in range(3)]
    calls = len(lm.engine.requests)
    again = manager.process(_dataset(), progress=False)
    assert (again.applied, again.skipped) == (0, 9) and len(lm.engine.requests) == calls
    assert store.count(("memories", "u1")) == 3


def test_aprocess_and_unfillable_namespaces_are_reported(store):
    data = TrajectoryDataset([*_dataset(), Trajectory(messages=[{"role": "user", "content": "no user"}])])
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=_fact_lm())
    report = asyncio.run(manager.aprocess(data, concurrency=2, progress=False))
    assert (report.applied, report.failed) == (9, 1)
    assert "user_id" in report.failures[0][1]


def test_a_cancelled_aprocess_finishes_the_updates_in_flight_and_starts_no_other(store):
    lm = _fact_lm(latency=0.3)
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=lm)

    async def main():
        task = asyncio.create_task(manager.aprocess(_dataset(), concurrency=3, progress=False))
        await asyncio.sleep(0.1)  # every namespace is inside its first LM call
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.8)  # long enough for a second update of each namespace, had one started
    assert len(lm.engine.requests) == 3
    for user in ("u1", "u2", "u3"):  # the update in flight was finished whole, memory and all
        assert [r.text for r in store.list(("memories", user))] == [f"Fact 0 about {user}"]


def test_profile_insert_when_a_profile_exists_merges_instead_of_replacing(store):
    store.put(NS, "profile", {"name": "Ana", "location": "Porto"}, kind="UserProfile")
    lm = scripted_lm({"ops": ops({"op": "insert", "content": {"location": "Lisbon"}, "quote": "moved to Lisbon"})})
    MemoryManager(store, NS, profile=True, lm=lm).update(MOVE)
    record = store.get(NS, "profile")
    assert record.content["name"] == "Ana" and record.content["location"] == "Lisbon" and record.version == 2


def test_a_stored_record_that_does_not_fit_its_schema_is_not_shown_or_touched(store):
    store.put(NS, "bad", {"unexpected": "shape"}, kind="Memory")
    store.put(NS, "good", {"content": "Lives in Porto"}, kind="Memory")
    lm = scripted_lm({"ops": ops({"op": "delete", "id": 2, "quote": "x"})})
    result = MemoryManager(store, NS, lm=lm).update(MOVE)
    assert lm.engine.requests[0].inputs["memories"] == "1. Lives in Porto"
    assert store.get(NS, "bad") is not None and result.deleted == []


def test_a_delete_records_its_provenance_in_the_history(store):
    store.put(NS, "k", {"content": "Lives in Porto"}, kind="Memory")
    lm = scripted_lm({"ops": ops({"op": "delete", "id": 1, "quote": "forget where I live"})})
    result = MemoryManager(store, NS, lm=lm).update({"messages": [{"role": "user", "content": "forget where I live"}]})
    assert result.deleted == ["k"] and result.written == [] and store.get(NS, "k") is None
    versions = store.history(NS, "k")
    assert versions[-1].deleted
    assert (versions[-1].provenance[-1].trajectory_id, versions[-1].provenance[-1].quote) == (
        result.trajectory_id, "forget where I live")


def test_aprocess_leaves_the_event_loop_free_and_counts_every_lm_call(store):
    # aprocess runs each update (LM call included) in its pool; the loop only waits for them
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=_fact_lm(latency=0.05))

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        beat = asyncio.create_task(ticker())
        start = time.perf_counter()
        report = await manager.aprocess(_dataset(), concurrency=3, progress=False)
        elapsed = time.perf_counter() - start
        beat.cancel()
        return report, ticks, elapsed

    report, ticks, elapsed = asyncio.run(main())
    assert report.applied == 9 and report.usage.calls == 9   # one extraction call per update, all tracked
    assert ticks >= 0.3 * elapsed / 0.005                       # the loop kept ticking while updates ran
