"""Issue 11 (items 2, 3, 6) and issue 12 (item 1) for MemoryManager: a namespace is an ordered
log, a failed corrective call fails its trajectory, one namespace is changed by one update at a
time from every entry point, and the ledger is never embedded."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from engram.errors import LMError, ValidationError
from engram.modules._manager import MemoryManager
from engram.modules._settings import ExtractionSettings, RetrievalSettings
from engram.testing._scripted import scripted_lm
from engram.testing._sim_memory import extract
from engram.trajectories import Trajectory, TrajectoryDataset
from tests.modules.conftest import WordHashEmbedder, ops

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def said(user: str, text: str, minute: int) -> Trajectory:
    return Trajectory(messages=[{"role": "user", "content": text}], user=user, time=T0 + timedelta(minutes=minute))


def world_lm(fail_when=lambda call: False, **kwargs):
    """The simulated world's extractor (a stand-in), failing the calls ``fail_when`` picks."""
    def answer(call):
        if fail_when(call):
            raise RuntimeError("simulated provider outage")
        if "refused" in call.inputs:
            return {"ops": ""}
        return extract(call)

    return scripted_lm(answer, **kwargs)


def cities(store, user):
    return sorted(r.text for r in store.list(("memories", user)) if "lives in" in r.text)


# -- item 2: a namespace is an ordered log ---------------------------------------------------------
def test_a_failed_trajectory_blocks_the_later_ones_of_its_namespace_until_it_is_applied(store):
    lyon, porto = said("ana", "I live in Lyon.", 1), said("ana", "I moved to Porto.", 2)
    other = said("bob", "I live in Oslo.", 1)
    data = TrajectoryDataset([porto, other, lyon])
    manager = MemoryManager(store, ("memories", "{user_id}"), retries=0,
                            lm=world_lm(lambda call: "Lyon" in call.inputs["conversation"]))
    first = manager.process(data, concurrency=2, progress=False)
    assert first.failed_ids == [lyon.id] and first.blocked_ids == [porto.id]
    assert first.blocked_by == {porto.id: lyon.id} and first.applied_ids == [other.id]
    assert first.done_ids == [other.id]
    assert first.usage.calls == 1 and first.usage.prompt_tokens > 0  # bob; a raised call has no response
    assert cities(store, "ana") == [] and cities(store, "bob") == ["The user lives in Oslo."]

    lm = world_lm()
    second = MemoryManager(store, ("memories", "{user_id}"), lm=lm).process(data, progress=False)
    assert second.applied_ids == [lyon.id, porto.id] and second.skipped_ids == [other.id]
    assert cities(store, "ana") == ["The user lives in Porto."]  # the newer fact wins, not the retried one


def test_skip_leaves_a_trajectory_out_on_purpose_and_blocks_nothing(store):
    lyon, porto = said("ana", "I live in Lyon.", 1), said("ana", "I moved to Porto.", 2)
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=world_lm())
    report = manager.process([lyon, porto], skip=[lyon.id], progress=False)
    assert report.ids("excluded") == [lyon.id] and report.applied_ids == [porto.id] and report.excluded == 1
    assert not manager.is_processed(("memories", "ana"), lyon.id)  # skipped, not recorded as applied
    with pytest.raises(ValidationError, match="not in the dataset"):
        manager.process([lyon], skip=["t_typo"], progress=False)
    with pytest.raises(ValidationError, match="list of trajectory ids"):
        manager.process([lyon], skip=lyon.id, progress=False)


# -- item 3: a failed corrective call fails the trajectory -------------------------------------------
def _refused_then_outage():
    def answer(call):
        if "refused" in call.inputs:
            raise RuntimeError("simulated outage during the corrective call")
        return {"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "I live in Lisbon"},
                           {"op": "insert", "content": "Vegetarian"})}  # no quote: refused
    return scripted_lm(answer)


