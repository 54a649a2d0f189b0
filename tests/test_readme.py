"""The README's Python quickstart runs as written (offline, with the simulated stand-in LM)."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart_code() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart (Python)", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_quickstart_runs_and_ships_the_better_prompt(tmp_path):
    code = quickstart_code()
    assert 'engram.configure(lm="offline/support")' in code
    env = {**os.environ, "ENGRAM_HOME": str(tmp_path / ".engram"), "PYTHONPATH": str(REPO)}
    env.pop("ENGRAM_LM", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    # a memory found by meaning, at version 1
    assert re.match(r"0\.\d+ \{'content': 'The user .*'\} 1$", lines[0])
    # the gate accepted a better prompt, and production serves it
    assert lines[2].startswith("True 0.0 -> 1.0 with ")
    assert "+Write any instructions as numbered steps." in out.stdout
    assert lines[-1] == "End by asking whether this solved the problem."
    assert (tmp_path / ".engram" / "chroma").is_dir() and (tmp_path / ".engram" / "mlflow.db").exists()
