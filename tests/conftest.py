"""Shared fixtures: every test starts with no engram overrides and a private ENGRAM_HOME."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# DSPy's "scheduled for removal in DSPy 3.5" warnings are errors in the tests (pyproject's
# filterwarnings); so they are in the Python processes the tests start (the CLI, servers,
# kernels), through PYTHONWARNINGS, whose message field matches the start of a message.
DSPY_35_REMOVALS = ("Implementing custom LMs through BaseLM", "LegacyEngine and AsyncLegacyEngine",
                    "The custom-engine complete_legacy() shortcut",
                    "Passing OpenAI-style message dictionaries")
os.environ["PYTHONWARNINGS"] = ",".join(
    filter(None, [os.environ.get("PYTHONWARNINGS"), *(f"error:{m}:DeprecationWarning" for m in DSPY_35_REMOVALS)]))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    """Servers and kernels the tests start are stopped even if pytest is killed (tests/_reaper.py)."""
    from tests._reaper import watch

    watch()


@pytest.fixture(autouse=True)
def _clean_engram_settings(tmp_path, monkeypatch):
    import engram.config

    for name in list(os.environ):
        if name.startswith("ENGRAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path / ".engram"))
    engram.config.reset()
    yield
    # Code under test may write ENGRAM_* itself (`engram serve` exports its settings for uvicorn's
    # workers); monkeypatch restores only what it touched, so drop the rest before it restores.
    # Left behind, they reach the next server a module or session fixture starts.
    for name in [n for n in os.environ if n.startswith("ENGRAM_")]:
        del os.environ[name]
    engram.config.reset()


_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(autouse=True)
def _isolate_mlflow_globals():
    """Undo what a test did to MLflow's process-wide state (active runs, experiment, URI).

    ``mlflow.set_experiment`` sets a module global *and* ``MLFLOW_EXPERIMENT_ID``; left
    behind, they point the next test's runs at an experiment its own store does not have.
    """
    saved_env = {name: os.environ.get(name) for name in _MLFLOW_ENV}
    yield
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is None:
        return
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._active_experiment_id = None
    import mlflow

    mlflow.set_tracking_uri(None)
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def _empty_db(tmp_path_factory) -> Path:
    """An empty, fully migrated MLflow SQLite store: copy it instead of paying the migrations again."""
    import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before mlflow is imported)
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # runs the migrations
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
