"""End to end against a real `mlflow server`: a 20 % canary, simulated traffic, `compare --auto`.

Traffic comes from the offline world (a simulation, not real users): each simulated user has
hidden preferences, the served prompt decides which the answer meets, and the user's
satisfaction is logged as MLflow feedback on the request's trace. The candidates differ in
the traits they ask for, so each is truly better for some users and worse for others; the
world's own ``satisfaction`` gives the true mean gain the decision should agree with.
"""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from engram.tracking import _loader as loader
from engram.tracking import canary_status, load_prompt, start_canary
from engram.tracking._cli import app
from engram.tracking._registry import PromptRegistry

BATCH_PER_USER = 4
BUDGET_PER_USER = 12


@pytest.fixture(autouse=True)
def _empty_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def _world():
    from engram.testing import SEED_PROMPT, TRAITS, World

    world = World(seed=0, population=24)
    instruction = {t.name: t.instruction for t in TRAITS}
    return world, lambda traits: SEED_PROMPT + " " + " ".join(instruction[t] for t in traits)


def _true_gain(world, control: str, candidate: str) -> float:
    from engram.testing import TOPICS

    users = world.users()
    def mean(prompt):
        return sum(world.satisfaction(u, world.respond(prompt, u.message(t))) for u in users for t in TOPICS[:3]) \
            / (len(users) * 3)
    return mean(candidate) - mean(control)


def _traffic(world, name: str, url: str, experiment: str, start: int, per_user: int, tmp_path) -> None:
    import mlflow
    from mlflow.entities import AssessmentSource

    from engram.testing import TOPICS

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(experiment)
    scored = []
    for j in range(start, start + per_user):
        for user in world.users():
            message = user.message(TOPICS[(user.index + j) % len(TOPICS)], variant=j)
            with mlflow.start_span("chat") as span:
                prompt = load_prompt(f"{name}@production", canary=f"{name}@candidate", fraction=0.2,
                                     key=f"{user.id}/session-{j}", tracking_uri=url, fallback_dir=tmp_path)
                mlflow.update_current_trace(metadata={"mlflow.trace.user": user.id})
                response = world.respond(prompt.template, message)
                span.set_inputs({"messages": [{"role": "user", "content": message}]})
                span.set_outputs(response)
            scored.append((span.trace_id, user, world.satisfaction(user, response)))  # the simulated user's score
    mlflow.flush_trace_async_logging()  # the traces exist before their feedback is attached
    for trace_id, user, score in scored:
        mlflow.log_feedback(trace_id=trace_id, name="satisfaction", value=score,
                            source=AssessmentSource(source_type="HUMAN", source_id=user.id))
    # MLflow links each trace to its prompt version in a thread of its own, against the
    # tracking URI current when it runs: wait for them while that is still the server's, or a
    # late one reaches the default store (and migrates a new ./mlflow.db) after the test.
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompts_from_exporter"):
            thread.join(timeout=60)


BASE = ("concise", "apology")
STRONG = ("concise", "numbered_steps", "ticket", "docs_link")


# Each candidate is better for some simulated users and worse for others (true mean gains
# +0.358, -0.358 and -0.007 by the world's own satisfaction). Names are fixed, so the hashed
# assignment, the traffic and the bootstrap are the same on every run.
@pytest.mark.parametrize("control_traits,candidate_traits,expected", [
    (BASE, STRONG, "promote"),
    (STRONG, BASE, "rollback"),
    (BASE, ("apology", "ticket"), "undecided"),
])
def test_canary_compare_auto_promotes_rolls_back_or_stops_undecided(mlflow_server, tmp_path, control_traits,
                                                                    candidate_traits, expected, capsys):
    import mlflow

    world, prompt_with = _world()
    control, candidate = prompt_with(control_traits), prompt_with(candidate_traits)
    gain = _true_gain(world, control, candidate)
    name, experiment = f"support-{expected}", f"traffic-{expected}"
    registry = PromptRegistry(mlflow_server)
    registry.register(name, control, "control")
    registry.register(name, candidate, "candidate")
    registry.promote(name, 1, "production")
    start_canary(name, 2, fraction=0.2, experiment=experiment, tracking_uri=mlflow_server)
    runner = CliRunner()
    budget = BUDGET_PER_USER * len(world.users())
    outputs = []
    try:
        for batch in range(0, BUDGET_PER_USER, BATCH_PER_USER):
            _traffic(world, name, mlflow_server, experiment, batch, BATCH_PER_USER, tmp_path)
            result = runner.invoke(app, ["compare", name, "--auto", "--min-samples", "10", "--budget",
                                         str(budget), "--tracking-uri", mlflow_server])
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
            if canary_status(name, tracking_uri=mlflow_server) is None:
                break
    finally:
        mlflow.set_tracking_uri(None)
    with capsys.disabled():
        print(f"\n--- true gain {gain:+.3f} (simulation) ---\n{outputs[-1]}")
    assert f"decision: {expected} (applied)" in outputs[-1]
    assert canary_status(name, tracking_uri=mlflow_server) is None  # the canary ended
    assert "candidate" not in registry.aliases(name)
    assert registry.aliases(name)["production"] == (2 if expected == "promote" else 1)
    if expected == "promote":
        assert gain > 0
    elif expected == "rollback":
        assert gain < 0
    # every compare was recorded as an MLflow run
    runs = mlflow.MlflowClient(mlflow_server).search_runs(
        [mlflow.MlflowClient(mlflow_server).get_experiment_by_name("engram-canary").experiment_id],
        filter_string=f"tags.`engram.decision` = '{expected}'")
    assert any(r.data.params.get("name") == name for r in runs)
