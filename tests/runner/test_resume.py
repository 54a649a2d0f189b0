"""A run killed midway (SIGKILL, in a subprocess) continues on re-run: no repeated work, no
memory written twice."""

from __future__ import annotations

import json
import signal
from collections import Counter

from engram.runner import load_config, run_experiment
from tests.runner.conftest import run_python

KILL_ON_CHECKPOINT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import engram
import memlm
memlm.register()
from engram.runner import _checkpoint as checkpoint
from engram.runner import load_config, run_experiment

original = checkpoint.Checkpoint.add_items
seen = {{"n": 0}}

def add_items(self, step, ids, **kwargs):
    if step == {step!r}:
        seen["n"] += 1
        if seen["n"] == {nth} and {before}:
            os.kill(os.getpid(), signal.SIGKILL)     # the work is done, its checkpoint is not
        original(self, step, ids, **kwargs)
        if seen["n"] == {nth}:
            os.kill(os.getpid(), signal.SIGKILL)     # killed right after a checkpoint
        return
    return original(self, step, ids, **kwargs)

checkpoint.Checkpoint.add_items = add_items
run_experiment(load_config({config!r}), progress=False, print_summary=False)
print("NOT KILLED")
"""


def _kill_midway(path, tmp_path, step: str, nth: int, before: bool):
    import os

    tests = os.path.dirname(__file__)
    code = KILL_ON_CHECKPOINT.format(tests=tests, step=step, nth=nth, before=before, config=str(path))
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "checkpoint.json").read_text())


def _memories(store_dir):
    from engram.store._store import MemoryStore

    store = MemoryStore.persistent(store_dir)
    contents = []
    for ns in store.list_namespaces(prefix=("support",)):
        if len(ns) == 2:
            contents += [(ns, json.dumps(r.content, sort_keys=True)) for r in store.list(ns, limit=1000)]
    return contents


def test_memory_step_killed_midway_resumes_without_duplicates(write_config, tmp_path, monkeypatch):
    from tests.runner import memlm

    memlm.register()
    path = write_config(memory=True)
    text = path.read_text().replace("task: offline/support", f"task: offline/{memlm.NAME}")
    text = text.replace("  split: {val_fraction", "  limit: 12\n  split: {val_fraction")
    path.write_text(text.replace("prompt:\n  prompt:", "prompt:\n  enabled: false\n  prompt:"))
    # chunk 1 (2 trajectories) is checkpointed; chunk 2 is applied but the kill comes before its checkpoint
    ckpt = _kill_midway(path, tmp_path, "memory", nth=2, before=True)
    done_before = ckpt["steps"]["memory"]["items"]
    assert len(done_before) == 2 and ckpt["steps"]["memory"]["status"] == "running"

    from engram.modules import _batch as batch

    processed: list[str] = []
    original = batch.process

    def spy(manager, dataset, **kwargs):
        processed.extend(t.id for t in dataset)
        return original(manager, dataset, **kwargs)

    monkeypatch.setattr(batch, "process", spy)
    result = run_experiment(load_config(path), progress=False, print_summary=False)
    metrics = result.table.set_index("step").loc["memory", "details"]
    assert not set(processed) & set(done_before)          # finished chunk not repeated
    assert "skipped=2" in metrics                         # chunk 2: applied before the kill, skipped now

    memories = _memories(tmp_path / "out" / "chroma")
    duplicates = [item for item, n in Counter(memories).items() if n > 1]
    assert not duplicates
    data_size = result.summary["train"] + result.summary["validation"]
    assert len(memories) == data_size                     # exactly one memory per trajectory


def test_prompt_step_killed_after_a_round_continues_with_the_next(write_config, tmp_path):
    path = write_config(rounds=2)
    ckpt = _kill_midway(path, tmp_path, "prompt", nth=1, before=False)
    assert ckpt["steps"]["prompt"]["items"] == ["round-1"]
    calls_round_1 = ckpt["spent"]["calls"]
    result = run_experiment(load_config(path), progress=False, print_summary=False)
    details = result.table.set_index("step").loc["prompt", "details"]
    assert "rounds=2" in details
    # Only round 2 ran in this attempt: fewer calls than the recorded round 1 + round 2.
    assert 0 < result.summary["calls_this_attempt"] <= result.summary["calls"]
    ckpt = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    assert ckpt["steps"]["prompt"]["items"] == ["round-1", "round-2"]
    assert ckpt["spent"]["calls"] > calls_round_1