def test_a_failed_corrective_call_records_nothing_and_a_rerun_applies_it_fully(store):
    talk = said("ana", "I live in Lisbon and I am vegetarian.", 1)
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=_refused_then_outage(), retries=0)
    report = manager.process([talk], progress=False)
    assert report.failed_ids == [talk.id] and "corrective" in report.failures[0][1]
    assert store.count(("memories", "ana")) == 0  # the valid half was not kept either
    assert not manager.is_processed(("memories", "ana"), talk.id)
    with pytest.raises(LMError):
        manager.update(talk)

    fixed = scripted_lm([{"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "I live in Lisbon"},
                                     {"op": "insert", "content": "Vegetarian"})},
                         {"ops": ops({"op": "insert", "content": "Vegetarian", "quote": "I am vegetarian"})}])
    rerun = MemoryManager(store, ("memories", "{user_id}"), lm=fixed).process([talk], progress=False)
    assert rerun.applied_ids == [talk.id]
    assert sorted(r.text for r in store.list(("memories", "ana"))) == ["Lives in Lisbon", "Vegetarian"]


def test_update_reports_the_failed_attempt_it_recovered_from(store):
    calls = []

    def answer(call):
        calls.append(call)
        if "refused" in call.inputs and len(calls) == 2:
            raise RuntimeError("simulated outage during the corrective call")
        if "refused" in call.inputs:
            return {"ops": ""}
        return {"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "I live in Lisbon"},
                           {"op": "insert", "content": "x"})}

    result = MemoryManager(store, ("memories", "u1"), lm=scripted_lm(answer)).update("I live in Lisbon")
    assert result.attempts == 2 and "outage" in result.errors[0]
    assert [r.text for r in result.written] == ["Lives in Lisbon"]


# -- item 6: one namespace, one update at a time, from every entry point -----------------------------
SAME_FACT = [f"Hi again ({i}). I'm on the Pro plan and I live in Lyon." for i in range(8)]


def _memories(store, ns=("memories", "ana")):
    return sorted(r.text for r in store.list(ns, limit=100))


def test_eight_threads_updating_one_namespace_end_like_a_serial_run():
    from engram.store import MemoryStore

    serial_store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    serial = MemoryManager(serial_store, ("memories", "ana"), lm=world_lm())
    for text in SAME_FACT:
        serial.update(text)

    store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    manager = MemoryManager(store, ("memories", "ana"), lm=world_lm(latency=0.02))
    start = threading.Barrier(8)

    def one(text):
        start.wait()
        return manager.update(text)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, SAME_FACT))
    assert _memories(store) == _memories(serial_store) == ["The user is on the Pro plan.", "The user lives in Lyon."]
    assert sum(bool(r.written) for r in results) == 1


def test_the_same_trajectory_from_eight_threads_and_tasks_is_applied_once(store):
    lm = world_lm(latency=0.02)
    manager = MemoryManager(store, ("memories", "ana"), lm=lm)
    talk = said("ana", "I'm on the Pro plan.", 1)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: manager.update(talk), range(8)))
    assert sum(not r.skipped for r in results) == 1 and len(lm.engine.requests) == 1

    other = said("ana", "I live in Lyon.", 2)

    async def many():
        return await asyncio.gather(*(manager.aupdate(other) for _ in range(8)),
                                    asyncio.to_thread(manager.update, other))

    results = asyncio.run(many())
    assert sum(not r.skipped for r in results) == 1 and len(lm.engine.requests) == 2
    assert _memories(store) == ["The user is on the Pro plan.", "The user lives in Lyon."]


# -- issue 12 item 1 and issue 16: the ledger is not embedded; usage; settings ------------------------
class CountingEmbedder(WordHashEmbedder):
    def __init__(self):
        super().__init__()
        self.texts: list[list[str]] = []

    def _embed(self, texts):
        self.texts.append(list(texts))
        return super()._embed(texts)


def test_an_update_embeds_its_query_and_its_memories_only_and_reports_usage():
    from engram.store import MemoryStore

    embedder = CountingEmbedder()
    store = MemoryStore.in_memory(embedder=embedder)
    manager = MemoryManager(store, ("memories", "ana"), lm=world_lm())
    result = manager.update("I'm on the Pro plan and I live in Lyon.")
    # an empty namespace needs no query; both memories are embedded in one call, nothing else is
    assert [sorted(call) for call in embedder.texts] == [["The user is on the Pro plan.", "The user lives in Lyon."]]
    embedder.texts.clear()
    manager.update("I moved to Porto.")  # 2 memories fit in the listing: shown whole, no query embedded
    assert embedder.texts == [["The user lives in Porto."]]
    small = MemoryManager(store, ("memories", "ana"), lm=world_lm(), search_limit=1)
    embedder.texts.clear()
    small.update("I'm vegan.")  # more than fit: the recent window is embedded to rank them
    assert embedder.texts == [["user: I'm vegan."], ["The user is vegan."]]
    assert store.list_namespaces() == [("memories", "ana")]  # no bookkeeping namespace
    assert manager.update("I'm on the Pro plan and I live in Lyon.").skipped
    assert result.usage.calls == 1 and result.usage.prompt_tokens > 0


