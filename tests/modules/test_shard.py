"""process(shard=(i, n)): n processes split a dataset by namespace, with no overlap, on one store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engram.errors import ValidationError
from engram.modules import MemoryManager, namespace_shard
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


def test_the_shard_of_a_namespace_is_stable_across_processes_and_in_range():
    names = [("memories", f"user-{i:02d}") for i in range(40)]
    here = [namespace_shard(ns, 3) for ns in names]
    assert set(here) == {0, 1, 2}  # 40 namespaces use every shard
    code = ("import json, sys; from engram.modules import namespace_shard; "
            f"print(json.dumps([namespace_shard(ns, 3) for ns in {names!r}]))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"}  # another str hash salt
    out = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == here


def test_two_shards_cover_every_namespace_exactly_once():
    data = _data(users=6, per_user=2)
    reports, seen = [], []
    for index in range(2):
        store = MemoryStore.in_memory(embedder=WordHashEmbedder())
        report = _manager(store).process(data, shard=(index, 2), progress=False)
        reports.append(report)
        seen.append({r.namespace for r in report.results})
        assert report.failed == 0
        assert all(namespace_shard(ns, 2) == index for ns in seen[-1])
    first, second = (set(r.applied_ids) for r in reports)
    assert first.isdisjoint(second) and first | second == {t.id for t in data}
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 6
    for report in reports:  # each report counts its own and names how many went elsewhere
        assert report.total + report.other_shards == len(data)
        assert report.total == len(report.outcomes)


@pytest.mark.parametrize("bad", [(2, 2), (-1, 2), (0, 0), "0/2", (0, 2, 1), (True, 2)])
def test_a_bad_shard_is_refused_before_anything_is_written(bad):
    store = MemoryStore.in_memory(embedder=WordHashEmbedder())
    with pytest.raises(ValidationError, match="shard"):
        _manager(store).process(_data(users=1, per_user=1), shard=bad, progress=False)
    assert store.list_namespaces() == []


_WORKER = """
import json, sys
from engram.modules import MemoryManager
from engram.store import MemoryStore
from engram.testing import simulated_lm
from tests.modules.conftest import WordHashEmbedder
from tests.modules.test_shard import NAMESPACE, _data

index, count, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
store = MemoryStore.http(url, embedder=WordHashEmbedder())
manager = MemoryManager(store, NAMESPACE, lm=simulated_lm(seed=0))
report = manager.process(_data(), shard=(index, count), concurrency=4, progress=False)
print(json.dumps({"applied": report.applied_ids, "skipped": report.skipped_ids, "failed": report.failures}))
"""


def test_two_processes_on_one_chroma_server_write_what_one_process_writes(tmp_path):
    from tests.store.conftest import start_server

    one = MemoryStore.in_memory(embedder=WordHashEmbedder())
    alone = _manager(one).process(_data(), progress=False)
    assert alone.failed == 0
    server = start_server(tmp_path / "chroma")
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(i), "2", server.url], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = []
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr[-2000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        shared = MemoryStore.http(server.url, embedder=WordHashEmbedder())
        applied = [set(o["applied"]) for o in outs]
        assert not any(o["failed"] for o in outs)
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
