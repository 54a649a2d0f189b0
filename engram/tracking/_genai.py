"""engram's optimizers inside ``mlflow.genai.optimize_prompts``.

MLflow 3.17's ``optimize_prompts(optimizer=...)`` takes any
``mlflow.genai.optimize.BasePromptOptimizer``: an object with
``optimize(eval_fn, train_data, target_prompts, enable_tracking)``. This adapter runs one of
engram's feedback optimizers (gradient, metaprompt, prompt_memory) there: each candidate is
scored by MLflow's ``eval_fn`` (your predict function and scorers), and every scored record
becomes a trajectory whose feedback is the score and the scorers' rationales::

    import mlflow
    from engram.tracking import EngramPromptOptimizer

    result = mlflow.genai.optimize_prompts(
        predict_fn=predict, train_data=rows, prompt_uris=["prompts:/support/1"],
        optimizer=EngramPromptOptimizer("gradient", lm="openai/gpt-4o-mini"), scorers=[Correctness()])
    result.optimized_prompts[0].template
"""

from __future__ import annotations

import json
from typing import Any, get_args

from mlflow.genai.optimize.optimizers import BasePromptOptimizer
from mlflow.genai.optimize.types import PromptOptimizerOutput

from engram.errors import ValidationError
from engram.optimizers import OptimizerKind
from engram.prompts import Prompt
from engram.trajectories import Feedback, Message, Trajectory, TrajectoryDataset

KINDS: tuple[str, ...] = get_args(OptimizerKind)  # every create_prompt_optimizer kind, "tally" included


def records_to_dataset(records: list[Any], prompt_name: str) -> TrajectoryDataset:
    """MLflow ``EvaluationResultRecord``s as trajectories: inputs -> user, outputs -> assistant."""
    trajectories = []
    for i, record in enumerate(records):
        inputs = record.inputs if isinstance(record.inputs, dict) else {"input": record.inputs}
        text_in = next(iter(inputs.values())) if len(inputs) == 1 and isinstance(next(iter(inputs.values())), str) \
            else json.dumps(inputs, ensure_ascii=False, default=str)
        text_out = record.outputs if isinstance(record.outputs, str) else json.dumps(record.outputs, default=str)
        score = record.score
        comment = "; ".join(f"{k}: {v}" for k, v in (record.rationales or {}).items() if v) or None
        feedback = Feedback(score=float(score) if score is not None and 0.0 <= score <= 1.0 else None,
                            comment=comment or (f"score {score}" if score is not None else None), source="metric",
                            extra={"individual_scores": dict(record.individual_scores or {}),
                                   "expectations": record.expectations})
        trajectories.append(Trajectory(id=f"mlflow-eval-{i}", prompt_name=prompt_name,
                                       messages=[Message(role="user", content=text_in or "(empty)"),
                                                 Message(role="assistant", content=text_out or "(empty)")],
                                       feedback=feedback))
    return TrajectoryDataset(trajectories, name=f"mlflow-eval:{prompt_name}")


def _mean(records: list[Any]) -> float | None:
    scores = [r.score for r in records if r.score is not None]
    return sum(scores) / len(scores) if scores else None


class EngramPromptOptimizer(BasePromptOptimizer):
    """An engram optimizer (``kind``) as the ``optimizer`` of ``mlflow.genai.optimize_prompts``.

    ``lm`` and ``config`` are passed to :func:`engram.optimizers.create_prompt_optimizer`.
    A candidate replaces a prompt only if ``eval_fn`` scores it at least as high as before.
    """

    def __init__(self, kind: OptimizerKind = "gradient", *, lm: Any = None, config: dict[str, Any] | None = None):
        if kind not in KINDS:
            raise ValidationError(f"Unknown engram optimizer {kind!r}; choose one of {', '.join(KINDS)}.")
        self.kind, self.lm, self.config = kind, lm, dict(config or {})

    def optimize(self, eval_fn: Any, train_data: list[dict[str, Any]], target_prompts: dict[str, str],
                 enable_tracking: bool = True) -> PromptOptimizerOutput:
        from engram.optimizers import create_prompt_optimizer

        if not train_data:
            raise ValidationError("engram's optimizers learn from scored examples; pass train_data and scorers.")
        current = dict(target_prompts)
        before = eval_fn(current, train_data)
        optimized = dict(current)
        for name, template in target_prompts.items():
            optimizer = create_prompt_optimizer(self.lm, kind=self.kind, config=self.config)
            result = optimizer(records_to_dataset(before, name), Prompt(name=name, template=template))
            if result.prompt.template != template and isinstance(result.prompt.template, str):
                optimized[name] = result.prompt.template
        after = eval_fn(optimized, train_data) if optimized != current else before
        initial, final = _mean(before), _mean(after)
        if initial is not None and final is not None and final < initial:
            optimized, final = current, initial  # never hand back a prompt that scored worse
        return PromptOptimizerOutput(optimized_prompts=optimized, initial_eval_score=initial,
                                     final_eval_score=final)
