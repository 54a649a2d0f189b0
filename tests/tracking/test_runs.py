"""MLflow runs: optimization results, nested sweep runs, failures, and mlflow.dspy.autolog."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engram.lm import Usage
from engram.optimizers._result import Candidate, OptimizationResult
from engram.prompts import Prompt
from engram.tracking._backend import mlflow_client
from engram.tracking._runs import active_run, log_optimization, track_run
from engram.trajectories import TrajectoryDataset


def _result() -> OptimizationResult:
    original = Prompt(name="support", template="You help {company} customers.", version="1")
    better = original.with_template("You help {company} customers.\nGive numbered steps.")
    worse = original.with_template("Be terse with {company} customers.")
    return OptimizationResult(
        prompt=better, original=original, optimizer="gradient", rationale="Users asked for steps.",
        critiques=["Answers lacked steps.", "Too terse."],
        candidates=[Candidate(prompt=better, score=0.75, accepted=True, reason="best", round=1),
                    Candidate(prompt=worse, score=0.3, accepted=False, reason="worse", round=1)],
        score_before=0.5, score_after=0.75, accepted=True,
        usage=Usage(calls=7, prompt_tokens=1200, completion_tokens=300, cost=0.0042), steps=2)


def _dataset(n: int = 30) -> TrajectoryDataset:
    return TrajectoryDataset([{"messages": [{"role": "user", "content": f"question {i}"},
                                            {"role": "assistant", "content": f"answer {i}"}],
                               "feedback": {"score": (i % 5) / 4}, "user": f"u{i % 3}"} for i in range(n)],
                             name="support")


def _artifact(client, run_id: str, path: str) -> str:
    local = client.download_artifacts(run_id, path)
    return Path(local).read_text()


def test_log_optimization_records_params_scores_usage_and_artifacts(tracking_uri):
    dataset = _dataset()
    run_id = log_optimization(_result(), dataset=dataset, params={"reflection_steps": 2})
    client = mlflow_client(tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["optimizer"] == "gradient" and params["reflection_steps"] == "2"
    assert params["dataset_hash"] == dataset.fingerprint and params["dataset_size"] == "30"
    assert metrics["score_before"] == 0.5 and metrics["score_after"] == 0.75
    assert metrics["improvement"] == pytest.approx(0.25)
    assert (metrics["lm_calls"], metrics["lm_prompt_tokens"], metrics["lm_total_tokens"]) == (7, 1200, 1500)
    assert metrics["lm_cost"] == pytest.approx(0.0042)
    assert run.data.tags["engram.kind"] == "optimization"

    assert "+Give numbered steps." in _artifact(client, run_id, "prompt_diff.diff")
    assert "Too terse." in _artifact(client, run_id, "critiques.md")
    table = json.loads(_artifact(client, run_id, "candidates.json"))
    assert table["columns"][:3] == ["round", "score", "accepted"] and len(table["data"]) == 2
    sample = _artifact(client, run_id, "trajectories_sample.jsonl").splitlines()
    assert len(sample) == 20 and json.loads(sample[0])["messages"][0]["content"] == "question 0"
    after = json.loads(_artifact(client, run_id, "prompt_after.json"))
    assert after["template"].endswith("Give numbered steps.")
    # Artifacts live next to the SQLite file, not in ./mlruns.
    assert Path(tracking_uri[len("sqlite:///"):]).parent.joinpath("artifacts").is_dir()


def test_log_optimization_inside_track_run_uses_that_run(tracking_uri):
    with track_run("batch", kind="optimization", params={"seed": 0}) as run:
        assert active_run().run_id == run.run_id
        assert log_optimization(_result()) == run.run_id
    assert active_run() is None
    data = mlflow_client(tracking_uri).get_run(run.run_id).data
    assert data.params["seed"] == "0" and data.metrics["score_after"] == 0.75


def test_sweep_trials_are_nested_runs(tracking_uri):
    with track_run("sweep", kind="sweep", params={"trials": 2}) as sweep:
        for i, steps in enumerate([1, 3]):
            with track_run(f"trial-{i}", kind="trial", params={"steps": steps}) as trial:
                trial.log_metrics({"val_score": 0.5 + i / 10, "cost": 0.01 * steps})
    client = mlflow_client(tracking_uri)
    children = client.search_runs([client.get_run(sweep.run_id).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{sweep.run_id}'")
    assert sorted(r.data.params["steps"] for r in children) == ["1", "3"]
    assert {r.data.tags["engram.kind"] for r in children} == {"trial"}


def test_a_failing_block_marks_the_run_failed_and_restores_mlflow_state(tracking_uri):
    import mlflow

    before = mlflow.get_tracking_uri()
    with pytest.raises(RuntimeError, match="boom"), track_run("broken", kind="compile") as run:
        raise RuntimeError("boom")
    info = mlflow_client(tracking_uri).get_run(run.run_id)
    assert info.info.status == "FAILED"
    assert info.data.tags["engram.error"] == "RuntimeError: boom"
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == before


def test_log_program_stores_state_and_exported_messages(tracking_uri):
    import dspy

    program = dspy.Predict("question -> answer")
    with track_run("compile", kind="compile") as run:
        run.log_program(program)
    client = mlflow_client(tracking_uri)
    messages = json.loads(_artifact(client, run.run_id, "program/messages.json"))
    assert messages["predictors"][0]["messages"][-1]["content"].startswith("[[ ## question ## ]]\n{{question}}")
    assert "signature" in json.loads(_artifact(client, run.run_id, "program/state.json"))


def test_dspy_autolog_logs_compiles_into_the_engram_run(tracking_uri):
    import dspy
    import mlflow

    from engram.tracking._runs import enable_dspy_autolog

    enable_dspy_autolog(log_compiles=True, log_traces=False, log_evals=False, silent=True)
    try:
        trainset = [dspy.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(3)]
        with track_run("compile", kind="compile") as run:
            dspy.LabeledFewShot(k=2).compile(dspy.Predict("question -> answer"), trainset=trainset)
    finally:
        mlflow.dspy.autolog(disable=True)
    client = mlflow_client(tracking_uri)
    files = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"best_model.json", "trainset.json"} <= files


def test_nests_under_a_run_the_caller_started(tracking_uri):
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_name="user's own run") as outer:
            with track_run("inside", kind="extraction") as inner:
                inner.log_metrics({"memories": 3})
    finally:
        mlflow.set_tracking_uri(None)
    run = mlflow_client(tracking_uri).get_run(inner.run_id)
    assert run.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert run.data.metrics["memories"] == 3


def test_tracking_reaches_no_private_name_of_mlflow_or_of_another_module():
    import ast
    from pathlib import Path

    from engram import tracking

    for path in Path(tracking.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                assert not (parts[0] == "mlflow" and any(p.startswith("_") for p in parts)), (path, node.module)
                if node.module.startswith("engram.") and not node.module.startswith("engram.tracking"):
                    assert not any(a.name.startswith("_") for a in node.names), (path, node.module)
                if node.module.startswith("engram.tracking."):  # sibling modules: public names only
                    assert not any(a.name.startswith("_") for a in node.names), (path, node.module)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                assert node.attr != "_tracking_uri", path


def test_a_user_mlflow_tracking_uri_variable_survives_a_run(tracking_uri, tmp_path, monkeypatch):
    import mlflow

    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mine)
    with track_run("r", tracking_uri=tracking_uri):
        assert mlflow.get_tracking_uri() == tracking_uri
    assert os.environ["MLFLOW_TRACKING_URI"] == mine and mlflow.get_tracking_uri() == mine
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mine + "2")  # still read from the variable, not frozen
    assert mlflow.get_tracking_uri() == mine + "2"


def test_a_resumed_run_adds_no_duplicate_metrics_or_params(tracking_uri):
    with track_run("job", params={"steps": 3}, tracking_uri=tracking_uri) as run:
        run.log_metrics({"score_after": 0.8, "round_score": 1.0}, step=2)
    with track_run("job", params={"steps": 3}, tracking_uri=tracking_uri, run_id=run.run_id) as again:
        again.log_metrics({"score_after": 0.8, "round_score": 1.0}, step=2)
        again.log_metrics({"round_score": 1.0}, step=3)  # a new step is still logged
    client = mlflow_client(tracking_uri)
    assert again.run_id == run.run_id
    assert [m.step for m in client.get_metric_history(run.run_id, "round_score")] == [2, 3]
    assert len(client.get_metric_history(run.run_id, "score_after")) == 1
    assert client.get_run(run.run_id).info.status == "FINISHED"


def test_a_run_records_each_lm_and_whether_it_is_a_stand_in(tracking_uri):
    import engram

    engram.configure(lm="offline/support", judge_lm="openai/gpt-4o-mini")
    try:
        with track_run("job", tracking_uri=tracking_uri) as run:
            run.log_lms({"task": "offline/support"}, used=Usage(by_model={"offline/support": {"calls": 3}}))
    finally:
        engram.configure(lm=None, judge_lm=None)
    data = mlflow_client(tracking_uri).get_run(run.run_id).data
    assert data.params["lm.task"] == "offline/support" and data.params["lm.judge"] == "openai/gpt-4o-mini"
    assert data.params["lm.reflection"] == "offline/support"  # falls back to the task LM
    assert data.params["lm.models_used"] == "offline/support"
    assert data.tags["engram.lm.task.stand_in"] == "true" and data.tags["engram.lm.judge.stand_in"] == "false"
    assert data.tags["engram.stand_in"] == "true"
