"""`engram run --shard i/n [--shard-by hash|load]`: the memory step split over processes sharing one Chroma server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def _per_user(path):  # trajectories per user of the config's dataset
    from collections import Counter

    from engram.runner._data import load_run_data

    return Counter(t.user for t in load_run_data(load_config(path)).dataset)


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


def test_shard_by_comes_from_the_flag_or_the_config_and_is_checked(write_config, tmp_path, monkeypatch):
    path = _memory_config(write_config)
    cfg = load_config(path)
    assert cfg.memory.shard_by == "hash"  # the default: right for any data
    assert cfg.for_shard(0, 1).memory.shard_by == "hash"
    assert cfg.for_shard(0, 1, by="load").memory.shard_by == "load"
    with pytest.raises(EngramError, match="--shard-by takes 'hash'.*or 'load'"):
        cfg.for_shard(0, 1, by="even")
    path.write_text(path.read_text().replace("memory:\n", "memory:\n  shard_by: load\n"))
    assert load_config(path).for_shard(0, 1).memory.shard_by == "load"
    path.write_text(path.read_text().replace("shard_by: load", "shard_by: balanced"))
    with pytest.raises(EngramError, match="memory.shard_by"):
        load_config(path)


def test_the_cli_refuses_a_bad_or_lonely_shard_by_before_writing_anything(write_config, tmp_path):
    path = _memory_config(write_config)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", ENGRAM_HOME=str(tmp_path / "home"))
    root = Path(__file__).resolve().parents[2]
    for args, says in [(["--shard-by", "load"], "pass --shard too"),
                       (["--shard", "0/1", "--shard-by", "even"], "--shard-by takes 'hash'")]:
        proc = subprocess.run([sys.executable, "-m", "engram.cli", "run", str(path), *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 1 and says in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.count("error:") == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "home").exists()


def test_more_than_one_shard_needs_a_chroma_server(write_config):
    cfg = load_config(_memory_config(write_config))
    with pytest.raises(EngramError, match="ENGRAM_CHROMA_URL"):
        cfg.for_shard(0, 2)
    no_memory = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"enabled": False})})
    with pytest.raises(EngramError, match="memory step"):
        no_memory.for_shard(0, 1)


@pytest.mark.parametrize("by", ["hash", "load"])
def test_two_shards_then_a_plain_run_apply_every_trajectory_once(write_config, tmp_path, monkeypatch, by):
    import engram.config
    from engram.store import MemoryStore
    from tests.store.conftest import start_server

    path = _memory_config(write_config, limit=8)
    server = start_server(tmp_path / "chroma-server")
    try:
        monkeypatch.setenv("ENGRAM_CHROMA_URL", server.url)
        engram.config.reset()
        applied, notes = [], []
        for index in range(2):
            result = run_experiment(load_config(path).for_shard(index, 2, by=by), progress=False,
                                    print_summary=False)
            assert result.summary["steps"] == {"memory": "done"}
            ckpt = json.loads((tmp_path / "out" / f"shard-{index}-of-2" / "checkpoint.json").read_text())
            applied.append(set(ckpt["steps"]["memory"]["items"]))
            notes.append(ckpt["steps"]["memory"]["record"]["note"])
        assert applied[0].isdisjoint(applied[1]) and len(applied[0] | applied[1]) == 8
        assert applied[0] and applied[1]  # 8 trajectories of several users land in both shards
        # each shard names the plan it followed, computed over the whole dataset: the same plan
        plans = [note.split(", plan ")[1].split(":")[0] for note in notes]
        assert notes[0].startswith("shard 0/2 of 2 shards by " + by) and plans[0] == plans[1]
        loads = [int(x) for x in notes[0].split(": ")[1].split(" trajectories")[0].split("/")]
        assert [len(a) for a in applied] == loads
        if by == "load":
            assert "every shard must show this plan" in notes[0]
            assert max(loads) - min(loads) <= max(_per_user(path).values())
        store = MemoryStore.http(server.url)
        live = sum(store.count(ns) for ns in store.list_namespaces(prefix=("support",)))
        assert live == 8  # one memory per conversation (the scripted stand-in): none twice
        # the ledger is in the shared store: the plain run finds all 8 applied and writes nothing
        final = run_experiment(load_config(path), progress=False, print_summary=False)
        assert final.summary["steps"] == {"memory": "done"}
        assert sum(store.count(ns) for ns in store.list_namespaces(prefix=("support",))) == 8
    finally:
        server.stop()
