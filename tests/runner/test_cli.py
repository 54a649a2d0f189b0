"""`engram run` / `engram sweep` from the command line: the main job's summary, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def engram(*args: str, cwd: Path = ROOT, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", ENGRAM_HOME=str(home), COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "engram.cli", *args], cwd=cwd, env=env, check=False,
                          capture_output=True, text=True, timeout=900)


def test_quickstart_runs_end_to_end_and_prints_the_summary(tmp_path):
    proc = engram("run", "experiments/quickstart.yaml", "--quiet", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "engram run: quickstart" in out
    assert "offline/support (offline stand-in, not a model)" in out
    assert "support v1 -> v2 (@production = v2)" in out
    written = next(line for line in out.splitlines() if "memories written" in line)
    assert int(written.split("│")[2].strip()) > 0
    before = next(line for line in out.splitlines() if "score before" in line).split("│")[2].strip()
    after = next(line for line in out.splitlines() if "score after" in line).split("│")[2].strip()
    assert float(after) > float(before)
    run_dir = tmp_path / "home" / "runs" / "quickstart"
    assert (run_dir / "export" / "support.json").exists() and (run_dir / "results.md").exists()
    # The repository is left clean: nothing written outside ENGRAM_HOME.
    assert not (ROOT / "mlruns" / "quickstart").exists()
    # A first run creates the MLflow database; its INFO lines ("Creating initial MLflow database
    # tables...") are not the user's business.
    assert " INFO " not in proc.stderr, proc.stderr


def test_bad_config_is_one_line_naming_file_line_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprompt:\n  prompt: {name: p, template: hi}\n  optimizer: {kind: gradeint}\n")
    proc = engram("run", str(bad), home=tmp_path / "home")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f"{bad}:4: field 'prompt.optimizer.kind'" in lines[0]
    assert not (tmp_path / "home").exists()  # nothing half-written


def test_sweep_without_search_space_is_a_clear_error(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: x\ndataset: {{path: {ROOT / 'datasets' / 'support.jsonl'}}}\n"
                      "prompt:\n  prompt: {name: p, template: hi}\n")
    proc = engram("sweep", str(config), "--workers", "2", home=tmp_path / "home")
    assert proc.returncode == 1
    assert "no 'sweep:' section" in proc.stderr and proc.stderr.count("error:") == 1


def test_a_model_without_its_api_key_is_one_line_saying_what_to_set(tmp_path):
    """Issue 11 item 16: no retries, no warnings, no traceback, nothing written."""
    env_home = tmp_path / "home"
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", ENGRAM_HOME=str(env_home), COLUMNS="120",
               ENGRAM_LM="openai/gpt-4o-mini")
    for key in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "engram.cli", "run", "experiments/quickstart.yaml", "--quiet"],
                          cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "OPENAI_API_KEY" in lines[0], proc.stderr
    assert not (env_home / "runs").exists()


def test_force_runs_a_config_whose_name_another_config_used(tmp_path):
    """Issue 11 item 17 from the command line: refused with the other path, then --force."""
    data = tmp_path / "locomo.json"
    from tests.runner.test_retrieval import SAMPLE

    data.write_text(json.dumps(SAMPLE))
    for name, k in (("a.yaml", "[1, 5]"), ("b.yaml", "[1, 2]")):
        (tmp_path / name).write_text(f"name: same\nretrieval: {{enabled: true, path: {data}, k: {k}}}\n"
                                     f"tracking: {{enabled: false}}\n")
    assert engram("run", str(tmp_path / "a.yaml"), "--quiet", home=tmp_path / "home").returncode == 0
    refused = engram("run", str(tmp_path / "b.yaml"), "--quiet", home=tmp_path / "home")
    assert refused.returncode == 1 and str(tmp_path / "a.yaml") in refused.stderr and "--force" in refused.stderr
    forced = engram("run", str(tmp_path / "b.yaml"), "--quiet", "--force", home=tmp_path / "home")
    assert forced.returncode == 0, forced.stderr[-2000:]