def test_grouped_settings_equal_flat_keywords_and_unknown_keywords_are_named(store):
    flat = MemoryManager(store, instructions="Only food.", search_limit=3, max_steps=2)
    grouped = MemoryManager(store, extraction=ExtractionSettings(instructions="Only food.", max_steps=2),
                            retrieval=RetrievalSettings(search_limit=3))
    assert flat.extraction == grouped.extraction and flat.retrieval == grouped.retrieval
    with pytest.raises(ValidationError, match="did you mean 'search_limit'"):
        MemoryManager(store, serch_limit=3)
    with pytest.raises(ValidationError, match="default or default_factory"):
        MemoryManager(store, profile=True, default={}, default_factory=dict)


def test_the_query_writer_searcher_is_not_rewired_to_the_store(store):
    store.put(("memories", "u1"), "tea", {"content": "Drinks green tea"}, kind="Memory")
    manager = MemoryManager(store, ("memories", "u1"), lm=scripted_lm({"ops": ""}),
                            query_model=scripted_lm({"queries": "green tea"}))
    manager.update("What should I order?")
    assert manager.searcher.store is None  # the manager passes its store per call


def test_the_reflection_executor_path_is_covered_by_the_namespace_lock(store):
    """Issue 11 item 6: two threads of one user through the executor wrote the plan twice."""
    from engram.modules import ReflectionExecutor

    manager = MemoryManager(store, ("memories", "{user_id}"), lm=world_lm(latency=0.05))
    executor = ReflectionExecutor(manager, max_workers=4)
    try:
        futures = [executor.submit([{"role": "user", "content": f"Thread {k}: I'm on the Pro plan."}],
                                   thread_id=f"th{k}", values={"user_id": "ana"}) for k in range(4)]
        executor.flush()
        assert all(f.exception() is None for f in futures)
    finally:
        executor.shutdown()
    assert _memories(store) == ["The user is on the Pro plan."]


def test_a_trajectory_recorded_by_an_earlier_release_is_not_applied_again(tmp_path):
    from engram.store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "chroma", embedder=WordHashEmbedder())
    talk = said("ana", "I'm on the Pro plan.", 1)
    store.put(("memories", "ana", "engram.processed"), talk.id, {"written": 1}, kind="engram.processed",
              text=f"processed {talk.id}")  # the ledger row format of earlier releases
    lm = world_lm()
    result = MemoryManager(store, ("memories", "{user_id}"), lm=lm).update(talk)
    assert result.skipped and not lm.engine.requests
    fresh = said("ana", "I live in Lyon.", 2)
    assert not MemoryManager(store, ("memories", "{user_id}"), lm=lm).update(fresh).skipped
    assert MemoryManager(store, ("memories", "{user_id}"), lm=lm).is_processed(("memories", "ana"), fresh.id)


def test_a_legacy_ledger_seen_absent_is_not_looked_up_again_but_one_present_is_read(tmp_path):
    from engram.store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "chroma", embedder=WordHashEmbedder())
    lm = world_lm()
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=lm)
    lookups = []
    real_count = store.count
    store.count = lambda ns, **k: lookups.append(tuple(ns)) or real_count(ns, **k)
    for day in (1, 2, 3):
        assert not manager.update(said("bo", f"I moved to city {day}.", day)).skipped
    assert lookups.count(("memories", "bo", "engram.processed")) == 1
    talk = said("cy", "I'm on the Pro plan.", 1)  # cy's legacy ledger exists: it is read every time
    store.put(("memories", "cy", "engram.processed"), talk.id, {"written": 1}, kind="engram.processed",
              text=f"processed {talk.id}")
    assert manager.update(talk).skipped
    assert manager.update(said("cy", "I live in Lyon.", 2)).skipped is False
