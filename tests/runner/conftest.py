"""Fixtures for runner tests: a small simulated support dataset and config writers (offline)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SEED = "You are the support assistant for Acme. Answer the customer's question."


@pytest.fixture(autouse=True)
def _empty_tracking_store(_clean_engram_settings, _empty_db) -> None:
    """The default tracking store (``$ENGRAM_HOME/mlflow.db``) starts as a copy of the session's
    migrated empty one: the same empty store, without seconds of MLflow migrations per run."""
    home = Path(os.environ["ENGRAM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(_empty_db, home / "mlflow.db")


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory) -> Path:
    """32 simulated support trajectories (16 users x 2 threads) scored by their hidden preferences."""
    from engram.testing._world import World

    world = World(seed=0)
    data = world.simulate(SEED, world.users(16), turns=2, threads=2)
    path = tmp_path_factory.mktemp("data") / "support_sim.jsonl"
    data.save(path)
    return path


def config_text(data: Path, out: Path, *, extra: str = "", rounds: int = 1, memory: bool = False,
                sweep: str = "", budget: str = "") -> str:
    text = f"""\
    name: test-run
    dataset:
      path: {data}
      split: {{val_fraction: 0.25, seed: 0}}
    lms:
      task: offline/support
    memory:
      enabled: {str(memory).lower()}
      namespace: [support, "{{user_id}}"]
      chunk_size: 2
    prompt:
      prompt:
        name: support
        template: "{SEED}"
      optimizer: {{kind: gradient, rounds: {rounds}}}
      gate: {{max_trajectories: 4}}
      export: {{formats: [json, text]}}
    tracking: {{experiment: runner-tests}}
    output_dir: {out}
    """
    text = textwrap.dedent(text) + textwrap.dedent(extra)
    if budget:
        text += f"budget: {budget}\n"
    if sweep:
        text += textwrap.dedent(sweep)
    return text


@pytest.fixture
def write_config(tmp_path, sim_data):
    def write(name: str = "exp.yaml", **kwargs) -> Path:
        path = tmp_path / name
        path.write_text(config_text(sim_data, tmp_path / "out", **kwargs))
        return path
    return write


def run_python(code: str, *, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run Python in a fresh process with this test's environment (ENGRAM_HOME etc.)."""
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, check=False,
                          capture_output=True, text=True, timeout=timeout)
