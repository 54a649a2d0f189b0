"""engram.autolog(): direct library calls become MLflow runs (offline, scripted LMs, a private SQLite store)."""

from __future__ import annotations

import logging
import socket

import mlflow
import pytest
from mlflow import MlflowClient

import engram
from engram import events
from engram.modules._compile import compile_extractor
from engram.modules._manager import MemoryManager
from engram.optimizers._gate import CandidateGate
from engram.optimizers._gradient import GradientOptimizer
from engram.optimizers._multi_prompt import MultiPromptOptimizer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm
from engram.tracking._autolog import is_enabled
from tests.modules.conftest import WordHashEmbedder
from tests.modules.test_manager import _dataset, _fact_lm
from tests.modules.test_metrics_compile import _generic, _train
from tests.optimizers.conftest import APPLY, CRITIQUE, convo, critique

PROMPT = Prompt(name="support", template="You help {company} customers.")


@pytest.fixture
def trajectories():
    return [convo("How do I reset my password?", "Well, there are many ways to think about this... " * 5,
                  0.0, "too long", user="u1"),
            convo("Where is my invoice?", "It is under Billing.", 1.0, "good", user="u2"),
            convo("Cancel my plan", "Sure! " * 30, 0.2, "way too long", user="u3")]


@pytest.fixture
def autolog_on(tracking_uri):
    engram.autolog()
    yield tracking_uri
    engram.autolog(disable=True)


def _runs(uri: str, experiment: str = "engram") -> list:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def _artifact(uri: str, run_id: str, path: str) -> str:
    with open(MlflowClient(uri).download_artifacts(run_id, path)) as f:
        return f.read()


def _gradient():
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]), APPLY: {"improved_prompt": "You help {company} customers. Be brief."}})
    task = scripted_lm(lambda call: {"response": "Short." if "brief" in call.inputs["system_prompt"]
                                     else "A long and winding answer " * 5})
    gate = CandidateGate(task, metric=lambda t, replayed, p: 1.0 / (1 + len(replayed[-1].content) / 50))
    return GradientOptimizer(lm, gate=gate, max_reflection_steps=2)


def test_gradient_optimization_is_one_finished_run(autolog_on, trajectories):
    result = _gradient()(trajectories, PROMPT, validation=trajectories[:2])
    assert result.accepted
    (run,) = _runs(autolog_on)
    assert run.info.status == "FINISHED" and run.info.run_name == "gradient:support"
    assert run.data.tags["engram.kind"] == "optimization" and run.data.tags["engram.autolog"] == "true"
    params, metrics = run.data.params, run.data.metrics
    assert params["optimizer"] == "gradient" and params["max_reflection_steps"] == "2"
    assert params["gate"] == "CandidateGate" and params["dataset_size"] == "3"
    assert metrics["score_after"] > metrics["score_before"] and metrics["accepted"] == 1.0
    assert metrics["lm_calls"] == result.usage.calls > 0
    assert "Be brief." in _artifact(autolog_on, run.info.run_id, "prompt_diff.diff")
    # the run says which models answered, and that they were offline stand-ins
    assert params["lm.models_used"].startswith("offline/") and run.data.tags["engram.stand_in"] == "true"
    assert {"lm.task", "lm.reflection", "lm.judge"} <= set(params)
    assert "reset my password" in _artifact(autolog_on, run.info.run_id, "trajectories_sample.jsonl")
    # MLflow's global URI is the user's again afterwards
    assert mlflow.get_tracking_uri() != autolog_on


def test_process_is_one_extraction_run(autolog_on):
    store = engram.MemoryStore.in_memory(embedder=WordHashEmbedder())
    report = MemoryManager(store, ("memories", "{user_id}"), lm=_fact_lm()).process(_dataset(), progress=False)
    assert report.applied == 9
    (run,) = _runs(autolog_on)
    assert run.data.tags["engram.kind"] == "extraction" and run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert (metrics["applied"], metrics["skipped"], metrics["failed"]) == (9, 0, 0)
    assert metrics["memories_written"] == 9 and metrics["lm_calls"] == 9
    assert run.data.params["namespace"] == "memories/{user_id}"


def test_compile_extractor_is_one_compile_run_with_the_program(autolog_on):
    from engram.modules._metrics import MemoryF1

    metric = MemoryF1(threshold=0.6, embedder=WordHashEmbedder())
    compile_extractor(_train(), optimizer="bootstrap", metric=metric, lm=scripted_lm(_generic),
                      max_bootstrapped_demos=2)
    (run,) = _runs(autolog_on)
    assert run.data.tags["engram.kind"] == "compile" and run.info.run_name == "compile:extractor:bootstrap"
    assert run.data.params["optimizer"] == "bootstrap" and run.data.params["train_size"] == "5"
    assert run.data.metrics["lm_calls"] > 0
    assert "demos" in _artifact(autolog_on, run.info.run_id, "program/state.json")


