"""engram's optimizers as the optimizer of mlflow.genai.optimize_prompts (offline stand-in LM, simulated users)."""

from __future__ import annotations

import pytest
from mlflow.genai.optimize.types import EvaluationResultRecord

from engram.errors import EngramError
from engram.tracking import EngramPromptOptimizer


def _world_eval():
    from engram.testing import TOPICS, World

    world = World(seed=0)
    rows = [{"inputs": {"message": u.message(TOPICS[(u.index + j) % len(TOPICS)], variant=j)},
             "outputs": "", "user": u} for u in world.users() for j in range(2)]

    def eval_fn(prompts: dict[str, str], data: list[dict]) -> list[EvaluationResultRecord]:
        records = []
        for row in data:
            user = row["user"]  # the simulated user behind the row (the simulation's score, not an LM's)
            response = world.respond(prompts["support"], row["inputs"]["message"])
            records.append(EvaluationResultRecord(
                inputs=row["inputs"], outputs=response, expectations=None, trace=None,
                score=world.satisfaction(user, response), rationales={"user": world.comment(user, response)}))
        return records

    return world, rows, eval_fn


@pytest.mark.parametrize("kind", ["gradient", "metaprompt", "tally"])
def test_an_engram_optimizer_improves_a_prompt_through_mlflow_genai_contract(kind):
    from engram.testing import SEED_PROMPT

    _, rows, eval_fn = _world_eval()
    out = EngramPromptOptimizer(kind, lm="offline/support").optimize(eval_fn, rows, {"support": SEED_PROMPT})
    assert out.final_eval_score >= out.initial_eval_score
    assert out.final_eval_score > out.initial_eval_score + 0.05, (out.initial_eval_score, out.final_eval_score)
    assert out.optimized_prompts["support"] != SEED_PROMPT


def test_unknown_kind_and_no_data_are_engram_errors():
    with pytest.raises(EngramError, match="choose one of"):
        EngramPromptOptimizer("gepa-ish")
    with pytest.raises(EngramError, match="train_data"):
        EngramPromptOptimizer("gradient", lm="offline/support").optimize(lambda p, d: [], [], {"support": "x"})


def test_mlflow_genai_optimize_prompts_runs_an_engram_optimizer(tracking_uri):
    import mlflow
    from mlflow.entities import Feedback
    from mlflow.genai.scorers import scorer

    from engram.testing import SEED_PROMPT, TOPICS, World

    world = World(seed=0)
    users = {u.id: u for u in world.users()}
    rows = [{"inputs": {"message": u.message(TOPICS[(u.index + j) % len(TOPICS)], variant=j), "user": u.id},
             "outputs": ""} for u in world.users() for j in range(2)]

    def predict(message: str, user: str) -> str:
        return world.respond(mlflow.genai.load_prompt("prompts:/support/1").format(), message)

    @scorer
    def satisfaction(inputs, outputs):  # the simulated user's score and comment (a simulation)
        user = users[inputs["user"]]
        return Feedback(value=world.satisfaction(user, outputs), rationale=world.comment(user, outputs))

    mlflow.set_tracking_uri(tracking_uri)
    try:
        version = mlflow.genai.register_prompt("support", SEED_PROMPT)
        result = mlflow.genai.optimize_prompts(
            predict_fn=predict, train_data=rows, prompt_uris=[version.uri], scorers=[satisfaction],
            optimizer=EngramPromptOptimizer("gradient", lm="offline/support"))
    finally:
        mlflow.set_tracking_uri(None)
    assert result.final_eval_score > result.initial_eval_score
    assert result.optimized_prompts[0].version == 2  # registered by MLflow as a new version
    assert "numbered steps" in result.optimized_prompts[0].template
