"""process(shard=(i, n), shard_by=...): n processes split a dataset by namespace, with no overlap, on one store."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engram.errors import ValidationError
from engram.modules import MemoryManager, ShardPlan, namespace_shard, shard_plan
from engram.store import MemoryStore
from engram.testing import simulated_lm
from engram.trajectories import TrajectoryDataset
from tests.modules.conftest import WordHashEmbedder

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = ("memories", "{user_id}")


def _data(users: int = 4, per_user: int = 3) -> TrajectoryDataset:
    """The first ``per_user`` support conversations of ``users`` customers (a few namespaces)."""
    every = TrajectoryDataset.load(REPO / "datasets" / "support.jsonl")
    wanted = sorted({t.user for t in every})[:users]
    picked = [t for u in wanted for t in [t for t in every if t.user == u][:per_user]]
    return TrajectoryDataset(picked)


def _manager(store: MemoryStore) -> MemoryManager:
    return MemoryManager(store, NAMESPACE, lm=simulated_lm(seed=0))


def _memories(store: MemoryStore) -> dict[tuple[str, ...], list[tuple[str, str]]]:
    return {ns: sorted((r.id, r.text) for r in store.list(ns, limit=1000))
            for ns in store.list_namespaces(("memories",))}


def test_the_shard_of_a_namespace_and_the_load_plan_are_stable_across_processes_and_in_range():
    names = [("memories", f"user-{i:02d}") for i in range(40)]
    weights = {ns: 1 + i % 7 for i, ns in enumerate(names)}
    here = [namespace_shard(ns, 3) for ns in names]
    plan = ShardPlan.from_weights(weights, 3, by="load")
    assert set(here) == {0, 1, 2}  # 40 namespaces use every shard
    code = ("import json, sys; from engram.modules import ShardPlan, namespace_shard; "
            f"names = {names!r}; weights = {{ns: 1 + i % 7 for i, ns in enumerate(names)}}; "
            "plan = ShardPlan.from_weights(weights, 3, by='load'); "
            "print(json.dumps([[namespace_shard(ns, 3) for ns in names], "
            "[plan.shard_of(ns) for ns in names], plan.fingerprint]))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"}  # another str hash salt
    out = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [here, [plan.shard_of(ns) for ns in names], plan.fingerprint]


def _skewed(seed: int, count: int = 30) -> dict[tuple[str, ...], int]:
    rng = random.Random(seed)
    return {("memories", f"user-{seed}-{i}"): rng.choice([1, 1, 2, 3, 5, 8, 13, 40]) for i in range(count)}


@pytest.mark.parametrize("by", ["load", "hash"])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_the_n_shards_of_a_plan_partition_the_namespaces_exactly_once(by, count):
    for seed in range(5):
        weights = _skewed(seed)
        plan = ShardPlan.from_weights(weights, count, by=by)
        assert set(plan.shards) == set(weights)  # every namespace in exactly one shard (a dict: one each)
        assert all(0 <= plan.shard_of(ns) < count for ns in weights)
        assert len(plan.loads) == count and sum(plan.loads) == sum(weights.values())
        for index in range(count):
            assert plan.loads[index] == sum(w for ns, w in weights.items() if plan.shard_of(ns) == index)
        if by == "hash":
            assert all(plan.shard_of(ns) == namespace_shard(ns, count) for ns in weights)


@pytest.mark.parametrize("count", [2, 3, 4])
def test_load_splits_equal_namespaces_evenly_where_the_hash_does_not(count):
    weights = {("bench", f"user-{u:02d}"): 8 for u in range(1, 33)}  # the benchmark's 32 users x 8
    load = ShardPlan.from_weights(weights, count, by="load")
    hashed = ShardPlan.from_weights(weights, count, by="hash")
    assert max(load.loads) - min(load.loads) <= 8  # at most one namespace apart
    assert max(load.loads) <= max(hashed.loads)
    if count == 2:
        assert load.loads == (128, 128) and load.speedup_cap == 2.0
        assert hashed.loads != (128, 128) and hashed.speedup_cap < 2.0  # why shard_by="load" exists


@pytest.mark.parametrize("count", [2, 3, 4])
def test_load_balances_skewed_namespaces_as_far_as_the_longest_allows(count):
    for seed in range(20):
        weights = _skewed(seed)
        plan = ShardPlan.from_weights(weights, count, by="load")
        best_possible = max(max(weights.values()), sum(weights.values()) / count)
        assert max(plan.loads) <= 4 / 3 * best_possible  # the greedy longest-first bound
        assert max(plan.loads) <= max(ShardPlan.from_weights(weights, count, by="hash").loads)
    # one namespace longer than all the others together: alone in its shard, the rest in the other
    dominant = {("m", "big"): 40, **{("m", f"small-{i}"): 3 for i in range(10)}}
    plan = ShardPlan.from_weights(dominant, 2, by="load")
    assert plan.loads in ((40, 30), (30, 40))
    assert all(plan.shard_of(ns) != plan.shard_of(("m", "big")) for ns in dominant if ns != ("m", "big"))


def test_the_plan_depends_on_the_dataset_not_its_order_and_names_a_different_one():
    store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    manager = _manager(store)
    data = list(_data(users=6, per_user=3))
    shuffled = data[:]
    random.Random(7).shuffle(shuffled)
    plans = [shard_plan(manager, TrajectoryDataset(d), 2, shard_by="load") for d in (data, shuffled, data[::-1])]
    assert len({p.fingerprint for p in plans}) == 1
    assert all(dict(p.shards) == dict(plans[0].shards) for p in plans)
    assert plans[0].loads == (9, 9)  # 6 users x 3: three users each
    assert Counter(plans[0].trajectory_shards.values()) == Counter({0: 9, 1: 9})
    # the weights alone, in any order, give the same plan too
    weights = Counter(t.user for t in data)
    forward = ShardPlan.from_weights({("memories", u): w for u, w in weights.items()}, 2, by="load")
    backward = ShardPlan.from_weights({("memories", u): w for u, w in reversed(weights.items())}, 2, by="load")
    assert forward.fingerprint == backward.fingerprint == plans[0].fingerprint
    # a process given other data computes another plan, and its fingerprint says so
    fewer = shard_plan(manager, TrajectoryDataset(data[1:]), 2, shard_by="load")
    assert fewer.fingerprint != plans[0].fingerprint
    assert shard_plan(manager, TrajectoryDataset(data), 2, shard_by="hash").fingerprint != plans[0].fingerprint


@pytest.mark.parametrize("by", ["hash", "load"])
def test_two_shards_cover_every_namespace_exactly_once(by):
    import engram.events as events

    data = _data(users=6, per_user=2)
    reports, seen, spans = [], [], []
    events.add_listener(spans.append)  # what engram.autolog() turns into an MLflow run's params
    try:
        for index in range(2):
            store = MemoryStore.in_memory(embedder=WordHashEmbedder())
            reports.append(_manager(store).process(data, shard=(index, 2), shard_by=by, progress=False))
    finally:
        events.remove_listener(spans.append)
    for index, report in enumerate(reports):
        params = next(s.params for s in spans if s.result is report)
        assert params["shard"] == f"{index}/2" and params["shard_by"] == by
        assert params["shard_plan"] == report.plan.fingerprint
        seen.append({r.namespace for r in report.results})
        assert report.failed == 0 and report.shard == (index, 2) and report.plan.by == by
        assert all(report.plan.shard_of(ns) == index for ns in seen[-1])
        assert report.total == report.plan.loads[index]
        assert f"shard {index}/2" in str(report) and report.plan.fingerprint in str(report)
    first, second = (set(r.applied_ids) for r in reports)
    assert first.isdisjoint(second) and first | second == {t.id for t in data}
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 6
    assert reports[0].plan.fingerprint == reports[1].plan.fingerprint  # one dataset, one plan
    if by == "load":
        assert reports[0].total == reports[1].total == 6  # 6 users x 2: three users each
    for report in reports:  # each report counts its own and names how many went elsewhere
        assert report.total + report.other_shards == len(data)
        assert report.total == len(report.outcomes)


def test_aprocess_follows_the_same_load_plan_as_process():
    data = _data(users=5, per_user=2)
    for index in range(2):
        sync = _manager(MemoryStore.in_memory(embedder=WordHashEmbedder())).process(
            data, shard=(index, 2), shard_by="load", progress=False)
        other = _manager(MemoryStore.in_memory(embedder=WordHashEmbedder()))
        done = asyncio.run(other.aprocess(data, shard=(index, 2), shard_by="load", progress=False))
        assert set(done.applied_ids) == set(sync.applied_ids) and done.failed == 0
        assert done.plan.fingerprint == sync.plan.fingerprint


def test_an_unfillable_trajectory_fails_in_exactly_one_load_shard():
    data = list(_data(users=3, per_user=2))
    orphan = data[0].model_copy(update={"user": None, "id": "no-user"})
    reports = [_manager(MemoryStore.in_memory(embedder=WordHashEmbedder())).process(
        TrajectoryDataset([*data, orphan]), shard=(index, 2), shard_by="load", progress=False) for index in range(2)]
    assert sorted(r.failed for r in reports) == [0, 1]
    assert sum(r.total for r in reports) == len(data) + 1


@pytest.mark.parametrize("bad", [(2, 2), (-1, 2), (0, 0), "0/2", (0, 2, 1), (True, 2)])
def test_a_bad_shard_is_refused_before_anything_is_written(bad):
    store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    with pytest.raises(ValidationError, match="shard"):
        _manager(store).process(_data(users=1, per_user=1), shard=bad, progress=False)
    assert store.list_namespaces() == []


@pytest.mark.parametrize("bad", ["balanced", "LOAD", None, 1])
def test_a_bad_shard_by_is_refused_before_anything_is_written(bad):
    store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    with pytest.raises(ValidationError, match="shard_by must be 'load'.*or 'hash'"):
        _manager(store).process(_data(users=1, per_user=1), shard=(0, 1), shard_by=bad, progress=False)
    with pytest.raises(ValidationError, match="shard_by"):
        asyncio.run(_manager(store).aprocess(_data(users=1, per_user=1), shard=(0, 1), shard_by=bad,
                                             progress=False))
    with pytest.raises(ValidationError, match="shard_by"):
        ShardPlan.from_weights({("a",): 1}, 2, by=bad)
    with pytest.raises(ValidationError, match="trajectory counts"):
        ShardPlan.from_weights({("a",): -1}, 2, by="load")
    assert store.list_namespaces() == []


_WORKER = """
import json, sys
from engram.modules import MemoryManager
from engram.store import MemoryStore
from engram.testing import simulated_lm
from tests.modules.conftest import WordHashEmbedder
from tests.modules.test_shard import NAMESPACE, _data

