"""Canary assignment and trace linking (MLflow's own trace search finds the links)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from engram.errors import EngramError
from engram.tracking import _loader as loader
from engram.tracking import in_canary, load_prompt
from engram.tracking._registry import PromptRegistry


@pytest.fixture(autouse=True)
def _empty_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def test_assignment_is_within_two_points_of_the_fraction_and_stable_across_processes():
    keys = [f"user-{i}" for i in range(10_000)]
    for fraction in (0.05, 0.2, 0.5):
        share = sum(in_canary(k, fraction, salt="support@candidate") for k in keys) / len(keys)
        assert abs(share - fraction) <= 0.02, (fraction, share)
    here = [k for k in keys[:2000] if in_canary(k, 0.2, salt="support@candidate")]
    code = ("import json; from engram.tracking import in_canary; "
            "print(json.dumps([f'user-{i}' for i in range(2000) if in_canary(f'user-{i}', 0.2, "
            "salt='support@candidate')]))")
    for seed in ("1", "2"):  # a different hash seed per process: the assignment must not change
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, "PYTHONHASHSEED": seed})
        assert json.loads(out.stdout) == here
    # raising the fraction only moves keys into the candidate
    assert set(here) <= {k for k in keys[:2000] if in_canary(k, 0.3, salt="support@candidate")}


def test_load_prompt_serves_the_candidate_to_the_canary_keys(tracking_uri, tmp_path):
    registry = PromptRegistry(tracking_uri)
    registry.register("support", "One {company}.")
    registry.register("support", "Two {company}.")
    registry.promote("support", 1, "production")
    registry.promote("support", 2, "candidate")
    served = {k: load_prompt("support@production", canary="support@candidate", fraction=0.3, key=k,
                             fallback_dir=tmp_path) for k in (f"u{i}" for i in range(200))}
    for key, prompt in served.items():
        expected = "candidate" if in_canary(key, 0.3, salt="support@candidate") else "control"
        assert prompt.metadata["canary"]["arm"] == expected
        assert prompt.version == ("2" if expected == "candidate" else "1")
    with pytest.raises(EngramError, match="key="):
        load_prompt("support@production", canary="support@candidate", fraction=0.3)
    with pytest.raises(EngramError, match="fraction"):
        load_prompt("support@production", canary="support@candidate", fraction=1.5, key="u1")


def _wait_for_traces(mlflow, filter_string: str, n: int, experiment_id: str):
    deadline = time.monotonic() + 60
    while True:
        found = mlflow.search_traces(locations=[experiment_id], filter_string=filter_string,
                                     return_type="list")
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_loading_inside_a_trace_links_the_version_from_registry_cache_and_fallback(tracking_uri, tmp_path):
    import mlflow

    from engram.tracking import traces_to_dataset

    registry = PromptRegistry(tracking_uri)
    registry.register("support", "You help {company} customers.")
    registry.promote("support", 1, "production")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        experiment_id = mlflow.set_experiment("linking").experiment_id
        sources = []
        for step in range(3):
            if step == 2:  # MLflow "down" for the loader: the fallback file serves
                loader.clear_cache()
                uri = "http://127.0.0.1:9"
            else:
                uri = None
            with mlflow.start_span("chat") as span:
                span.set_inputs({"messages": [{"role": "user", "content": f"question {step}"}]})
                prompt = load_prompt("support@production", tracking_uri=uri, fallback_dir=tmp_path)
                sources.append(prompt.metadata["source"])
                span.set_outputs("an answer")
            mlflow.flush_trace_async_logging()
            mlflow.log_feedback(trace_id=span.trace_id, name="thumbs", value=True)
        assert sources == ["registry", "cache", "fallback"]
        linked = _wait_for_traces(mlflow, 'prompt = "support/1"', 3, experiment_id)
        assert len(linked) == 3  # MLflow's own trace search sees the link, from every source
        assert sorted(t.info.tags["engram.prompt_source"] for t in linked) == ["cache", "fallback", "registry"]
        assert all(json.loads(t.info.tags["mlflow.linkedPrompts"]) == [{"name": "support", "version": "1"}]
                   for t in linked)
        dataset = traces_to_dataset("linking", tracking_uri=tracking_uri, prompt="support/1")
        assert len(dataset) == 3 and {t.prompt_version for t in dataset} == {"1"}
        assert {t.metadata["prompt_source"] for t in dataset} == {"registry", "cache", "fallback"}
    finally:
        mlflow.set_tracking_uri(None)
