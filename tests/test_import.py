"""`import engram` must stay light: no chromadb, mlflow, optuna or torch (run in a fresh interpreter)."""

import json
import subprocess
import sys

HEAVY = ["chromadb", "mlflow", "optuna", "torch", "sentence_transformers", "dspy", "litellm"]


def test_import_engram_loads_no_heavy_dependency():
    code = ("import sys, json, engram; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_import_engram_sets_the_local_litellm_cost_map():
    code = "import os, engram; print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"


def test_public_names_resolve_lazily():
    import engram

    for name in engram.__all__:
        assert getattr(engram, name) is not None, name
