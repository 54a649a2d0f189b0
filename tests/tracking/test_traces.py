"""MLflow traces with feedback assessments become a TrajectoryDataset."""

from __future__ import annotations

import pytest

from engram.errors import NotFoundError
from engram.prompts import Prompt
from engram.tracking._traces import tag_current_trace, traces_to_dataset


@pytest.fixture
def production_traces(tracking_uri):
    """Three traced requests the way an app would log them, two with feedback."""
    import mlflow
    from mlflow.entities import AssessmentSource

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment("production-chat")
    prompt = Prompt(name="support", template="You help {company}.", version="2")

    @mlflow.trace
    def chat(messages, user, thread):
        tag_current_trace(prompt, user=user, thread=thread)
        return {"choices": [{"message": {"role": "assistant", "content": f"Answer to {messages[-1]['content']}"}}]}

    @mlflow.trace
    def ask(question):
        return "Plain answer."

    ids = []
    for i, (user, thread) in enumerate([("u1", "s1"), ("u2", "s2")]):
        chat([{"role": "system", "content": "You help Acme."}, {"role": "user", "content": f"question {i}"}],
             user, thread)
        mlflow.flush_trace_async_logging()
        ids.append(mlflow.get_last_active_trace_id())
    ask(question="no feedback here")
    mlflow.flush_trace_async_logging()
    human = AssessmentSource(source_type="HUMAN", source_id="u1")
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge-lm")
    mlflow.log_feedback(trace_id=ids[0], name="thumbs", value=False, rationale="too terse", source=human)
    mlflow.log_feedback(trace_id=ids[0], name="helpfulness", value=0.9, source=judge)
    mlflow.log_feedback(trace_id=ids[1], name="helpfulness", value=0.75, rationale="fine", source=judge)
    yield {"ids": ids, "experiment": experiment}
    mlflow.set_tracking_uri(None)
    mlflow.tracking.fluent._active_experiment_id = None  # leave no global MLflow state behind


def test_traces_with_feedback_become_trajectories(production_traces):
    dataset = traces_to_dataset("production-chat")
    assert len(dataset) == 2                                  # the trace without feedback is left out
    by_id = {t.id: t for t in dataset}
    first = by_id[production_traces["ids"][0]]
    assert [(m.role, m.content) for m in first.messages] == [
        ("system", "You help Acme."), ("user", "question 0"), ("assistant", "Answer to question 0")]
    # The human's thumbs-down wins over the judge's score; both are kept.
    assert (first.feedback.score, first.feedback.label, first.feedback.comment) == (0.0, "thumbs_down", "too terse")
    assert first.feedback.source == "user"
    assert first.feedback.extra["assessments"] == {"thumbs": False, "helpfulness": 0.9}
    assert (first.user, first.thread, first.prompt_name, first.prompt_version) == ("u1", "s1", "support", "2")
    second = by_id[production_traces["ids"][1]]
    assert (second.feedback.score, second.feedback.source, second.feedback.comment) == (0.75, "judge", "fine")


def test_choose_the_assessment_by_name(production_traces):
    dataset = traces_to_dataset("production-chat", feedback_name="helpfulness")
    assert sorted(t.score for t in dataset) == [0.75, 0.9]


def test_include_traces_without_feedback(production_traces):
    dataset = traces_to_dataset("production-chat", with_feedback_only=False)
    assert len(dataset) == 3
    plain = next(t for t in dataset if t.feedback is None)
    assert [(m.role, m.content) for m in plain.messages] == [("user", "no feedback here"),
                                                             ("assistant", "Plain answer.")]


def test_the_dataset_feeds_the_optimizer_loop(production_traces, tmp_path):
    dataset = traces_to_dataset("production-chat")
    train, val = dataset.split(val_fraction=0.5, seed=0)   # users never straddle the split
    assert {t.user for t in train}.isdisjoint({t.user for t in val})
    path = dataset.save(tmp_path / "from_traces.jsonl")
    from engram.trajectories import TrajectoryDataset

    assert TrajectoryDataset.load(path).fingerprint == dataset.fingerprint


def test_unknown_experiment_lists_the_known_ones(production_traces):
    with pytest.raises(NotFoundError, match="No MLflow experiment 'nope'.*production-chat"):
        traces_to_dataset("nope")


def test_the_whole_loop_traces_to_production(production_traces, tracking_uri, tmp_path):
    """production traces -> trajectories -> (an optimizer's result) -> run + register -> promote -> load."""
    from engram.lm import Usage
    from engram.optimizers._result import OptimizationResult
    from engram.tracking._loader import load_prompt
    from engram.tracking._registry import PromptRegistry, register_result
    from engram.tracking._runs import log_optimization, track_run

    registry = PromptRegistry(tracking_uri)
    registry.register("support", "You help {company}.", "seed")
    registry.promote("support", 1, "production")
    dataset = traces_to_dataset("production-chat")
    original = load_prompt("support@production", fallback_dir=tmp_path)
    # Stand-in for an optimizer's output (the optimizers are tested on their own).
    result = OptimizationResult(prompt=original.with_template("You help {company}. Explain each step."),
                                original=original, optimizer="gradient", critiques=["too terse"],
                                score_before=0.375, score_after=0.8, accepted=True, usage=Usage(calls=4))
    with track_run("from-production", kind="optimization") as run:
        log_optimization(result, dataset=dataset)
        version = register_result(result, dataset=dataset)
    registry.promote("support", version.version, "production")
    served = load_prompt("support@production", fallback_dir=tmp_path, refresh=True)
    assert served.template == "You help {company}. Explain each step." and served.version == "2"
    tags = registry.load("support/2").tags
    assert tags["dataset_hash"] == dataset.fingerprint and tags["mlflow_run_id"] == run.run_id
    assert tags["parent_version"] == "1"
