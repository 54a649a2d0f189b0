"""ENGRAM_AUTOLOG=1 turns engram.autolog() on at import, without importing MLflow until it is needed."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = """
import json, sys, engram
from engram.tracking._autolog import is_enabled
state = {"enabled": is_enabled(), "mlflow_at_import": "mlflow" in sys.modules}
from engram.testing._scripted import scripted_lm
lm = scripted_lm({"prompt, trajectories -> failure_modes, hypotheses, recommendations, edit_warranted":
                  {"failure_modes": "none", "hypotheses": "none", "recommendations": "none",
                   "edit_warranted": False}})
fallback = scripted_lm(lambda call: {name: "none" for name in call.output_fields})
engram.GradientOptimizer(lm=fallback)(
    [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
      "feedback": {"score": 0.2, "comment": "too curt"}}],
    "You are helpful.")
import mlflow
runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
state["runs"] = [r.data.tags.get("engram.kind") for r in runs]
print(json.dumps(state))
"""


def run(tmp_path, empty_db, value):
    env = {**os.environ, "ENGRAM_HOME": str(tmp_path / ".engram"), "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / '.engram' / 'mlflow.db'}"}
    env.pop("ENGRAM_AUTOLOG", None)
    if value is not None:
        env["ENGRAM_AUTOLOG"] = value
    (tmp_path / ".engram").mkdir(exist_ok=True)
    shutil.copy(empty_db, tmp_path / ".engram" / "mlflow.db")  # an empty store, without seconds of migrations
    out = subprocess.run([sys.executable, "-c", CODE], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_environment_switch_records_the_optimization(tmp_path, _empty_db):
    state = run(tmp_path, _empty_db, "1")
    assert state["enabled"] is True and state["mlflow_at_import"] is False
    assert state["runs"] == ["optimization"]


def test_without_the_switch_nothing_is_recorded(tmp_path, _empty_db):
    state = run(tmp_path, _empty_db, None)
    assert state["enabled"] is False and state["runs"] == []
