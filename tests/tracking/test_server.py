"""Against a real `mlflow server`: registry round trips, runs with artifacts, and an outage."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from engram.errors import NotFoundError, TrackingError
from engram.prompts import Prompt
from engram.tracking import _loader as loader
from engram.tracking._backend import mlflow_client
from engram.tracking._registry import PromptRegistry
from engram.tracking._runs import track_run


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # the server is shared by the session's tests


def test_register_load_promote_history_on_the_server(mlflow_server):
    registry = PromptRegistry(mlflow_server)
    name = _name("support")
    registry.register(name, "You help {company} customers.", "first", tags={"optimizer": "none"})
    registry.register(name, [{"role": "system", "content": "You help {company} customers."},
                             {"role": "user", "content": "{question}"}], "chat", allow_variable_change=True)
    registry.promote(name, 1, "production")
    assert registry.load(f"{name}@production").template == "You help {company} customers."
    assert registry.load(name).template[1] == {"role": "user", "content": "{question}"}
    assert [v.version for v in registry.history(name)] == [2, 1]
    assert registry.aliases(name) == {"production": 1}
    assert name in registry.list()
    with pytest.raises(NotFoundError, match="its aliases: @production -> 1"):
        registry.load(f"{name}@staging")
    with pytest.raises(NotFoundError, match="its versions are 1, 2"):
        registry.load(f"{name}/5")


def test_runs_log_metrics_and_artifacts_through_the_server(mlflow_server):
    with track_run(_name("opt"), kind="optimization", params={"steps": 2}, tracking_uri=mlflow_server) as run:
        run.log_metrics({"score_after": 0.8})
        run.log_text("+better line\n", "prompt_diff.diff")
    client = mlflow_client(mlflow_server)
    data = client.get_run(run.run_id).data
    assert data.params["steps"] == "2" and data.metrics["score_after"] == 0.8
    assert Path(client.download_artifacts(run.run_id, "prompt_diff.diff")).read_text() == "+better line\n"


def test_loader_serves_from_the_server_then_from_the_fallback_when_it_stops(tmp_path, start_mlflow_server):
    fallback = tmp_path / "fallback"
    loader.clear_cache()
    with start_mlflow_server(tmp_path / "server") as url:
        registry = PromptRegistry(url)
        registry.register("support", "You help {company} customers.")
        registry.promote("support", 1, "production")
        served = loader.load_prompt("support@production", tracking_uri=url, fallback_dir=fallback)
        assert served.metadata["source"] == "registry"
    # The server is gone: a restarted app (empty cache) still serves the last good version.
    loader.clear_cache()
    served = loader.load_prompt("support@production", tracking_uri=url, fallback_dir=fallback)
    assert (served.template, served.version, served.metadata["source"]) == (
        "You help {company} customers.", "1", "fallback")
    assert json.loads((fallback / "support@production.json").read_text())["version"] == "1"
    # The registry itself reports the outage as a TrackingError that says what to check.
    with pytest.raises(TrackingError, match="Cannot reach the MLflow tracking store at http://127.0.0.1"):
        PromptRegistry(url).load("support@production")
    with pytest.raises(TrackingError, match="server is running"):
        PromptRegistry(url).register("support", Prompt(name="support", template="x {company}"))