index, count, url, by = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
store = MemoryStore.http(url, embedder=WordHashEmbedder())
manager = MemoryManager(store, NAMESPACE, lm=simulated_lm(seed=0))
report = manager.process(_data(), shard=(index, count), shard_by=by, concurrency=4, progress=False)
print(json.dumps({"applied": report.applied_ids, "skipped": report.skipped_ids, "failed": report.failures,
                  "plan": report.plan.fingerprint}))
"""


@pytest.mark.parametrize("by", ["hash", "load"])
def test_two_processes_on_one_chroma_server_write_what_one_process_writes(tmp_path, by):
    from tests.store.conftest import start_server

    one = MemoryStore.in_memory(embedder=WordHashEmbedder())
    alone = _manager(one).process(_data(), progress=False)
    assert alone.failed == 0
    server = start_server(tmp_path / "chroma")
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(i), "2", server.url, by], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = []
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr[-2000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        shared = MemoryStore.http(server.url, embedder=WordHashEmbedder())
        applied = [set(o["applied"]) for o in outs]
        assert not any(o["failed"] for o in outs)
        assert outs[0]["plan"] == outs[1]["plan"]  # each process computed the same plan on its own
        assert applied[0].isdisjoint(applied[1])  # no trajectory applied twice
        assert applied[0] | applied[1] == set(alone.applied_ids)
        together = _memories(shared)
        assert sum(map(len, together.values())) > 0
        assert together == _memories(one)  # same memories, same keys: no duplicates, none missing
        for rows in together.values():
            assert len({text for _, text in rows}) == len(rows)
        # the ledger is in the shared store: a later run without shards finds everything done
        again = _manager(shared).process(_data(), progress=False)
        assert again.applied == 0 and again.skipped == len(_data())
    finally:
        server.stop()