def test_runs_nest_under_the_callers_active_run(autolog_on, trajectories):
    mine = MlflowClient(autolog_on).create_experiment("mine")
    mlflow.set_tracking_uri(autolog_on)
    try:
        with mlflow.start_run(run_name="notebook", experiment_id=mine) as parent:
            _gradient()(trajectories, PROMPT)
    finally:
        mlflow.set_tracking_uri(None)
    runs = {r.info.run_name: r for r in _runs(autolog_on, "mine")}
    assert set(runs) == {"notebook", "gradient:support"}
    assert runs["gradient:support"].data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_multi_prompt_is_a_parent_run_with_nested_optimizations(autolog_on, trajectories):
    lm = scripted_lm(lambda call: {"prompt_names": ["router", "writer"]} if "prompt_names" in call.signature_key
                     else {"updated_prompt": call.inputs["prompt"] + " Be brief."})
    router = Prompt(name="router", template="Route the {question} to a team.")
    writer = Prompt(name="writer", template="Answer the customer.")
    result = MultiPromptOptimizer(lm, kind="prompt_memory", max_workers=2)(trajectories, [router, writer])
    assert sorted(result.updated) == ["router", "writer"]
    runs = {r.info.run_name: r for r in _runs(autolog_on)}
    assert set(runs) == {"multi_prompt:router+writer", "prompt_memory:router", "prompt_memory:writer"}
    parent = runs["multi_prompt:router+writer"]
    assert parent.data.metrics["updated"] == 2
    for name in ("prompt_memory:router", "prompt_memory:writer"):
        assert runs[name].data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert runs[name].info.status == "FINISHED"


def test_nothing_is_written_when_off_or_disabled(tracking_uri, trajectories):
    assert not is_enabled() and not events.listeners()
    _gradient()(trajectories, PROMPT)
    assert _runs(tracking_uri) == []
    engram.autolog()
    engram.autolog()  # idempotent: still one listener
    assert len(events.listeners()) == 1
    engram.autolog(disable=True)
    assert not is_enabled() and not events.listeners()
    _gradient()(trajectories, PROMPT)
    assert _runs(tracking_uri) == []


def test_an_unreachable_store_warns_and_the_result_is_intact(tracking_uri, trajectories, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    engram.autolog(tracking_uri=f"http://127.0.0.1:{port}")
    try:
        with caplog.at_level(logging.WARNING, logger="engram.events"):
            result = _gradient()(trajectories, PROMPT)
    finally:
        engram.autolog(disable=True)
    assert result.accepted and result.prompt.template.endswith("Be brief.") and not result.errors
    assert any("listener" in r.message and "gradient:support" in r.message for r in caplog.records)
    assert mlflow.active_run() is None


def test_a_failing_optimization_ends_its_run_failed_and_raises(autolog_on):
    from engram.errors import ConfigurationError

    engram.configure(reflection_lm=None, lm=None)
    with pytest.raises(ConfigurationError):
        GradientOptimizer()([convo("hi", "hello", 0.0, "rude")], PROMPT)
    (run,) = _runs(autolog_on)
    assert run.info.status == "FAILED" and "ConfigurationError" in run.data.tags["engram.error"]


def test_compile_judge_and_feedback_teleprompter_are_compile_runs(autolog_on):
    import dspy

    from engram.optimizers._feedback_teleprompter import FeedbackTeleprompter
    from engram.optimizers._judge import FeedbackJudge, compile_judge
    from engram.testing._world import SEED_PROMPT, World

    world = World(seed=0)
    report = compile_judge(world.simulate(SEED_PROMPT, world.users(6)), prompt=SEED_PROMPT, lm=world.lm(),
                           max_bootstrapped_demos=1)
    program = dspy.Predict(dspy.Signature("conversation -> response", SEED_PROMPT))
    tp = FeedbackTeleprompter("bootstrap", judge=FeedbackJudge(world.lm()), max_bootstrapped_demos=1,
                              max_labeled_demos=1)
    with dspy.context(lm=world.lm()):
        tp.compile(program, trainset=world.simulate(world.oracle_prompt(), world.users(3), system_message=False))
    runs = {r.info.run_name: r for r in _runs(autolog_on)}
    judge, feedback = runs["compile:judge"], runs["compile:feedback:bootstrap"]
    assert set(runs) == {"compile:judge", "compile:feedback:bootstrap"}
    assert judge.data.tags["engram.kind"] == feedback.data.tags["engram.kind"] == "compile"
    assert judge.data.metrics["score_after"] == pytest.approx(report.agreement_val)
    assert "score_before" in judge.data.metrics and judge.data.params["program"] == "FeedbackJudge"
    assert feedback.data.params["route"] == "bootstrap" and feedback.data.params["train_size"] == "3"
    for run in (judge, feedback):
        assert run.info.status == "FINISHED"
        assert "demos" in _artifact(autolog_on, run.info.run_id, "program/state.json")


def test_dspy_autolog_traces_land_in_the_engram_run(autolog_on, trajectories):
    engram.autolog(dspy=True)
    try:
        _gradient()(trajectories, PROMPT)
        mlflow.flush_trace_async_logging()
    finally:
        engram.autolog(disable=True)
    (run,) = _runs(autolog_on)
    mlflow.set_tracking_uri(autolog_on)
    try:
        traces = mlflow.search_traces(locations=[run.info.experiment_id], return_type="list")
    finally:
        mlflow.set_tracking_uri(None)
    assert traces and {t.info.request_metadata.get("mlflow.sourceRun") for t in traces} == {run.info.run_id}


def test_async_calls_are_recorded_too(autolog_on, trajectories):
    import asyncio

    store = engram.MemoryStore.in_memory(embedder=WordHashEmbedder())
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=_fact_lm())
    asyncio.run(manager.aprocess(_dataset(), concurrency=2, progress=False))
    result = asyncio.run(_gradient().acall(trajectories, PROMPT))
    assert result.accepted
    runs = {r.info.run_name: r for r in _runs(autolog_on)}
    assert set(runs) == {"extraction:memories/{user_id}", "gradient:support"}
    assert runs["extraction:memories/{user_id}"].data.metrics["memories_written"] == 9
    assert all(r.info.status == "FINISHED" for r in runs.values())
