"""`engram run` / `engram sweep` from the command line: the main job's summary, one-line errors."""

from __future__ import annotations

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
