"""`engram run --shard i/n`: the memory step split over processes sharing one Chroma server."""

from __future__ import annotations

import json

import pytest

from engram.errors import EngramError
from engram.runner import load_config, run_experiment
from engram.runner._config import parse_shard


def _memory_config(write_config, limit: int = 8):
    from tests.runner import memlm

    memlm.register()
    path = write_config(memory=True)
    text = path.read_text().replace("task: offline/support", f"task: offline/{memlm.NAME}")
    text = text.replace("  split: {val_fraction", f"  limit: {limit}\n  split: {{val_fraction")
    path.write_text(text.replace("prompt:\n  prompt:", "prompt:\n  enabled: false\n  prompt:"))
    return path


def test_parse_shard_reads_i_of_n_and_refuses_the_rest():
    assert parse_shard("0/2") == (0, 2) and parse_shard("3/4") == (3, 4)
    for bad in ["2/2", "-1/2", "1", "a/b", "1/0", ""]:
        with pytest.raises(EngramError, match="--shard"):
            parse_shard(bad)


def test_a_shard_runs_only_the_memory_step_in_its_own_directory(write_config, tmp_path):
    cfg = load_config(_memory_config(write_config)).for_shard(0, 1)
    assert cfg.memory.shard == (0, 1) and cfg.prompt is None
    assert cfg.resolved_output_dir == tmp_path / "out" / "shard-0-of-1"
    result = run_experiment(cfg, progress=False, print_summary=False)
    assert result.summary["steps"] == {"memory": "done"}


def test_more_than_one_shard_needs_a_chroma_server(write_config):
    cfg = load_config(_memory_config(write_config))
    with pytest.raises(EngramError, match="ENGRAM_CHROMA_URL"):
        cfg.for_shard(0, 2)
    no_memory = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"enabled": False})})
    with pytest.raises(EngramError, match="memory step"):
        no_memory.for_shard(0, 1)


def test_two_shards_then_a_plain_run_apply_every_trajectory_once(write_config, tmp_path, monkeypatch):
    import engram.config
    from engram.store import MemoryStore
    from tests.store.conftest import start_server

    path = _memory_config(write_config, limit=8)
    server = start_server(tmp_path / "chroma-server")
    try:
        monkeypatch.setenv("ENGRAM_CHROMA_URL", server.url)
        engram.config.reset()
        applied = []
        for index in range(2):
            result = run_experiment(load_config(path).for_shard(index, 2), progress=False, print_summary=False)
            assert result.summary["steps"] == {"memory": "done"}
            ckpt = json.loads((tmp_path / "out" / f"shard-{index}-of-2" / "checkpoint.json").read_text())
            applied.append(set(ckpt["steps"]["memory"]["items"]))
        assert applied[0].isdisjoint(applied[1]) and len(applied[0] | applied[1]) == 8
        assert applied[0] and applied[1]  # 8 trajectories of several users land in both shards
        store = MemoryStore.http(server.url)
        live = sum(store.count(ns) for ns in store.list_namespaces(prefix=("support",)))
        assert live == 8  # one memory per conversation (the scripted stand-in): none twice
        # the ledger is in the shared store: the plain run finds all 8 applied and writes nothing
        final = run_experiment(load_config(path), progress=False, print_summary=False)
        assert final.summary["steps"] == {"memory": "done"}
        assert sum(store.count(ns) for ns in store.list_namespaces(prefix=("support",))) == 8
    finally:
        server.stop()
