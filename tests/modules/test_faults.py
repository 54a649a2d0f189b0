"""200 updates through an LM with a 30% fault rate: the store stays consistent, every failure is
reported, retries are bounded, and a later run completes the work without duplicates."""

from __future__ import annotations

import hashlib
import json

import dspy

from engram.modules._manager import MemoryManager
from engram.modules._schemas import Memory
from engram.testing._faults import faulty_lm
from engram.testing._scripted import scripted_lm
from engram.trajectories import Trajectory, TrajectoryDataset

USERS = [f"u{i:02d}" for i in range(20)]
PER_USER = 10
MAX_CALLS_PER_UPDATE = 2 * 2 * 2  # (1 + 1 retry) x (call + corrective call) x (chat + JSON fallback)


def dataset() -> TrajectoryDataset:
    return TrajectoryDataset([
        Trajectory(messages=[{"role": "user", "content": f"fact {i} about {user}"},
                             {"role": "assistant", "content": "noted"}], user=user)
        for user in USERS for i in range(PER_USER)])


def fact(conversation: str) -> str:
    return conversation.splitlines()[0].removeprefix("user: ").capitalize()


def base_answer(call):
    """A correct extractor that also invents ids now and then (refused, then dropped)."""
    if "refused" in call.inputs:
        return {"ops": ""}
    conversation = call.inputs["conversation"]
    ops = [{"op": "insert", "content": fact(conversation), "quote": conversation.splitlines()[0][6:]}]
    if int(hashlib.sha256(conversation.encode()).hexdigest(), 16) % 4 == 0:
        ops += [{"op": "delete", "id": 99, "quote": "delete it"},
                {"op": "update", "id": "3f2a9c1e-0000-4000-8000-000000000000", "content": "x", "quote": "x"}]
    return {"ops": "\n".join(json.dumps(op) for op in ops)}


def check_store(store, applied_ids: set[str], data: TrajectoryDataset) -> None:
    expected: dict[str, set[str]] = {user: set() for user in USERS}
    for trajectory in data:
        if trajectory.id in applied_ids:
            expected[trajectory.user].add(fact("user: " + trajectory.messages[0].content))
    for user in USERS:
        records = store.list(("memories", user), limit=100)
        texts = [r.text for r in records]
        assert len(texts) == len(set(texts)), f"{user}: a memory was duplicated"
        assert set(texts) == expected[user], f"{user}: memories lost or written by a failed update"
        for record in records:
            Memory.model_validate(record.content)  # never a half-written or corrupt record
            assert record.version == 1 and len(store.history(("memories", user), record.id)) == 1
            assert record.provenance[0].quote


def test_thirty_percent_faults_over_two_hundred_updates(store):
    data = dataset()
    lm = faulty_lm(scripted_lm(base_answer), rate=0.3, kinds=("exception", "timeout", "malformed", "missing_field"),
                   seed=0)
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=lm)
    report = manager.process(data, concurrency=4, progress=False)

    assert report.total == 200 and report.applied + report.failed + report.blocked == 200
    assert set(report.blocked_by.values()) <= set(report.failed_ids)  # a failure blocks the rest of its log
    assert report.failed > 0 and report.applied > 100  # faults happened, most updates still landed
    assert len(report.failures) == report.failed and all(error for _, error in report.failures)
    assert lm.engine.calls <= 200 * MAX_CALLS_PER_UPDATE  # retries are bounded
    refused = [r for result in report.results for r in result.rejected]
    assert refused and all(r.retried for r in refused)  # invented ids: refused, retried once, reported
    applied = {r.trajectory_id for r in report.results}
    failed = {tid for tid, _ in report.failures}
    assert not applied & failed and applied == set(report.applied_ids)
    check_store(store, applied, data)

    # A later run (no faults) applies exactly the failed and blocked ones; nothing is written twice.
    clean = MemoryManager(store, ("memories", "{user_id}"), lm=scripted_lm(base_answer))
    second = clean.process(data, concurrency=4, progress=False)
    assert (second.applied, second.skipped, second.failed) == (report.failed + report.blocked, report.applied, 0)
    assert set(second.applied_ids) == set(report.failed_ids) | set(report.blocked_ids)
    check_store(store, {t.id for t in data}, data)


def test_failures_are_raised_from_update_after_bounded_retries(store):
    lm = faulty_lm(scripted_lm(base_answer), rate=1.0, kinds=("exception",), seed=0)
    manager = MemoryManager(store, ("memories", "u1"), lm=lm, retries=2)
    import pytest

    from engram.errors import LMError

    with pytest.raises(LMError):
        manager.update([{"role": "user", "content": "fact 1 about u1"}])
    assert lm.engine.calls == 3  # 1 + 2 retries; provider errors get no adapter fallback
    assert store.count(("memories", "u1")) == 0
    with dspy.context(lm=scripted_lm(base_answer)):
        assert not MemoryManager(store, ("memories", "u1")).update(
            [{"role": "user", "content": "fact 1 about u1"}]).skipped  # a failure is not recorded as done


def _benchmark():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "faults.py"
    spec = importlib.util.spec_from_file_location("bench_faults", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_benchmark_checks_at_small_counts_nothing_lost_stale_duplicated_or_corrupted():
    """benchmarks/faults.py at 120 updates: a faulty run plus a clean re-run equals a fault-free run,
    and 8 threads on one namespace equal a serial run."""
    bench = _benchmark()
    damage, counts = bench.run_faults(120, 12, 0.3, seed=3, concurrency=4, echo=lambda *_: None)
    assert counts["failed"] > 0 and counts["blocked"] > 0  # faults did hit, and blocked later updates
    assert counts["re-run applied"] == counts["failed"] + counts["blocked"] and counts["re-run failed"] == 0
    assert (damage.lost, damage.stale, damage.duplicated, damage.corrupted, damage.spurious) == (0, 0, 0, 0, 0)
    threads = bench.run_threads(per_thread=2, echo=lambda *_: None)
    assert threads["same"] and threads["serial"] and threads["applied_once"] == 1
